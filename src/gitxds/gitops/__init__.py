"""gitxds.gitops."""
