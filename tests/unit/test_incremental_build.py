"""Incremental compile + translate give, byte for byte, what a cold build of the same files gives.

Hypothesis edits one file at a time (weights, ports, names, references that stop resolving, gateway
default policies, duplicate names, broken YAML) and after every edit compares the incremental build,
which keeps its memos across edits and re-parses only the edited file, with a cold build from scratch.
The snapshots ``serve`` would publish are compared too: built through the encoding memo kept across
edits and on the previous snapshots (what serve does), and built from nothing.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitxds import typeurls
from gitxds.compile import CompileMemo, CompileResult, compile_loaded
from gitxds.config import FileResult, merge_files, parse_file
from gitxds.gitops.inputs import Inputs, build
from gitxds.translators.xds import TranslationMemo, translate_gateway
from gitxds.xds.cache import EncodingMemo, InconsistentSnapshotError, Snapshot

HEADER = "apiVersion: gitxds.dev/v1alpha1\n"
BACKENDS = [f"svc-{i}" for i in range(3)]
FILES = (
    "gateways.yaml",
    "policies.yaml",
    "backends/a.yaml",
    "backends/b.yaml",
    "routes/a.yaml",
    "routes/b.yaml",
)

Build = tuple[tuple[str, ...], dict[str, dict[str, list[bytes]]]]
Published = dict[str, Any]  # gateway -> (snapshot version, type URL -> [(name, version, Any bytes)])


def gateway_docs(port: int, auth: bool, second: bool) -> str:
    docs = [
        f"{HEADER}kind: Gateway\nmetadata: {{name: edge}}\nspec:\n  proxies: {{cluster: edge}}\n"
        f"  listeners: [{{name: http, port: {port}}}]\n" + ("  auth: keys\n" if auth else "")
    ]
    if second:
        docs.append(
            f"{HEADER}kind: Gateway\nmetadata: {{name: inner}}\nspec:\n  proxies: {{cluster: inner}}\n"
            "  listeners: [{name: http, port: 9000}]\n"
        )
    return "---\n".join(docs)


def policy_docs(authz_backend: str, timeout: int) -> str:
    return (
        f"{HEADER}kind: AuthPolicy\nmetadata: {{name: keys}}\n"
        f"spec:\n  extAuthz: {{backend: {authz_backend}, timeout: {timeout}ms}}\n"
    )


ROUTES = [f"r-{i}" for i in range(3)]
# Every knob of the config, each with the values it can take; one edit turns one knob.
KNOBS: dict[str, st.SearchStrategy[Any]] = {
    "gateway.port": st.sampled_from([10000, 10001]),
    "gateway.auth": st.booleans(),
    "gateway.second": st.booleans(),
    "policy.backend": st.sampled_from(BACKENDS),
    "policy.timeout": st.sampled_from([100, 200]),
    **{f"{name}.file": st.sampled_from(["a", "b", "both", None]) for name in BACKENDS},
    **{f"{name}.port": st.integers(8000, 8002) for name in BACKENDS},
    **{f"{name}.ring": st.booleans() for name in BACKENDS},
    **{f"{name}.file": st.sampled_from(["a", "b", "both", None]) for name in ROUTES},
    **{f"{name}.gateways": st.sampled_from(["[edge]", "[inner]", "[edge, inner]"]) for name in ROUTES},
    **{f"{name}.host": st.sampled_from([None, "a.example", "b.example"]) for name in ROUTES},
    **{f"{name}.first": st.sampled_from([*BACKENDS, "missing"]) for name in ROUTES},
    **{f"{name}.second": st.sampled_from(BACKENDS) for name in ROUTES},
    **{f"{name}.weight": st.integers(1, 99) for name in ROUTES},
    **{f"{name}.auth": st.sampled_from([None, "none", "keys"]) for name in ROUTES},
    **{f"{path}.broken": st.sampled_from([False, False, False, True]) for path in FILES},
}


def backend_doc(name: str, k: dict[str, Any]) -> str:
    ring = "  loadBalancer: RING_HASH\n  hashOn: {header: x-user}\n" if k[f"{name}.ring"] else ""
    return (
        f"{HEADER}kind: Backend\nmetadata: {{name: {name}}}\nspec:\n"
        f"  endpoints: [{{address: 10.0.0.1, port: {k[f'{name}.port']}}}]\n{ring}"
    )


def route_doc(name: str, k: dict[str, Any]) -> str:
    host, auth, weight = k[f"{name}.host"], k[f"{name}.auth"], k[f"{name}.weight"]
    return (
        f"{HEADER}kind: Route\nmetadata: {{name: {name}}}\nspec:\n  gateways: {k[f'{name}.gateways']}\n"
        + (f"  hostnames: [{host}]\n" if host else "")
        + f"  rules:\n    - matches: [{{path: {{prefix: /{name}}}}}]\n"
        f"      backends: [{{name: {k[f'{name}.first']}, weight: {weight}}}, "
        f"{{name: {k[f'{name}.second']}, weight: {100 - weight}}}]\n"
        + (f"      auth: {auth}\n" if auth else "")
    )


BROKEN = "kind: [unclosed\n"


def render(k: dict[str, Any]) -> dict[str, str]:
    """The config files the knobs describe (one knob changes one file)."""
    files = {
        "gateways.yaml": gateway_docs(k["gateway.port"], k["gateway.auth"], k["gateway.second"]),
        "policies.yaml": policy_docs(k["policy.backend"], k["policy.timeout"]),
    }
    for folder, names, doc in (("backends", BACKENDS, backend_doc), ("routes", ROUTES, route_doc)):
        for part in ("a", "b"):
            chosen = [name for name in names if k[f"{name}.file"] in (part, "both")]
            files[f"{folder}/{part}.yaml"] = "---\n".join(doc(name, k) for name in chosen)
    return {path: BROKEN if k[f"{path}.broken"] else text for path, text in files.items()}


initial_knobs = st.fixed_dictionaries(KNOBS)
edits = st.lists(st.sampled_from(sorted(KNOBS)).flatmap(lambda knob: st.tuples(st.just(knob), KNOBS[knob])))


def published(result: CompileResult, memo: TranslationMemo | None) -> Build:
    """Diagnostics, and every gateway's resources (deterministic bytes, in order) by type."""
    resources = {}
    for gateway in result.model.gateways:
        translated = translate_gateway(result.model, gateway.name, {}, memo=memo)
        resources[gateway.name] = {
            type_url: [
                (str(getattr(m, "name", "")), m.SerializeToString(deterministic=True)) for m in messages
            ]
            for type_url, messages in translated.items()
        }
    return tuple(str(d) for d in result.diagnostics), resources


