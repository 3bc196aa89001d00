"""``gitxds export ratelimit DIR``: the global rate limit service's configuration for DIR."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from gitxds.compile import compile_directory
from gitxds.errors import Severity, UsageError
from gitxds.translators.ratelimit_service import ConflictingLimitsError, ratelimit_service_configs
from gitxds.yamltext import yaml_text

__all__ = ["domain_file_name", "export_ratelimit"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def domain_file_name(domain: str) -> str:
    """``DOMAIN.yaml`` with characters a file name should not hold replaced by ``_``."""
    return (_UNSAFE.sub("_", domain).lstrip(".") or "domain") + ".yaml"


def export_ratelimit(directory: Path, output_dir: Path | None) -> int:
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    compiled = compile_directory(directory)
    for diagnostic in compiled.diagnostics:
        print(diagnostic, file=sys.stderr)
    if any(d.severity is Severity.ERROR for d in compiled.diagnostics):
        print("gitxds export ratelimit: the config is invalid; nothing exported", file=sys.stderr)
        return 1
    try:
        documents = ratelimit_service_configs(compiled.model)
    except ConflictingLimitsError as exc:
        print(f"gitxds export ratelimit: {exc}", file=sys.stderr)
        return 1
    if not documents:
        print(
            "gitxds export ratelimit: no RateLimitPolicy with mode: global; nothing to export",
            file=sys.stderr,
        )
        return 0
    if output_dir is None:
        sys.stdout.write("---\n".join(yaml_text(document) for document in documents))
        return 0
    _write_files(output_dir, documents)
    return 0


def _write_files(output_dir: Path, documents: list[dict[str, object]]) -> None:
    names = [domain_file_name(str(document["domain"])) for document in documents]
    if len(set(names)) != len(names):
        raise UsageError("two domains map to the same file name; rename one of them")
    output_dir.mkdir(parents=True, exist_ok=True)
    for name, document in zip(names, documents, strict=True):
        (output_dir / name).write_text(yaml_text(document))
        print(f"wrote {output_dir / name}", file=sys.stderr)
