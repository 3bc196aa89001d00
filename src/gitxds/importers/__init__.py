"""Importers: other systems' configuration -> gitxds config documents (the YAML users keep in Git)."""
