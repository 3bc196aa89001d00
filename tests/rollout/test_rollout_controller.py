"""The controller between the writer and the clock: builds see progress, ticks ask for rebuilds,
operators steer, and a state file carries everything across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitxds import ir
from gitxds.rollout import Phase
from gitxds.rollout.controller import ManualError, RolloutController
from gitxds.rollout.store import StateStore

from .memory_signals import InMemorySignals, Traffic
from .test_rollout_steps import RULE, model


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def served_split(m: ir.Model) -> dict[str, int]:
    rule = m.routes[0].rules[0]
    total = sum(b.weight for b in rule.backends)
    return {b.backend: round(100 * b.weight / total) for b in rule.backends}


def controller(tmp_path: Path, clock: Clock, signals: InMemorySignals) -> tuple[RolloutController, list[str]]:
    rebuilds: list[str] = []
    made = RolloutController(
        signals, store=StateStore(tmp_path / "state.json"), clock=clock, settle_seconds=1
    )
    made.request_rebuild = rebuilds.append
    return made, rebuilds


def publish(c: RolloutController, m: ir.Model, version: str) -> ir.Model:
    applied = c.apply(m, version)
    c.commit(applied)
    return applied.served


def test_a_tick_that_moves_a_step_asks_the_writer_to_rebuild(tmp_path: Path) -> None:
    clock, signals = Clock(), InMemorySignals()
    c, rebuilds = controller(tmp_path, clock, signals)
    publish(c, model(("v1", 100)), "c1")
    assert served_split(publish(c, model(("v2", 100)), "c2")) == {"v1": 90, "v2": 10}
    for second in range(0, 30):
        signals.add(1000.0 + second, Traffic("v2", 10))
    clock.now = 1020.5  # the step is due at 1020, judged once the settle second has passed
    assert not c.tick() and rebuilds == []
    clock.now = 1021.0
    assert c.tick() and rebuilds == ["rollout step"]
    assert served_split(c.apply(model(("v2", 100)), "c2").served) == {"v1": 50, "v2": 50}


def test_operators_pause_promote_and_get_an_error_when_nothing_applies(tmp_path: Path) -> None:
    c, rebuilds = controller(tmp_path, Clock(), InMemorySignals())
    publish(c, model(("v1", 100)), "c1")
    publish(c, model(("v2", 100)), "c2")
    assert c.command("pause")[0]["phase"] == "paused"
    assert "(paused)" in c.status()["current"][0]["summary"]
    c.command("promote", RULE)
    assert c.state.rollouts[RULE].phase is Phase.DONE
    assert served_split(c.apply(model(("v2", 100)), "c2").served) == {"v2": 100}
    assert rebuilds == ["rollout pause", "rollout promote"]
    with pytest.raises(ManualError, match="no active rollout"):
        c.command("abort")


def test_a_restarted_controller_resumes_from_its_state_file(tmp_path: Path) -> None:
    clock = Clock()
    first, _ = controller(tmp_path, clock, InMemorySignals())
    publish(first, model(("v1", 100)), "c1")
    publish(first, model(("v2", 100)), "c2")
    first.command("pause")
    again, _ = controller(tmp_path, clock, InMemorySignals())
    served = publish(again, model(("v2", 100)), "c2")  # the first build after the restart
    assert served_split(served) == {"v1": 90, "v2": 10}
    assert again.state.rollouts[RULE].phase is Phase.PAUSED


def test_an_unreadable_state_file_starts_without_rollouts(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    c, _ = controller(tmp_path, Clock(), InMemorySignals())
    assert served_split(publish(c, model(("v2", 100)), "c2")) == {"v2": 100}


def test_a_pause_does_not_count_toward_the_step(tmp_path: Path) -> None:
    clock = Clock()
    c, _ = controller(tmp_path, clock, InMemorySignals())
    publish(c, model(("v1", 100)), "c1")
    no_analysis = model(
        ("v2", 100), policy=ir.RolloutPolicy("p", ("chat",), (ir.RolloutStep(10, 20_000),), None)
    )
    publish(c, no_analysis, "c2")
    clock.now = 1005.0
    c.command("pause")
    clock.now = 1105.0  # held 100s, long past the 20s pause
    assert not c.tick()
    c.command("resume")
    assert not c.tick()  # 5s of the step had passed before the pause: 15s remain
    clock.now = 1121.0  # + the 1s settle
    assert c.tick()
    done = c.state.rollouts[RULE]
    assert (done.phase, done.held_seconds, done.finished_at) == (Phase.DONE, 100.0, 1120.0)
