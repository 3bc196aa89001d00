"""Judging waits on signals (peer replicas answer over the network) without holding the controller:
builds, status and commands go on meanwhile, and a state that changed meanwhile wins."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from gitxds.rollout import Phase

from .memory_signals import InMemorySignals, Traffic
from .test_rollout_controller import Clock, controller, publish
from .test_rollout_steps import RULE, model


class SlowSignals(InMemorySignals):
    """Signals that answer only when the test lets them (a slow peer)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked_event = threading.Event()
        self.answer = threading.Event()

    def window(self, backends: Iterable[str], start: float, end: float) -> dict[str, Traffic]:
        self.asked_event.set()
        assert self.answer.wait(10)
        return super().window(backends, start, end)


def test_status_and_commands_do_not_wait_for_a_judgement_and_win_over_it(tmp_path: Path) -> None:
    clock, signals = Clock(), SlowSignals()
    c, _ = controller(tmp_path, clock, signals)
    publish(c, model(("v1", 100)), "c1")
    publish(c, model(("v2", 100)), "c2")
    for second in range(0, 30):
        signals.add(1000.0 + second, Traffic("v2", 10))
    clock.now = 1021.0
    ticked: list[bool] = []
    judging = threading.Thread(target=lambda: ticked.append(c.tick()))
    judging.start()
    assert signals.asked_event.wait(5)  # the tick is waiting on its signals now
    assert c.status()["current"][0]["step"] == 0  # answered while the judgement waits
    c.command("pause")  # an operator acts meanwhile
    signals.answer.set()
    judging.join(5)
    assert ticked == [False]  # the judgement's result was dropped: the operator's state wins
    assert (c.state.rollouts[RULE].phase, c.state.rollouts[RULE].step) == (Phase.PAUSED, 0)
