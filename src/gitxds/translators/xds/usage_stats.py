"""Token counters and a time-to-first-token histogram kept by Envoy itself (its stats access logger).

They live in Envoy's own stats, so they survive a gitxds restart, and Prometheus scrapes them from
Envoy (``/stats/prometheus``). Names follow the OpenTelemetry GenAI conventions:

* ``gitxds.gen_ai.client.token.usage`` (counter of tokens), tags ``gen_ai.token.type`` (input | output),
  ``gen_ai.request.model`` (the rule's model as the config names it, else ``other``), ``gitxds.gateway``,
  ``gitxds.route``, ``gitxds.backend`` and ``gitxds.tier`` (a tier the config names, else ``other``);
* ``gitxds.gen_ai.server.time_to_first_token`` (histogram, ms), tag ``gitxds.backend``: from the start
  of the request to the first byte of the upstream's body (not its headers).

Every tag value is bounded by the config: the model is route metadata, and the tier comes from one
logger per configured tier (a header filter with a fixed tag value) plus one for everything else.
Cost is tokens times the Backend's ``pricing`` (gitxds exports the prices as gauges).
"""

from __future__ import annotations

from envoy.config.accesslog.v3.accesslog_pb2 import AccessLog, AccessLogFilter, AndFilter, HeaderFilter
from envoy.config.route.v3.route_components_pb2 import HeaderMatcher
from envoy.extensions.access_loggers.stats.v3.stats_pb2 import Config
from envoy.type.matcher.v3.string_pb2 import StringMatcher

from gitxds.translators.xds._proto import packed
from gitxds.translators.xds.ai import AI_NAMESPACE, MODEL_LABEL_KEY, OTHER_MODEL, USAGE_KEYS

__all__ = ["OTHER", "STATS_ACCESS_LOG", "STATS_PREFIX", "TTFT_FORMAT", "usage_stats_logs"]

STATS_ACCESS_LOG = "envoy.access_loggers.stats"
STATS_PREFIX = "gitxds"
OTHER = OTHER_MODEL
TOKEN_USAGE = "gen_ai.client.token.usage"
TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token"
TTFT_FORMAT = "%COMMON_DURATION(DS_RX_BEG:US_RX_BODY_BEG:ms)%"  # first upstream body byte, not headers
BACKEND_FORMAT = "%UPSTREAM_METADATA(gitxds:backend)%"
TOKEN_TYPES = {"input": "input_tokens", "output": "output_tokens"}
assert set(TOKEN_TYPES.values()) <= set(USAGE_KEYS)


def _tag(name: str, value_format: str) -> Config.Tag:
    return Config.Tag(name=name, value_format=value_format)


def _token_counters(gateway: str, tier: str) -> list[Config.Counter]:
    tags = [
        _tag("gen_ai.request.model", f"%METADATA(ROUTE:{AI_NAMESPACE}:{MODEL_LABEL_KEY})%"),
        _tag("gitxds.gateway", gateway),
        _tag("gitxds.route", "%ROUTE_NAME%"),
        _tag("gitxds.backend", BACKEND_FORMAT),
        _tag("gitxds.tier", tier),
    ]
    return [
        Config.Counter(
            stat=Config.Stat(name=TOKEN_USAGE, tags=[_tag("gen_ai.token.type", token_type), *tags]),
            value_format=f"%DYNAMIC_METADATA({AI_NAMESPACE}:{key})%",
        )
        for token_type, key in TOKEN_TYPES.items()
    ]


def _logger(config: Config, log_filter: AccessLogFilter | None = None) -> AccessLog:
    log = AccessLog(name=STATS_ACCESS_LOG, typed_config=packed(config))
    if log_filter is not None:
        log.filter.CopyFrom(log_filter)
    return log


def _header_is(header: str, value: str, invert: bool = False) -> AccessLogFilter:
    matcher = HeaderMatcher(
        name=header,
        string_match=StringMatcher(exact=value),
        invert_match=invert,
        treat_missing_header_as_empty=True,
    )
    return AccessLogFilter(header_filter=HeaderFilter(header=matcher))


def usage_stats_logs(gateway: str, tier_header: str | None, tiers: tuple[str, ...]) -> list[AccessLog]:
    """Loggers for a gateway with ``api: openai`` backends: TTFT, then token counters per tier."""
    ttft = Config.Histogram(
        stat=Config.Stat(name=TIME_TO_FIRST_TOKEN, tags=[_tag("gitxds.backend", BACKEND_FORMAT)]),
        unit=Config.Histogram.Milliseconds,
        value_format=TTFT_FORMAT,
    )
    logs = [_logger(Config(stat_prefix=STATS_PREFIX, histograms=[ttft]))]
    if tier_header is None or not tiers:
        return [*logs, _logger(Config(stat_prefix=STATS_PREFIX, counters=_token_counters(gateway, OTHER)))]
    for tier in tiers:
        config = Config(stat_prefix=STATS_PREFIX, counters=_token_counters(gateway, tier))
        logs.append(_logger(config, _header_is(tier_header, tier)))
    unknown = AccessLogFilter(
        and_filter=AndFilter(filters=[_header_is(tier_header, t, invert=True) for t in tiers])
    )
    if len(tiers) == 1:
        unknown = _header_is(tier_header, tiers[0], invert=True)
    logs.append(_logger(Config(stat_prefix=STATS_PREFIX, counters=_token_counters(gateway, OTHER)), unknown))
    return logs
