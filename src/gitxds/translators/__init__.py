"""gitxds.translators."""
