"""The secret store's layout (files and TLS folders) and its redaction of values from any text."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitxds.errors import UsageError
from gitxds.gitops.secrets import REDACTED, SecretStore

CERT = "-----BEGIN CERTIFICATE-----\nMIIBcertificatebody\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nMIGHprivatekeybodyAAAA\n-----END PRIVATE KEY-----"


@pytest.fixture
def store(tmp_path: Path) -> SecretStore:
    (tmp_path / "provider-key").write_text("Bearer sk-123456789\n")
    (tmp_path / "multi-line").write_text("first-line-secret\r\nsecond-line-secret\n")
    (tmp_path / "edge-cert").mkdir()
    (tmp_path / "edge-cert" / "tls.crt").write_text(CERT + "\n")
    (tmp_path / "edge-cert" / "tls.key").write_text(KEY + "\n")
    (tmp_path / "..data").mkdir()  # a Kubernetes secret volume's internals
    (tmp_path / "..data" / "provider-key").write_text("hidden\n")
    (tmp_path / "no-cert").mkdir()  # a folder without tls.crt and tls.key is no secret
    secrets = SecretStore(tmp_path)
    secrets.load()
    return secrets


def test_files_and_tls_folders_are_secrets(store: SecretStore) -> None:
    assert sorted(store.values) == ["edge-cert", "multi-line", "provider-key"]
    assert store.values["provider-key"] == "Bearer sk-123456789"
    assert store.values["edge-cert"] == f"{CERT}\n{KEY}\n"  # chain then key, as SDS splits it


@pytest.mark.parametrize(
    "text",
    [
        "header value Bearer sk-123456789 rejected",
        'value: "first-line-secret\\r\\nsecond-line-secret"',  # protobuf text / C escapes
        '{"value": "first-line-secret\\r\\nsecond-line-secret"}',  # JSON
        "line 2 was second-line-secret",
        "key body MIGHprivatekeybodyAAAA in an error",
        f"the whole key: {KEY}",
    ],
)
def test_every_quoted_form_of_a_value_is_redacted(store: SecretStore, text: str) -> None:
    redacted = store.redact(text)
    assert REDACTED in redacted
    for secret in ("sk-123456789", "first-line-secret", "second-line-secret", "privatekeybody"):
        assert secret not in redacted


def test_text_without_secrets_is_unchanged(store: SecretStore) -> None:
    assert store.redact("cluster api has no healthy upstream") == "cluster api has no healthy upstream"


def test_a_secrets_dir_inside_the_config_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config" / "secrets").mkdir(parents=True)
    with pytest.raises(UsageError, match="inside the config directory"):
        SecretStore.check_outside(tmp_path / "config" / "secrets", tmp_path / "config")
    with pytest.raises(UsageError):
        SecretStore.check_outside(tmp_path / "config", tmp_path / "config")
    SecretStore.check_outside(tmp_path / "secrets", tmp_path / "config")  # beside it is fine
