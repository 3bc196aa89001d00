"""The resident validator: one real Envoy fed candidates over xDS; its ACK accepts, its NACK refuses."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from gitxds.compile import compile_loaded
from gitxds.config import merge_files, parse_file
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.resident_validator import ResidentValidator, Verdict
from gitxds.translators.xds import translate_gateway
from gitxds.xds.cache import Snapshot

CONFIG = """\
apiVersion: gitxds.dev/v1alpha1
kind: Gateway
metadata: {{name: edge}}
spec:
  proxies: {{cluster: edge}}
  listeners: [{{name: http, port: {port}, address: 127.0.0.1}}]
---
apiVersion: gitxds.dev/v1alpha1
kind: Backend
metadata: {{name: chat}}
spec: {{endpoints: [{{address: 127.0.0.1, port: 8000}}]}}
---
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: chat}}
spec:
  gateways: [edge]
  rules: [{{matches: [{{path: {match}}}], backends: [{{name: chat}}]}}]
"""
# Valid for gitxds (RE2 compiles it) but over Envoy's default regex program size: only Envoy refuses it.
ENVOY_ONLY_REJECTS = r"{regex: '/\w{40}'}"


def snapshot(match: str, port: int) -> Snapshot:
    result = compile_loaded(merge_files([parse_file("config.yaml", CONFIG.format(match=match, port=port))]))
    assert not result.diagnostics, result.diagnostics
    return Snapshot.build(translate_gateway(result.model, "edge", {}))


def envoy() -> str:
    found = find_envoy()
    assert found is not None, "no envoy binary beside the Python interpreter or on PATH: run `make venv`"
    return found


def test_envoy_acks_accept_and_its_nack_refuses_with_its_own_words() -> None:
    async def main() -> list[Verdict | None]:
        validator = ResidentValidator(envoy())
        await validator.start()
        assert validator.up, validator.down_reason
        # The real proxies' port is taken: the validator must not try to bind it.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            try:
                return [
                    await validator.check(snapshot(match, port))
                    for match in ("{prefix: /a}", ENVOY_ONLY_REJECTS, "{prefix: /b}", ENVOY_ONLY_REJECTS)
                ]
            finally:
                await validator.stop()

    first, bad, fixed, bad_again = asyncio.run(main())
    assert first == Verdict(True, "") and fixed == Verdict(True, "")
    for refused in (bad, bad_again):  # the second time the server does not re-send the refused set
        assert refused is not None and not refused.accepted
        assert "RE2 program size" in refused.message


def test_a_validator_that_cannot_start_says_so_and_answers_nothing(tmp_path: Path) -> None:
    async def main() -> tuple[str | None, Verdict | None]:
        validator = ResidentValidator(str(tmp_path / "no-envoy-here"))
        await validator.start()
        return validator.down_reason, await validator.check(snapshot("{prefix: /a}", 10000))

    reason, verdict = asyncio.run(main())
    assert reason is not None and "did not start" in reason
    assert verdict is None  # the caller falls back to envoy --mode validate


def test_a_check_made_while_envoy_starts_waits_for_it() -> None:
    """serve builds the first version while the validator Envoy starts: that version is checked by it."""

    async def main() -> tuple[Verdict | None, str | None]:
        validator = ResidentValidator(envoy())
        validator.start_soon()
        try:
            return await validator.check(snapshot("{prefix: /a}", 10000)), validator.down_reason
        finally:
            await validator.stop()

    verdict, down = asyncio.run(main())
    assert down is None and verdict == Verdict(True, "")
