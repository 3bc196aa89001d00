"""The rollout step machine with an injected clock: steps, analysis, rollback, and Git changes mid-way."""

from __future__ import annotations

from dataclasses import replace

from gitxds import ir
from gitxds.rollout import Judgement, Outcome, Phase, Rollouts, RuleRollout, judge, plan, served_model, tick

from .memory_signals import InMemorySignals, Traffic

RULE = "chat/0"
ANALYSIS = ir.Analysis(interval_ms=10_000, min_requests=50, failure_limit=1, success_rate_min=99.0)
POLICY = ir.RolloutPolicy(
    "careful",
    ("chat",),
    (ir.RolloutStep(10, 20_000), ir.RolloutStep(50, 20_000)),
    ANALYSIS,
    ir.OnFailure.HOLD,
)


def model(*backends: tuple[str, int], policy: ir.RolloutPolicy | None = POLICY) -> ir.Model:
    rule = ir.Rule(RULE, (), tuple(ir.WeightedBackend(b, w) for b, w in backends))
    names = {b for b, _ in backends} | {"v1", "v2", "v3"}
    return ir.Model(
        backends=tuple(ir.Backend(n, ir.StaticEndpoints(())) for n in sorted(names)),
        routes=(ir.Route("chat", ("edge",), (), (rule,)),),
        rollout_policies=(policy,) if policy else (),
    )


def served(state: Rollouts, m: ir.Model) -> dict[str, int]:
    rule = served_model(state, m).routes[0].rules[0]
    total = sum(b.weight for b in rule.backends)
    return {b.backend: round(100 * b.weight / total) for b in rule.backends}


class Run:
    """A rollout driven by hand: Git versions come in, the clock is a number."""

    def __init__(self, signals: InMemorySignals | None = None) -> None:
        self.now = 1000.0
        self.signals = signals or InMemorySignals()
        self.state = plan(Rollouts(), model(("v1", 100)), "c1", self.now)
        self.model = model(("v1", 100))

    def commit(self, m: ir.Model, version: str) -> None:
        self.model = m
        self.state = plan(self.state, m, version, self.now)

    def at(self, seconds: float) -> Rollouts:
        self.now = 1000.0 + seconds
        self.state = tick(self.state, self.model, self.now, self.judge)
        return self.state

    def judge(self, rollout: RuleRollout, analysis: ir.Analysis, start: float, end: float) -> Judgement:
        windows = self.signals.window(rollout.backends, start, end)
        return judge(analysis, windows, rollout.backends, start, end)

    def traffic(self, second: float, **by_backend: tuple[int, int]) -> None:
        for backend, (requests, failures) in by_backend.items():
            self.signals.add(1000.0 + second, Traffic(backend, requests, failures))

    @property
    def rollout(self) -> RuleRollout:
        return self.state.rollouts[RULE]


def healthy(run: Run, until: float) -> None:
    for second in range(0, int(until), 5):
        run.traffic(second, v2=(40, 0), v1=(40, 0))


def test_first_version_is_served_as_declared() -> None:
    state = plan(Rollouts(), model(("v2", 100)), "c1", 0.0)
    assert state.rollouts == {}
    assert served(state, model(("v2", 100))) == {"v2": 100}


def test_a_changed_split_serves_the_first_step_then_each_step_then_the_new_split() -> None:
    run = Run()
    healthy(run, 60)
    run.commit(model(("v2", 100)), "c2")
    assert served(run.state, run.model) == {"v1": 90, "v2": 10}
    assert served(run.at(19.9), run.model) == {"v1": 90, "v2": 10}
    assert served(run.at(20), run.model) == {"v1": 50, "v2": 50}
    assert run.rollout.step == 1
    assert run.at(39.9).rollouts[RULE].phase is Phase.PROGRESSING
    assert run.at(40).rollouts[RULE].phase is Phase.DONE
    assert served(run.state, run.model) == {"v2": 100}


def test_a_late_tick_takes_every_due_step_in_time_order() -> None:
    run = Run()
    healthy(run, 60)
    run.commit(model(("v2", 100)), "c2")
    assert run.at(45).rollouts[RULE].phase is Phase.DONE


def test_too_little_traffic_holds_the_step() -> None:
    run = Run()
    for second in range(0, 60, 5):
        run.traffic(second, v2=(4, 0))  # 8 per 10 s interval, minRequests is 50
    run.commit(model(("v2", 100)), "c2")
    state = run.at(60)
    assert state.rollouts[RULE].step == 0
    assert state.rollouts[RULE].last_outcome is Outcome.INCONCLUSIVE
    assert served(state, run.model) == {"v1": 90, "v2": 10}
    healthy(run, 100)  # traffic grows: the next judged interval passes and the step is taken
    run.signals.buckets = [(at, t) for at, t in run.signals.buckets if at >= 1060]
    for second in range(60, 80, 2):
        run.traffic(second, v2=(20, 0))
    assert run.at(70).rollouts[RULE].step == 1


