"""gitxds.xds.cache."""
