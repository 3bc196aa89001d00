"""Progressive delivery: covered rules move to a new split by steps, judged on the gateway's signals.

Rollout progress is data (:class:`Rollouts`) that the one writer of the cache applies to Git's model
(:func:`served_model`) like any other input; this package never touches the cache, the server or Git.
"""

from gitxds.rollout.analysis import Evidence, Judgement, Outcome, WindowSource, judge
from gitxds.rollout.plan import Rollouts, covered_rules, plan, served_model, tick
from gitxds.rollout.split import Split, blend, new_backends, split_of
from gitxds.rollout.state import Judge, Phase, RuleRollout, advance

__all__ = [
    "Evidence",
    "Judge",
    "Judgement",
    "Outcome",
    "Phase",
    "Rollouts",
    "RuleRollout",
    "Split",
    "WindowSource",
    "advance",
    "blend",
    "covered_rules",
    "judge",
    "new_backends",
    "plan",
    "served_model",
    "split_of",
    "tick",
]
