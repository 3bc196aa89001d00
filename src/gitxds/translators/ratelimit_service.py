"""Configuration for a global rate limit service (the envoyproxy/ratelimit YAML format).

Envoy describes each request limited by a ``mode: global`` RateLimitPolicy as the descriptor
``[("tier", T), ("key", K)]`` (see :mod:`gitxds.translators.xds.ratelimit`). The matching service
configuration has one document per domain: one descriptor per tier (``key: tier``, ``value: T``)
with a nested ``key: key`` descriptor without a value, so every distinct API key gets its own counter
sized by its tier's rate. Token budgets (``tokens``) repeat that tree under a ``key: budget``,
``value: tokens`` descriptor, whose ``requests_per_unit`` counts tokens: Envoy checks it with
``hits_addend: 0`` when a request arrives and charges each response's total tokens when it ends.
Policies that share a domain share those counters, so they must agree on the rate of every tier they
both name.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from gitxds import ir
from gitxds.errors import GitxdsError
from gitxds.translators.xds.ratelimit import BUDGET_DESCRIPTOR, KEY_DESCRIPTOR, TIER_DESCRIPTOR

__all__ = ["ConflictingLimitsError", "ratelimit_service_configs", "unit_of"]

_UNITS = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


class ConflictingLimitsError(GitxdsError):
    """Two global policies of one domain give one tier different rates."""


def unit_of(rate: ir.Rate) -> str:
    return _UNITS[rate.per_seconds]


def _tier_rates(domain: str, policies: list[ir.RateLimitPolicy], tokens: bool = False) -> dict[str, ir.Rate]:
    rates: dict[str, ir.Rate] = {}
    owners: dict[str, str] = {}
    for policy in policies:
        for tier, rate in policy.token_limits if tokens else policy.limits:
            if tier in rates and rates[tier] != rate:
                raise ConflictingLimitsError(
                    f'RateLimitPolicies "{owners[tier]}" and "{policy.name}" share the domain "{domain}" '
                    f'but give the tier "{tier}" different rates; use a domain per policy or the same rate'
                )
            rates[tier], owners[tier] = rate, policy.name
    return rates


def _tier_descriptors(rates: dict[str, ir.Rate]) -> list[dict[str, Any]]:
    return [
        {
            "key": TIER_DESCRIPTOR,
            "value": tier,
            "descriptors": [
                {
                    "key": KEY_DESCRIPTOR,
                    "rate_limit": {"unit": unit_of(rate), "requests_per_unit": rate.requests},
                }
            ],
        }
        for tier, rate in sorted(rates.items())
    ]


def _domain_document(domain: str, policies: list[ir.RateLimitPolicy]) -> dict[str, Any]:
    descriptors = _tier_descriptors(_tier_rates(domain, policies))
    budgets = _tier_rates(domain, policies, tokens=True)
    if budgets:  # the same tree under ("budget", "tokens"); requests_per_unit counts tokens there
        key, value = BUDGET_DESCRIPTOR
        descriptors.append({"key": key, "value": value, "descriptors": _tier_descriptors(budgets)})
    return {"domain": domain, "descriptors": descriptors}


def ratelimit_service_configs(model: ir.Model) -> list[dict[str, Any]]:
    """One rate limit service document per domain of the model's global policies, sorted by domain."""
    by_domain: dict[str, list[ir.RateLimitPolicy]] = defaultdict(list)
    for policy in model.rate_limit_policies:
        if policy.mode is ir.RateLimitMode.GLOBAL and policy.service is not None:
            by_domain[policy.service.domain].append(policy)
    return [_domain_document(domain, policies) for domain, policies in sorted(by_domain.items())]
