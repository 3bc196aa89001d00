"""gitxds config documents for tests: build them as dicts, write them as YAML, compile them.

``gateway_doc``, ``backend_doc`` and ``route_doc`` build CONFIG.md documents pointing at 127.0.0.1;
``write_config`` writes them (or raw YAML text) into a config directory; ``compile_config`` runs the
real compiler and fails loudly on any diagnostic, so a test never runs against a config that was
partly dropped.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness.ports import LOOPBACK

API_VERSION = "gitxds.dev/v1alpha1"


def document(
    kind: str, name: str, spec: dict[str, Any], labels: dict[str, str] | None = None
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def gateway_doc(name: str, port: int, *, cluster: str | None = None, **spec: Any) -> dict[str, Any]:
    """A Gateway with one HTTP listener on 127.0.0.1:port for Envoy nodes of ``cluster`` (default:
    the gateway's name)."""
    body = {
        "proxies": {"cluster": cluster or name},
        "listeners": [{"name": "http", "port": port, "address": LOOPBACK}],
        **spec,
    }
    return document("Gateway", name, body)


def backend_doc(name: str, ports: Iterable[int], **spec: Any) -> dict[str, Any]:
    """A Backend with static endpoints 127.0.0.1:port; ``spec`` adds fields in CONFIG.md spelling
    (``connectTimeout="1s"``, ``circuitBreaker={...}``...)."""
    endpoints = [{"address": LOOPBACK, "port": port} for port in ports]
    return document("Backend", name, {"endpoints": endpoints, **spec})


def route_doc(
    name: str,
    rules: Sequence[dict[str, Any]],
    *,
    gateways: Sequence[str] = ("edge",),
    hostnames: Sequence[str] = (),
) -> dict[str, Any]:
    spec: dict[str, Any] = {"gateways": list(gateways), "rules": list(rules)}
    if hostnames:
        spec["hostnames"] = list(hostnames)
    return document("Route", name, spec)


def to_yaml(documents: Iterable[dict[str, Any]]) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump_all(list(documents), stream)
    return stream.getvalue()


def write_config(
    directory: Path, documents: str | Iterable[dict[str, Any]], name: str = "config.yaml"
) -> Path:
    """Write one config file (YAML text, or documents as dicts) into ``directory``; return its path.
    The file is written to a temporary name and renamed, so a watcher never reads half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    text = documents if isinstance(documents, str) else to_yaml(documents)
    path = directory / name
    partial = directory / f".{name}.partial"
    partial.write_text(text)
    partial.replace(path)
    return path


def compile_config(directory: Path) -> Any:
    """Compile a config directory with gitxds and return the IR model; any diagnostic or dropped
    document fails the test with the full list."""
    from gitxds.compile import compile_directory

    result = compile_directory(directory)
    problems = [str(d) for d in result.diagnostics]
    assert not problems and not result.dropped, "config did not compile cleanly:\n" + "\n".join(
        problems + [f"dropped: {d}" for d in result.dropped]
    )
    return result.model