def snapshots(
    result: CompileResult,
    translation: TranslationMemo | None,
    memo: EncodingMemo,
    previous: dict[str, Snapshot],
) -> Published:
    """The snapshots built from ``result`` (as encoded resources), or why none can be. Serve builds
    only valid configs; building every one puts the memo through more sequences of states."""
    try:
        built = build(Inputs("v1", result.model), memo, previous.get, translation=translation)
    except InconsistentSnapshotError as exc:
        return {"inconsistent": str(exc)}
    memo.retire()
    previous.clear()
    previous.update(built.snapshots)
    return {
        gateway: (
            snapshot.version,
            snapshot.consistent(),
            {
                type_url: [(r.name, r.version, r.any_bytes) for r in snapshot.resources(type_url)]
                for type_url in typeurls.PUSH_ORDER
            },
        )
        for gateway, snapshot in built.snapshots.items()
    }


class Incremental:
    """What ``serve`` keeps between builds: each file's parse (so unchanged documents are the same
    objects), the compile memo, the translation memo, the encoding memo and the served snapshots."""

    def __init__(self) -> None:
        self.parsed: dict[tuple[str, str], FileResult] = {}
        self.compile_memo = CompileMemo()
        self.translation_memo = TranslationMemo()
        self.encoding_memo = EncodingMemo()
        self.served: dict[str, Snapshot] = {}

    def compile(self, files: dict[str, str]) -> CompileResult:
        results = []
        for path, text in files.items():
            key = (path, text)
            if key not in self.parsed:
                self.parsed[key] = parse_file(path, text)
            results.append(self.parsed[key])
        return compile_loaded(merge_files(results), self.compile_memo)

    def build(self, files: dict[str, str]) -> Build:
        return published(self.compile(files), self.translation_memo)

    def serve(self, files: dict[str, str]) -> tuple[Build, Published]:
        result = self.compile(files)
        translated = published(result, self.translation_memo)
        return translated, snapshots(result, self.translation_memo, self.encoding_memo, self.served)


