"""gitxds.xds.server."""
