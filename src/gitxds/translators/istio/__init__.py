"""gitxds.translators.istio."""
