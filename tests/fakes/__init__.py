"""Fakes for services that cannot run in the test environment (each one is named a fake)."""
