"""gitxds.config."""
