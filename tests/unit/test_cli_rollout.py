"""``gitxds rollout``: the table it prints, and a clear error when the admin endpoint is away."""

from __future__ import annotations

import pytest

from gitxds.cli import main
from gitxds.cli.rollout import render

ROLLOUT = {
    "rule": "chat/0",
    "commit": "0123456789abcdef",
    "phase": "rolled-back",
    "summary": "rolled back: rolled back after 2 failing interval(s) (failureLimit 1)",
    "evidence": [
        {
            "backend": "chat-v2",
            "metric": "successRate",
            "value": 80.0,
            "threshold": 99.0,
            "unit": "%",
            "requests": 100,
            "interval": [1.0, 2.0],
            "held": False,
        }
    ],
}


def test_status_lists_each_rollout_with_its_evidence() -> None:
    text = render({"current": [ROLLOUT], "ended": [{**ROLLOUT, "summary": "done: every step passed"}]})
    assert text.splitlines() == [
        "chat/0 (0123456789ab): rolled back: rolled back after 2 failing interval(s) (failureLimit 1)",
        "  chat-v2 successRate 80% (threshold 99%, 100 requests): FAILED",
        "ended chat/0 (0123456789ab): done: every step passed",
    ]


def test_no_rollouts() -> None:
    assert render({"current": [], "ended": []}) == "no rollouts"


def test_an_unreachable_admin_endpoint_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rollout", "status", "--admin", "http://127.0.0.1:9"]) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
