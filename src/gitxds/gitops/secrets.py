"""The secret store: a directory outside the config repository, one entry per secret.

An entry is a file ``NAME`` (its text, e.g. an upstream credential, or PEM text holding a certificate
chain and its private key) or a folder ``NAME/`` holding ``tls.crt`` and ``tls.key`` (the layout of a
mounted Kubernetes TLS secret). Values are read when a config is built and handed to the translator;
they never reach a log line, the status page, a rendered file or an error message (``redact`` scrubs
them, and each part of a certificate folder, from any text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gitxds.errors import UsageError

REDACTED = "<redacted>"
TLS_CERT = "tls.crt"
TLS_KEY = "tls.key"


# Lines shorter than this are not redacted on their own (they would blank out common words).
MIN_REDACTED_LINE = 8


def _quoted_forms(value: str) -> set[str]:
    """A value as other programs may quote it: whole, escaped (JSON, C / protobuf text) and each line,
    so an error message that prints a config (Envoy does) cannot carry it out."""
    forms = {value, json.dumps(value)[1:-1], value.encode("unicode_escape").decode("ascii")}
    forms.update(line.strip() for line in value.splitlines() if len(line.strip()) >= MIN_REDACTED_LINE)
    return {form for form in forms if form}


@dataclass(frozen=True, slots=True)
class Secrets:
    """The values of one read of the store, and every form of them that ``redact`` scrubs."""

    values: Mapping[str, str] = field(default_factory=dict)
    fragments: tuple[str, ...] = ()  # longest first, so a whole value goes before its parts

    def redact(self, text: str) -> str:
        for value in self.fragments:
            text = text.replace(value, REDACTED)
        return text


class SecretStore:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._latest = Secrets()

    @staticmethod
    def check_outside(directory: Path, config_dir: Path) -> None:
        """Refuse a secrets dir inside the config repository: Git is no place for secrets."""
        secrets = directory.resolve()
        config = config_dir.resolve()
        if secrets == config or config in secrets.parents:
            raise UsageError(f"--secrets-dir {directory} is inside the config directory {config_dir}")

    def load(self) -> Mapping[str, str]:
        """Read every non-hidden entry; a file value's trailing newline is dropped."""
        return self.read().values

    def read(self) -> Secrets:
        """Like :meth:`load`, with the forms to redact of what was read."""
        values: dict[str, str] = {}
        fragments: list[str] = []
        if self.directory is not None and self.directory.is_dir():
            for path in sorted(self.directory.iterdir()):
                if path.name.startswith("."):
                    continue  # Kubernetes secret volumes keep real files behind ..data links
                if path.is_file():
                    values[path.name] = path.read_text().rstrip("\n")
                elif (path / TLS_CERT).is_file() and (path / TLS_KEY).is_file():
                    parts = [(path / name).read_text().strip() for name in (TLS_CERT, TLS_KEY)]
                    values[path.name] = "\n".join(parts) + "\n"
                    fragments += parts
        quoted = {form for value in [*values.values(), *fragments] for form in _quoted_forms(value)}
        self._latest = Secrets(values, tuple(sorted(quoted, key=len, reverse=True)))
        return self._latest

    @property
    def values(self) -> Mapping[str, str]:
        """The values read by the latest ``load``."""
        return self._latest.values

    def redact(self, text: str) -> str:
        """``text`` without any value of the latest read."""
        return self._latest.redact(text)
