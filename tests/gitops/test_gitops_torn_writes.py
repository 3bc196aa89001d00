"""Writers that change a file in place (truncate, then write) are never served half-done.

Real files, real writers: each test truncates or half-writes a config file and keeps it that way
while gitxds looks (the "pause" is the test holding the file open until gitxds has looked, never a
sleep), then finishes the write. gitxds must neither serve the half-written state (an empty file
drops every gateway) nor record it as a refusal; an intentional emptying is still served once the
grace period has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

import gitxds.config.loader as loader_module
from gitxds.config.files import ConfigFile, Limits
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.secrets import SecretStore
from gitxds.gitops.service import GitxdsService
from gitxds.gitops.status import Attempt
from gitxds.metrics import Metrics
from gitxds.xds.cache import SnapshotCache
from waiting import eventually

from .helpers import BACKENDS, GATEWAY, options, route, routed_cluster, run_service, write_config


class Served:
    """A reconciler on a real directory, in one event loop (its grace timer runs in that loop)."""

    def __init__(self, config: Path) -> None:
        self.registry = CollectorRegistry()
        self.cache = SnapshotCache()
        self.reconciler = Reconciler(config, self.cache, Metrics(self.registry), secrets=SecretStore(None))

    def count(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def refusals(self) -> float:
        return self.count("gitxds_config_reloads_total", result="rejected")

    def gateways(self) -> tuple[str, ...]:
        return self.reconciler.status.gateways


def run(config: Path, body: Callable[[Served], Awaitable[None]]) -> None:
    async def main() -> None:
        served = Served(config)
        first = await served.reconciler.reload("start")
        assert isinstance(first, Attempt) and first.accepted, first
        try:
            await body(served)
        finally:
            served.reconciler.close()

    asyncio.run(main())


def test_a_truncated_file_is_held_back_until_its_write_lands(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(served: Served) -> None:
        with (config / "gateway.yaml").open("w") as writer:  # truncated: the writer has not written yet
            assert await served.reconciler.files_changed() is None
            assert served.gateways() == ("edge",)
            assert served.count("gitxds_config_reads_held_total", reason="emptied") == 1
            writer.write(GATEWAY.replace("port: 10000", "port: 10005"))
        outcome = await served.reconciler.files_changed()
        assert isinstance(outcome, Attempt) and outcome.accepted, outcome
        assert served.gateways() == ("edge",)
        assert served.refusals() == 0

    run(config, body)


def test_a_prefix_is_held_back_without_a_refusal_until_the_rest_lands(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")
    text = route("green")

    async def body(served: Served) -> None:
        with (config / "route.yaml").open("w") as writer:
            writer.write(text[: len(text) // 2])  # cut inside the spec: does not parse
            writer.flush()
            assert await served.reconciler.files_changed() is None
            assert served.count("gitxds_config_reads_held_total", reason="refused") == 1
            writer.write(text[len(text) // 2 :])
        outcome = await served.reconciler.files_changed()
        assert isinstance(outcome, Attempt) and outcome.accepted, outcome
        assert served.refusals() == 0
        assert served.reconciler.status.last_rejected is None

    run(config, body)


def test_an_intentional_empty_file_is_served_after_the_grace(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "all.yaml").write_text("---\n".join((GATEWAY, BACKENDS, route("blue"))))

    async def body(served: Served) -> None:
        (config / "all.yaml").write_text("")  # every gateway goes, on purpose
        assert await served.reconciler.files_changed() is None
        assert served.gateways() == ("edge",)
        await eventually(lambda: served.gateways() == (), timeout=5)  # the grace timer read it again
        assert served.cache.get("edge") is None
        assert served.refusals() == 0

    run(config, body)


def test_a_broken_edit_is_refused_after_the_grace(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(served: Served) -> None:
        (config / "route.yaml").write_text(route("purple"))  # no such backend
        assert await served.reconciler.files_changed() is None
        await eventually(lambda: served.refusals() == 1, timeout=5)
        rejected = served.reconciler.status.last_rejected
        assert rejected is not None and "UnknownBackend" in str(rejected.diagnostics)

    run(config, body)


def test_a_later_good_write_ends_the_hold(tmp_path: Path) -> None:
    config = write_config(tmp_path / "config")

    async def body(served: Served) -> None:
        (config / "route.yaml").unlink()  # a tool that deletes, then writes the file again
        assert await served.reconciler.files_changed() is None
        assert served.count("gitxds_config_reads_held_total", reason="gone") == 1
        (config / "route.yaml").write_text(route("green"))
        outcome = await served.reconciler.files_changed()
        assert isinstance(outcome, Attempt) and outcome.accepted
        assert served.reconciler.documents("edge") is not None
        assert served.refusals() == 0

    run(config, body)


def test_a_file_written_while_it_is_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer finishes between gitxds's read of the empty file and the end of the load: the
    re-stat sees it moved, the torn read is discarded and the file read again, with no hold."""
    config = write_config(tmp_path / "config")
    original = loader_module.read_config_file
    finished: list[str] = []

    def read_then_writer_finishes(entry: ConfigFile, limits: Limits) -> Any:
        content = original(entry, limits)
        if entry.relpath == "route.yaml" and not finished:
            finished.append(entry.relpath)
            (config / "route.yaml").write_text(route("green"))
        return content

    async def body(served: Served) -> None:
        monkeypatch.setattr(loader_module, "read_config_file", read_then_writer_finishes)
        (config / "route.yaml").write_text("")  # truncated; the write lands during gitxds's read
        outcome = await served.reconciler.files_changed()
        assert isinstance(outcome, Attempt) and outcome.accepted, outcome
        assert finished == ["route.yaml"]
        assert served.count("gitxds_config_reads_torn_total") == 1
        assert served.count("gitxds_config_reads_held_total", reason="emptied") == 0
        assert served.reconciler.documents("edge") is not None

    run(config, body)


@pytest.mark.parametrize(
    ("half_written", "sign"), [("", "emptied"), ("apiVersion: gitxds.dev/v1alpha1\nkind: Rou", "refused")]
)
def test_the_watcher_never_serves_a_write_in_progress(tmp_path: Path, half_written: str, sign: str) -> None:
    """Through the real watcher at its default quiet time: the writer pauses until gitxds looked."""
    config = write_config(tmp_path / "config")

    async def body(service: GitxdsService) -> None:
        def held() -> float:
            return service.registry.get_sample_value("gitxds_config_reads_held_total", {"reason": sign}) or 0

        with (config / "route.yaml").open("w") as writer:
            writer.write(half_written)
            writer.flush()
            await eventually(lambda: held() >= 1)
            assert routed_cluster(service) == "blue"
            writer.write(route("green")[len(half_written) :] if half_written else route("green"))
        await eventually(lambda: routed_cluster(service) == "green")
        assert service.reconciler.status.last_rejected is None
        assert service.metrics.config_reloads.labels(result="rejected")._value.get() == 0

    run_service(options(config), body)
