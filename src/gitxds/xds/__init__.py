"""gitxds.xds."""
