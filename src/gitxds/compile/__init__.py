"""gitxds.compile."""
