"""Directory -> per-gateway Envoy resources, re-reading only files that changed.

The loader caches each file's parse by its stat signature, so a commit that touches one file
re-parses one file. Compilation and translation run on the whole model; the translator's builders
are pure on hashable IR values, and the snapshot reuses the encoding of unchanged resources, so only
what changed is serialized again.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import Message

from gitxds import ir
from gitxds.compile import CompileResult, compile_loaded
from gitxds.config import FileResult, merge_files, parse_file
from gitxds.errors import Diagnostic, Reason
from gitxds.translators.xds import translate_gateway

GatewayResources = dict[str, list[Message]]  # type URL -> resources sorted by name

_CONFIG_SUFFIXES = (".yaml", ".yml")


def translate_all(model: ir.Model, secrets: Mapping[str, str] | None) -> dict[str, GatewayResources]:
    """Every gateway's resources; ``secrets=None`` redacts secret values (for diffs and dumps)."""
    return {g.name: translate_gateway(model, g.name, secrets) for g in model.gateways}


@dataclass(frozen=True, slots=True)
class _CachedFile:
    signature: tuple[int, int, int]
    content: bytes
    result: FileResult


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    compiled: CompileResult  # its diagnostics cover loading and compiling, sorted
    files: tuple[tuple[str, bytes], ...]  # (relative path, content) of every config file read
    reparsed: int  # how many files had to be parsed again

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.compiled.diagnostics


class IncrementalLoader:
    """Loads a config directory, re-parsing only files whose size, mtime, inode or content changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, _CachedFile] = {}

    def _config_files(self) -> list[tuple[str, Path]]:
        base = self.root.resolve()
        found: list[tuple[str, Path]] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and name.endswith(_CONFIG_SUFFIXES):
                    path = Path(dirpath) / name
                    found.append((path.relative_to(base).as_posix(), path))
        return found

    def _read(self, relpath: str, path: Path) -> _CachedFile:
        stat = path.stat()
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._cache.get(relpath)
        if cached is not None and cached.signature == signature:
            return cached
        content = path.read_bytes()
        if cached is not None and cached.content == content:
            return _CachedFile(signature, content, cached.result)
        try:
            result = parse_file(relpath, content.decode("utf-8"))
        except UnicodeDecodeError as exc:
            problem = Diagnostic(relpath, 0, "", Reason.YAML_SYNTAX, f"not UTF-8 text: {exc.reason}")
            result = FileResult(relpath, diagnostics=(problem,))
        return _CachedFile(signature, content, result)

    def load(self) -> LoadOutcome:
        fresh: dict[str, _CachedFile] = {}
        reparsed = 0
        for relpath, path in self._config_files():
            try:
                fresh[relpath] = self._read(relpath, path)
            except FileNotFoundError:
                continue  # removed while we walked; the next event reloads
            if fresh[relpath] is not self._cache.get(relpath) and (
                relpath not in self._cache or fresh[relpath].result is not self._cache[relpath].result
            ):
                reparsed += 1
        self._cache = fresh
        loaded = merge_files(entry.result for entry in fresh.values())
        files = tuple((relpath, fresh[relpath].content) for relpath in sorted(fresh))
        return LoadOutcome(compile_loaded(loaded), files, reparsed)