def test_failing_more_than_failure_limit_rolls_back_to_the_old_split_with_evidence() -> None:
    run = Run()
    for second in range(0, 60, 5):
        run.traffic(second, v2=(50, 10))  # 80% success
    run.commit(model(("v2", 100)), "c2")
    first = run.at(10)
    assert first.rollouts[RULE].phase is Phase.PROGRESSING  # failureLimit 1 tolerates one
    assert first.rollouts[RULE].failures == 1
    state = run.at(20)
    rollout = state.rollouts[RULE]
    assert rollout.phase is Phase.ROLLED_BACK
    assert served(state, run.model) == {"v1": 100}
    [evidence] = rollout.evidence
    assert (evidence.backend, evidence.metric, evidence.threshold) == ("v2", "successRate", 99.0)
    assert evidence.value == 80.0 and evidence.requests == 100
    assert (evidence.interval_start, evidence.interval_end) == (1010.0, 1020.0)
    assert rollout.first_failure_at == 1010.0


def test_rolled_back_stays_rolled_back_until_git_changes() -> None:
    run = Run()
    for second in range(0, 30, 5):
        run.traffic(second, v2=(50, 10))
    run.commit(model(("v2", 100)), "c2")
    run.at(20)
    run.commit(model(("v2", 100)), "c3")  # an unrelated commit: the same failed split
    assert run.at(500).rollouts[RULE].phase is Phase.ROLLED_BACK
    run.commit(model(("v1", 100)), "c4")  # the revert
    assert run.state.rollouts == {}
    [ended] = run.state.history
    assert (ended.commit, ended.phase, ended.evidence[0].metric) == ("c2", Phase.ROLLED_BACK, "successRate")
    assert ended.note.endswith("Git moved on to c4")
    assert served(run.state, run.model) == {"v1": 100}


def test_a_new_split_mid_rollout_restarts_from_the_old_split() -> None:
    run = Run()
    healthy(run, 60)
    run.commit(model(("v2", 100)), "c2")
    run.at(20)
    run.commit(model(("v3", 100)), "c3")
    rollout = run.rollout
    assert (rollout.step, rollout.commit) == (0, "c3")
    assert (rollout.old, rollout.new) == ((("v1", 100),), (("v3", 100),))
    assert served(run.state, run.model) == {"v1": 90, "v3": 10}


def test_a_revert_mid_rollout_ends_it_at_once() -> None:
    run = Run()
    healthy(run, 60)
    run.commit(model(("v2", 100)), "c2")
    run.at(20)
    run.commit(model(("v1", 100)), "c3")
    assert run.state.rollouts == {}
    assert served(run.state, run.model) == {"v1": 100}


def test_a_changed_policy_keeps_the_step_and_a_removed_policy_serves_git() -> None:
    run = Run()
    healthy(run, 60)
    run.commit(model(("v2", 100)), "c2")
    run.at(20)
    shorter = replace(POLICY, steps=(ir.RolloutStep(30, 5_000),))
    run.commit(model(("v2", 100), policy=shorter), "c3")
    assert run.rollout.step == 0  # clamped to the new policy's last step
    assert served(run.state, run.model) == {"v1": 70, "v2": 30}
    run.commit(model(("v2", 100), policy=None), "c4")
    assert run.state.rollouts == {}
    assert served(run.state, run.model) == {"v2": 100}


def test_state_survives_json_round_trip() -> None:
    run = Run()
    for second in range(0, 30, 5):
        run.traffic(second, v2=(50, 10))
    run.commit(model(("v2", 100)), "c2")
    run.at(20)
    assert Rollouts.from_json(run.state.to_json()) == run.state


def test_a_step_rebuilds_only_the_rolling_rule_and_keeps_every_other_route_as_it_was() -> None:
    other = ir.Route("other", ("edge",), (), (ir.Rule("other/0", (), (ir.WeightedBackend("v3", 1),)),))
    m = model(("v1", 100))
    m = replace(m, routes=(*m.routes, other))
    state = plan(Rollouts(), m, "c1", 1000.0)
    moved = replace(m, routes=(replace(m.routes[0], rules=model(("v2", 100)).routes[0].rules), other))
    state = plan(state, moved, "c2", 1000.0)
    out = served_model(state, moved)
    assert out.routes[1] is other  # the translation memo reuses what it built from the same object
    assert [(b.backend, b.weight) for b in out.routes[0].rules[0].backends] == [("v1", 9000), ("v2", 1000)]
