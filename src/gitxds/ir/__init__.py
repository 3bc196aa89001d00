"""The internal model between config and every output. See :mod:`gitxds.ir.model`."""

from gitxds.ir.model import *  # noqa: F403
from gitxds.ir.model import __all__ as _model_all
from gitxds.ir.rollout import *  # noqa: F403
from gitxds.ir.rollout import __all__ as _rollout_all

__all__ = list(_model_all) + list(_rollout_all)