def cold(files: dict[str, str]) -> Build:
    loaded = merge_files(parse_file(path, text) for path, text in files.items())
    return published(compile_loaded(loaded), None)


def cold_served(files: dict[str, str]) -> tuple[Build, Published]:
    result = compile_loaded(merge_files(parse_file(path, text) for path, text in files.items()))
    return published(result, None), snapshots(result, None, EncodingMemo(), {})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial_knobs, edits)
def test_incremental_build_is_byte_identical_to_cold(knobs: dict[str, Any], changes: Any) -> None:
    incremental = Incremental()
    files = render(knobs)
    assert incremental.serve(files) == cold_served(files)
    for knob, value in changes:
        knobs = {**knobs, knob: value}
        files = render(knobs)
        assert incremental.serve(files) == cold_served(files), f"after setting {knob} to {value!r}"


def test_one_edit_rebuilds_only_what_it_touched() -> None:
    """A weight change in one route re-translates that route's rules and nothing else."""
    routes = [
        f"{HEADER}kind: Route\nmetadata: {{name: r-{i}}}\nspec:\n  gateways: [edge]\n"
        f"  rules:\n    - matches: [{{path: {{prefix: /r{i}}}}}]\n"
        f"      backends: [{{name: svc-{i}, weight: 1}}]\n"
        for i in range(3)
    ]
    backends = [
        f"{HEADER}kind: Backend\nmetadata: {{name: svc-{i}}}\n"
        "spec:\n  endpoints: [{address: 10.0.0.1, port: 80}]\n"
        for i in range(3)
    ]
    files = {
        "gateways.yaml": gateway_docs(10000, auth=False, second=False),
        "backends.yaml": "---\n".join(backends),
        "routes/one.yaml": routes[0],
        "routes/rest.yaml": "---\n".join(routes[1:]),
    }
    incremental = Incremental()
    incremental.build(files)
    files["routes/one.yaml"] = routes[0].replace("weight: 1", "weight: 7")
    assert incremental.build(files) == cold(files)
    assert incremental.compile_memo.reused == 3 + 1 + 2  # backends, the gateway, untouched routes
    assert incremental.translation_memo.built == 1  # only the edited rule's Envoy routes


def test_a_changed_gateway_default_recompiles_the_routes_bound_to_it() -> None:
    """Routes read their gateway's default policies: their documents did not change, their meaning did."""
    knobs: dict[str, Any] = {f"{path}.broken": False for path in FILES}
    knobs |= {"gateway.port": 10000, "gateway.auth": False, "gateway.second": False}
    knobs |= {"policy.backend": "svc-0", "policy.timeout": 100}
    for name in BACKENDS:
        knobs |= {f"{name}.file": "a", f"{name}.port": 8000, f"{name}.ring": False}
    for name in ROUTES:
        knobs |= {f"{name}.file": "a", f"{name}.gateways": "[edge]", f"{name}.host": None}
        knobs |= {
            f"{name}.first": "svc-1",
            f"{name}.second": "svc-2",
            f"{name}.weight": 50,
            f"{name}.auth": None,
        }
    incremental = Incremental()
    incremental.build(render(knobs))
    knobs["gateway.auth"] = True
    assert incremental.build(render(knobs)) == cold(render(knobs))
