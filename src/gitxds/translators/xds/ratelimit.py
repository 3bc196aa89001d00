"""Rate-limit filters: one filter instance per RateLimitPolicy used on a gateway.

Both modes describe a request the same way, as the descriptor ``[("tier", T), ("key", K)]``: ``K`` is
the value of the policy's key header and ``T`` the value of its tier header when it names a known
tier, else the default tier. Local mode gives every distinct (tier, key) its own token bucket inside
Envoy (wildcard descriptor values); global mode sends the descriptor to the policy's rate limit
service. In local mode, requests without the key header share one bucket sized by the default tier.
"""

from __future__ import annotations

import re

from envoy.config.core.v3.base_pb2 import RuntimeFractionalPercent
from envoy.config.core.v3.config_source_pb2 import ApiVersion
from envoy.config.core.v3.grpc_service_pb2 import GrpcService
from envoy.config.ratelimit.v3.rls_pb2 import RateLimitServiceConfig
from envoy.config.route.v3.route_components_pb2 import HeaderMatcher, RateLimit
from envoy.extensions.common.ratelimit.v3.ratelimit_pb2 import (
    LocalRateLimitDescriptor,
    RateLimitDescriptor,
    XRateLimitHeadersRFCVersion,
)
from envoy.extensions.filters.http.local_ratelimit.v3.local_rate_limit_pb2 import LocalRateLimit
from envoy.extensions.filters.http.ratelimit.v3 import rate_limit_pb2
from envoy.type.matcher.v3.regex_pb2 import RegexMatcher
from envoy.type.matcher.v3.string_pb2 import StringMatcher
from envoy.type.v3.percent_pb2 import FractionalPercent
from envoy.type.v3.token_bucket_pb2 import TokenBucket
from google.protobuf.wrappers_pb2 import BoolValue

from gitxds import ir
from gitxds.translators.xds._proto import duration, uint32
from gitxds.translators.xds.ai import AI_NAMESPACE

__all__ = [
    "BUDGET_DESCRIPTOR",
    "KEY_DESCRIPTOR",
    "MAX_TRACKED_KEYS",
    "TIER_DESCRIPTOR",
    "global_rate_limit_for",
    "local_rate_limit_for",
    "rate_limit_actions_for",
    "token_bucket_for",
]

TIER_DESCRIPTOR = "tier"
KEY_DESCRIPTOR = "key"
# Token budgets are told apart from request limits by a leading ("budget", "tokens") entry.
BUDGET_DESCRIPTOR = ("budget", "tokens")
TOTAL_TOKENS_FORMAT = f"%DYNAMIC_METADATA({AI_NAMESPACE}:total_tokens)%"
# Buckets Envoy keeps per local policy before it forgets the least recently seen key.
MAX_TRACKED_KEYS = 65536
RATE_LIMIT_SERVICE_TIMEOUT_MS = 100


def token_bucket_for(rate: ir.Rate) -> TokenBucket:
    return TokenBucket(
        max_tokens=rate.requests,
        tokens_per_fill=uint32(rate.requests),
        fill_interval=duration(rate.per_seconds * 1000),
    )


def _tier_value_action(policy: ir.RateLimitPolicy, tier: str) -> RateLimit.Action:
    assert policy.tier_header is not None
    match = HeaderMatcher(name=policy.tier_header, string_match=StringMatcher(exact=tier))
    return RateLimit.Action(
        header_value_match=RateLimit.Action.HeaderValueMatch(
            descriptor_key=TIER_DESCRIPTOR, descriptor_value=tier, headers=[match]
        )
    )


def _default_tier_action(
    policy: ir.RateLimitPolicy, rates: tuple[tuple[str, ir.Rate], ...]
) -> RateLimit.Action:
    """``tier = default`` when the tier header is absent or names no tier of ``rates``."""
    if policy.tier_header is None:
        generic = RateLimit.Action.GenericKey(
            descriptor_key=TIER_DESCRIPTOR, descriptor_value=policy.default_tier
        )
        return RateLimit.Action(generic_key=generic)
    known = "|".join(re.escape(tier) for tier, _ in rates)
    unknown_tier = HeaderMatcher(
        name=policy.tier_header,
        string_match=StringMatcher(safe_regex=RegexMatcher(regex=f"^({known})$")),
        invert_match=True,
        treat_missing_header_as_empty=True,
    )
    return RateLimit.Action(
        header_value_match=RateLimit.Action.HeaderValueMatch(
            descriptor_key=TIER_DESCRIPTOR, descriptor_value=policy.default_tier, headers=[unknown_tier]
        )
    )


