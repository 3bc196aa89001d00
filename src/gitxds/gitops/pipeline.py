"""Directory -> per-gateway Envoy resources, re-reading only files that changed.

The config package's loader caches each file's parse by its stat signature and content, so a commit
that touches one file re-parses one file, and keeps the merge across files up to date with the names
that file touched. The incremental compiler then compiles again only those names and what depends on
them (:mod:`gitxds.compile.incremental`); translation and encoding have memos of their own, so only
what changed is translated and serialized again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitxds import ir
from gitxds.compile import CompileResult, IncrementalCompiler
from gitxds.config import DirectoryLoader
from gitxds.errors import Diagnostic
from gitxds.translators.xds import translate_gateway

GatewayResources = dict[str, list[Any]]  # type URL -> messages sorted by name


def translate_all(model: ir.Model, secrets: Mapping[str, str] | None) -> dict[str, GatewayResources]:
    """Every gateway's resources; ``secrets=None`` redacts secret values (for diffs and dumps)."""
    return {g.name: translate_gateway(model, g.name, secrets) for g in model.gateways}


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    compiled: CompileResult  # its diagnostics cover loading and compiling, sorted
    files: tuple[tuple[str, bytes], ...]  # (relative path, content) of every config file read
    reparsed: int  # how many files had to be parsed again

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.compiled.diagnostics


class IncrementalLoader:
    """Loads and compiles a config directory; the config package's loader re-parses only the files
    whose stat signature and content changed, and only the names they touched compile again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._loader = DirectoryLoader(root)
        self._compiler = IncrementalCompiler()

    def load(self) -> LoadOutcome:
        loaded = self._loader.load()
        compiled = self._compiler.update(loaded.merge, loaded.changed)
        return LoadOutcome(compiled, loaded.contents, loaded.reparsed)

    def changed_since_read(self) -> tuple[str, ...]:
        """Files the last load read while a writer was at work on them (see ``DirectoryLoader``)."""
        return self._loader.changed_since_read()
