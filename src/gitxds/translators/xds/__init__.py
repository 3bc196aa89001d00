"""gitxds.translators.xds."""
