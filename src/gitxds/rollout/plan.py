"""Rollouts of a whole config: started, carried on or ended by each new Git version, and applied.

``plan`` decides what a new config version means for every covered rule (see the table in
docs/config.md); ``tick`` moves the rollouts on with the clock; ``served_model`` is the model the
proxies get: Git's model with each rolling rule's backends blended. All three are pure.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from itertools import compress
from typing import Any

from gitxds import ir
from gitxds.rollout.split import Split, blend, new_backends, split_of
from gitxds.rollout.state import Judge, Phase, RuleRollout, advance

__all__ = ["HISTORY", "Rollouts", "covered_rules", "plan", "policies_of", "served_model", "tick"]

HISTORY = 20


@dataclass(frozen=True)
class Rollouts:
    """Everything a restart or another replica needs to serve the same step."""

    declared: Mapping[str, Split] = field(default_factory=dict)  # rule -> split of the last version
    rollouts: Mapping[str, RuleRollout] = field(default_factory=dict)
    history: tuple[RuleRollout, ...] = ()  # the latest ended rollouts, newest first (for status)

    def to_json(self) -> dict[str, Any]:
        return {
            "declared": {
                rule: [list(pair) for pair in split] for rule, split in sorted(self.declared.items())
            },
            "rollouts": [r.to_json() for _, r in sorted(self.rollouts.items())],
            "history": [r.to_json() for r in self.history],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Rollouts:
        declared = {
            str(rule): tuple((str(b), int(w)) for b, w in split) for rule, split in data["declared"].items()
        }
        rollouts = (RuleRollout.from_json(item) for item in data["rollouts"])
        history = tuple(RuleRollout.from_json(item) for item in data.get("history", ()))
        return Rollouts(declared, {r.rule: r for r in rollouts}, history[:HISTORY])


def covered_rules(model: ir.Model) -> Iterator[tuple[ir.Rule, ir.RolloutPolicy]]:
    if not model.rollout_policies:
        return  # no walk over every route: most configs have no rollout policy
    for route in model.routes:
        policy = model.rollout_policy_for(route.name)
        if policy is not None:
            for rule in route.rules:
                yield rule, policy


def policies_of(model: ir.Model, rules: Iterable[str]) -> dict[str, ir.RolloutPolicy]:
    """The policy covering each of ``rules`` that ``model`` still has: lookups for the routes of
    those rules, not a walk of every rule (a step at 10,000 routes touches only its own)."""
    wanted = set(rules)
    if not wanted:
        return {}  # /status asks on every call, mostly with no rollout at all: no walk of 10,000 routes
    routes = {_route_of(rule) for rule in wanted}
    found: dict[str, ir.RolloutPolicy] = {}
    for route in model.routes:
        if route.name in routes and (policy := model.rollout_policy_for(route.name)) is not None:
            found.update((rule.name, policy) for rule in route.rules if rule.name in wanted)
    return found


def _route_of(rule: str) -> str:
    return rule.rpartition("/")[0]  # a rule is named "<route>/<index>"


def plan(state: Rollouts, model: ir.Model, version: str, now: float) -> Rollouts:
    """The rollouts after Git moved to ``model`` (``version``); the first version ever starts none."""
    declared = _Declared(model.routes)
    rollouts: dict[str, RuleRollout] = {}
    for rule, policy in covered_rules(model):
        current = state.rollouts.get(rule.name)
        wanted = declared[rule.name]
        if current is not None:
            current = _carried_on(current, wanted, policy, version, now)
        elif rule.name in state.declared and state.declared[rule.name] != wanted:
            current = _started(rule.name, policy, state.declared[rule.name], wanted, version=version, now=now)
        if current is not None:
            rollouts[rule.name] = current
    ended = tuple(
        _ended(r, version)
        for name, r in state.rollouts.items()
        if name not in rollouts or rollouts[name].commit != r.commit
    )
    return Rollouts(declared, rollouts, (*ended, *state.history)[:HISTORY])


class _DeclaredSplits:
    """Every rule's declared split, by rule name, for the routes of the last call. Each version is
    planned, so at 10,000 routes a walk of every rule per edit (~10 ms) is replaced by the routes
    that are not the very objects of the last call (the incremental compile keeps the others)."""

    def __init__(self) -> None:
        self._last: tuple[tuple[ir.Route, ...], dict[str, Split], int] = ((), {}, 0)

    def of(self, routes: tuple[ir.Route, ...]) -> Mapping[str, Split]:
        last_routes, last, rules = self._last  # one read: a racing call replaces all three at once
        if routes is last_routes:
            return last
        declared = None
        if len(routes) == len(last_routes) and len(last) == rules:  # rule names were unique
            changed = list(compress(range(len(routes)), map(operator.is_not, last_routes, routes)))
            declared = dict(last)
            for index in changed:
                for rule in last_routes[index].rules:
                    del declared[rule.name]
                    rules -= 1
            for index in changed:
                declared.update((rule.name, split_of(rule.backends)) for rule in routes[index].rules)
                rules += len(routes[index].rules)
        if declared is None or len(declared) != rules:  # a rule name twice: the last one wins
            declared = {rule.name: split_of(rule.backends) for route in routes for rule in route.rules}
            rules = sum(len(route.rules) for route in routes)
        self._last = (routes, declared, rules)
        return declared


_DECLARED = _DeclaredSplits()


class _Declared(Mapping[str, Split]):
    """The declared splits of ``routes``, worked out on first use. Only covered rules read them, so a
    version of a config without rollout policies never does (at 10,000 routes, keeping them cost
    1.5 ms an edit in serve); once read, they are those of ``_DECLARED``, kept across versions."""

    __slots__ = ("_routes", "_splits")

    def __init__(self, routes: tuple[ir.Route, ...]) -> None:
        self._routes = routes
        self._splits: Mapping[str, Split] | None = None

    def _all(self) -> Mapping[str, Split]:
        if self._splits is None:
            self._splits = _DECLARED.of(self._routes)
        return self._splits

    def __getitem__(self, rule: str) -> Split:
        return self._all()[rule]

    def __contains__(self, rule: object) -> bool:
        return rule in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Declared) and other._routes is self._routes:
            return True  # the same version's routes: no need to work the splits out
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self._all()) == dict(other._all() if isinstance(other, _Declared) else other)

    __hash__ = None  # type: ignore[assignment]  # like a dict


def _ended(rollout: RuleRollout, version: str) -> RuleRollout:
    """A rollout that the version ``version`` replaced or made moot, kept for status."""
    if rollout.active:
        return replace(rollout, note=f"ended at step {rollout.step + 1} by {version}")
    return replace(rollout, note=f"{rollout.note}; Git moved on to {version}")


def _carried_on(
    current: RuleRollout, wanted: Split, policy: ir.RolloutPolicy, version: str, now: float
) -> RuleRollout | None:
    if wanted == current.new:
        last = len(policy.steps) - 1  # the policy may have changed and have fewer steps now
        return replace(current, policy=policy.name, step=min(current.step, last))
    served = current.new if current.phase is Phase.DONE else current.old
    if wanted == served:
        return None  # Git declares what is served (a revert): nothing to roll out
    return _started(current.rule, policy, served, wanted, version=version, now=now)


def _started(
    rule: str, policy: ir.RolloutPolicy, old: Split, new: Split, *, version: str, now: float
) -> RuleRollout:
    return RuleRollout(
        rule=rule,
        policy=policy.name,
        commit=version,
        old=old,
        new=new,
        backends=new_backends(old, new),
        step=0,
        step_started_at=now,
        interval_started_at=now,
        started_at=now,
    )


def tick(state: Rollouts, model: ir.Model, now: float, judge: Judge) -> Rollouts:
    """Every active rollout moved on to ``now``."""
    policies = policies_of(model, state.rollouts)
    moved = {
        name: advance(rollout, policies[name], now, judge) if name in policies else rollout
        for name, rollout in state.rollouts.items()
    }
    return replace(state, rollouts=moved)


def served_model(state: Rollouts, model: ir.Model) -> ir.Model:
    """``model`` with every rolling rule serving its blend of old and new split."""
    if not state.rollouts:
        return model
    policies = policies_of(model, state.rollouts)
    rolling = {_route_of(rule) for rule in policies}
    routes = []
    for route in model.routes:
        if route.name not in rolling:
            routes.append(route)  # the same object: the translation memo reuses its resources
            continue
        rules = tuple(
            _served_rule(rule, state.rollouts.get(rule.name), policies.get(rule.name)) for rule in route.rules
        )
        routes.append(route if rules == route.rules else replace(route, rules=rules))
    return replace(model, routes=tuple(routes))


def _served_rule(rule: ir.Rule, rollout: RuleRollout | None, policy: ir.RolloutPolicy | None) -> ir.Rule:
    if rollout is None or policy is None or rollout.phase is Phase.DONE:
        return rule
    return replace(rule, backends=blend(rollout.old, rollout.new, rollout.weight(policy)))