def _tier_action_lists(
    policy: ir.RateLimitPolicy, rates: tuple[tuple[str, ir.Rate], ...]
) -> list[list[RateLimit.Action]]:
    """One action list per tier; exactly one yields a descriptor for a request carrying the key."""
    key = RateLimit.Action(
        request_headers=RateLimit.Action.RequestHeaders(header_name=policy.key_header, descriptor_key="key")
    )
    tier_actions = [_default_tier_action(policy, rates)]
    if policy.tier_header is not None:
        tier_actions += [_tier_value_action(policy, tier) for tier, _ in rates]
    return [[tier_action, key] for tier_action in tier_actions]


def rate_limit_actions_for(policy: ir.RateLimitPolicy) -> list[RateLimit]:
    """Request limits, then token budgets: each budget is checked when a request arrives (hits 0:
    refused once the key is over) and charged the response's total tokens when the stream ends."""
    limits = (
        [RateLimit(actions=actions) for actions in _tier_action_lists(policy, policy.limits)]
        if policy.limits
        else []
    )
    if not policy.token_limits:
        return limits
    budget_key, budget_value = BUDGET_DESCRIPTOR
    budget = RateLimit.Action(
        generic_key=RateLimit.Action.GenericKey(descriptor_key=budget_key, descriptor_value=budget_value)
    )
    for actions in _tier_action_lists(policy, policy.token_limits):
        check = RateLimit(actions=[budget, *actions])
        check.hits_addend.number.value = 0
        charge = RateLimit(actions=[budget, *actions], apply_on_stream_done=True)
        charge.hits_addend.format = TOTAL_TOKENS_FORMAT
        limits += [check, charge]
    return limits


def _always() -> RuntimeFractionalPercent:
    return RuntimeFractionalPercent(
        default_value=FractionalPercent(numerator=100, denominator=FractionalPercent.HUNDRED)
    )


def _rate_of(policy: ir.RateLimitPolicy, tier: str) -> ir.Rate:
    return dict(policy.limits)[tier]


def local_rate_limit_for(policy: ir.RateLimitPolicy) -> LocalRateLimit:
    descriptors = [
        LocalRateLimitDescriptor(
            entries=[
                RateLimitDescriptor.Entry(key=TIER_DESCRIPTOR, value=tier),
                RateLimitDescriptor.Entry(key=KEY_DESCRIPTOR, value=""),  # empty: a bucket per key
            ],
            token_bucket=token_bucket_for(rate),
        )
        for tier, rate in policy.limits
    ]
    return LocalRateLimit(
        stat_prefix=f"gitxds_{policy.name}",
        token_bucket=token_bucket_for(_rate_of(policy, policy.default_tier)),
        filter_enabled=_always(),
        filter_enforced=_always(),
        descriptors=descriptors,
        rate_limits=rate_limit_actions_for(policy),
        max_dynamic_descriptors=uint32(MAX_TRACKED_KEYS),
        always_consume_default_token_bucket=BoolValue(value=False),
        enable_x_ratelimit_headers=XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
    )


def global_rate_limit_for(policy: ir.RateLimitPolicy) -> rate_limit_pb2.RateLimit:
    assert policy.service is not None
    grpc = GrpcService(envoy_grpc=GrpcService.EnvoyGrpc(cluster_name=policy.service.backend))
    return rate_limit_pb2.RateLimit(
        domain=policy.service.domain,
        stat_prefix=f"gitxds_{policy.name}",
        timeout=duration(RATE_LIMIT_SERVICE_TIMEOUT_MS),
        rate_limit_service=RateLimitServiceConfig(grpc_service=grpc, transport_api_version=ApiVersion.V3),
        rate_limits=rate_limit_actions_for(policy),
        enable_x_ratelimit_headers=XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
    )
