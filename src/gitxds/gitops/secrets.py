"""The secret store: a directory outside the config repository, one file per secret.

Values are read when a config is built and handed to the translator; they never reach a log line,
the status page, a rendered file or an error message (``redact`` scrubs them from any text).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gitxds.errors import UsageError

REDACTED = "<redacted>"


class SecretStore:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._values: dict[str, str] = {}

    @staticmethod
    def check_outside(directory: Path, config_dir: Path) -> None:
        """Refuse a secrets dir inside the config repository: Git is no place for secrets."""
        secrets = directory.resolve()
        config = config_dir.resolve()
        if secrets == config or config in secrets.parents:
            raise UsageError(f"--secrets-dir {directory} is inside the config directory {config_dir}")

    def load(self) -> Mapping[str, str]:
        """Read every regular, non-hidden file; a value's trailing newline is dropped."""
        values: dict[str, str] = {}
        if self.directory is not None and self.directory.is_dir():
            for path in sorted(self.directory.iterdir()):
                if path.name.startswith(".") or not path.is_file():
                    continue  # Kubernetes secret volumes keep real files behind ..data links
                values[path.name] = path.read_text().rstrip("\n")
        self._values = values
        return values

    def redact(self, text: str) -> str:
        for value in self._values.values():
            if value:
                text = text.replace(value, REDACTED)
        return text
