"""AI traffic inside Envoy: read a request's ``model`` from its JSON body, and token usage from responses.

Four filters, each switched off (``FilterConfig.disabled``) on every route that does not need it:

* ``gitxds.ai.body`` (buffer) and ``gitxds.ai.model`` (json_to_metadata): only on the routes that read a
  body to find its model, buffer up to the gateway's ``modelRouting.maxBodyBytes`` (413 beyond) and
  write ``model`` into the ``gitxds.ai`` metadata namespace. The filter then clears the route cache,
  so the rule whose ``model`` match holds is picked (see :mod:`gitxds.translators.xds.routes`).
* ``gitxds.ai.usage`` (json_to_metadata) and ``gitxds.ai.usage_sse`` (sse_to_metadata): on routes to an
  ``api: openai`` backend, copy ``usage.prompt_tokens`` / ``completion_tokens`` / ``total_tokens`` of a
  JSON answer, or of the last SSE event that carries them, into the same namespace. A response
  without usage writes nothing: it is counted as a request with unknown usage, never as zero tokens.
"""

from __future__ import annotations

import json

from envoy.config.route.v3.route_components_pb2 import DirectResponseAction, FilterConfig
from envoy.extensions.filters.http.buffer.v3.buffer_pb2 import Buffer
from envoy.extensions.filters.http.json_to_metadata.v3.json_to_metadata_pb2 import JsonToMetadata
from envoy.extensions.filters.network.http_connection_manager.v3.http_connection_manager_pb2 import (
    HttpFilter,
)
from envoy.type.matcher.v3.metadata_pb2 import MetadataMatcher
from envoy.type.matcher.v3.regex_pb2 import RegexMatcher
from envoy.type.matcher.v3.string_pb2 import StringMatcher
from envoy.type.matcher.v3.value_pb2 import ValueMatcher
from google.protobuf.any_pb2 import Any
from google.protobuf.json_format import ParseDict
from google.protobuf.struct_pb2 import Struct
from xds.type.v3.typed_struct_pb2 import TypedStruct

from gitxds import ir
from gitxds.translators.xds._proto import packed, uint32

__all__ = [
    "AI_NAMESPACE",
    "BODY_FILTER",
    "INVALID_BODY_STATUS",
    "MODEL_FILTER",
    "MODEL_LABEL_KEY",
    "OTHER_MODEL",
    "UNKNOWN_MODEL_STATUS",
    "USAGE_FILTER",
    "USAGE_KEYS",
    "USAGE_SSE_FILTER",
    "ai_http_filters",
    "body_filters_off",
    "invalid_body_response",
    "model_absent_matcher",
    "model_label",
    "model_matcher",
    "model_present_matcher",
    "unknown_model_response",
    "usage_filters_off",
]

AI_NAMESPACE = "gitxds.ai"
MODEL_KEY = "model"
MODEL_LABEL_KEY = "model"  # route metadata: the rule's model, as the config names it (bounded)
OTHER_MODEL = "other"  # the label of rules without a model match
BODY_FILTER = "gitxds.ai.body"
MODEL_FILTER = "gitxds.ai.model"
USAGE_FILTER = "gitxds.ai.usage"
USAGE_SSE_FILTER = "gitxds.ai.usage_sse"
# Metadata key -> the OpenAI usage field it is read from.
USAGE_KEYS = {
    "input_tokens": "prompt_tokens",
    "output_tokens": "completion_tokens",
    "total_tokens": "total_tokens",
}
# `application/json`, with or without parameters such as `; charset=utf-8`.
JSON_CONTENT_TYPES = r"^application/json(\s*;.*)?$"
INVALID_BODY_STATUS = 400
UNKNOWN_MODEL_STATUS = 404
SSE_MAX_EVENT_BYTES = 64 * 1024  # the final usage event is small; a bigger event is skipped, not buffered


def _typed(type_name: str, config: dict[str, object]) -> Any:
    """Extensions whose protos the Python stubs lack, as a TypedStruct Envoy converts on load."""
    value = Struct()
    value.update(config)
    return packed(TypedStruct(type_url=f"type.googleapis.com/{type_name}", value=value))


def _usage_rules() -> list[dict[str, object]]:
    """json_to_metadata rules (as JSON) copying each OpenAI usage count into the namespace."""
    return [
        {
            "selectors": [{"key": "usage"}, {"key": field}],
            "on_present": {"metadata_namespace": AI_NAMESPACE, "key": key, "type": "NUMBER"},
        }
        for key, field in USAGE_KEYS.items()
    ]


def _json_rules(rules: list[dict[str, object]]) -> JsonToMetadata.MatchRules:
    match_rules = ParseDict({"rules": rules}, JsonToMetadata.MatchRules())
    match_rules.allow_content_types_regex.regex = JSON_CONTENT_TYPES
    return match_rules


def _model_filter() -> JsonToMetadata:
    on_present = {"metadata_namespace": AI_NAMESPACE, "key": MODEL_KEY, "type": "STRING"}
    return JsonToMetadata(
        request_rules=_json_rules([{"selectors": [{"key": MODEL_KEY}], "on_present": on_present}])
    )


def _usage_sse_filter() -> Any:
    # stop_processing_after_matches 0 (the default): the last event that carries usage wins.
    parser = {
        "@type": "type.googleapis.com/envoy.extensions.content_parsers.json.v3.JsonContentParser",
        "rules": [{"rule": rule} for rule in _usage_rules()],
    }
    rules = {
        "content_parser": {"name": "envoy.content_parsers.json", "typed_config": parser},
        "max_event_size": SSE_MAX_EVENT_BYTES,
    }
    return _typed("envoy.extensions.filters.http.sse_to_metadata.v3.SseToMetadata", {"response_rules": rules})


def ai_http_filters(max_body_bytes: int | None, usage: bool) -> list[HttpFilter]:
    """The filters a gateway needs, first in its chain (so every later filter sees the final route).
    Routes that do not need one switch it off (Envoy accepts no empty per-route config to switch a
    filter on, so they are on by default).

    ``max_body_bytes``: the body limit when some route reads the model, else ``None``."""
    filters = []
    if max_body_bytes is not None:
        body = Buffer(max_request_bytes=uint32(max_body_bytes))
        filters += [
            HttpFilter(name=BODY_FILTER, typed_config=packed(body)),
            HttpFilter(name=MODEL_FILTER, typed_config=packed(_model_filter())),
        ]
    if usage:
        usage_json = JsonToMetadata(response_rules=_json_rules(_usage_rules()))
        filters += [
            HttpFilter(name=USAGE_FILTER, typed_config=packed(usage_json)),
            HttpFilter(name=USAGE_SSE_FILTER, typed_config=_usage_sse_filter()),
        ]
    return filters


def _disabled() -> Any:
    return packed(FilterConfig(disabled=True))


def body_filters_off() -> dict[str, Any]:
    """Per-route settings of every route but the body-reading ones."""
    return {BODY_FILTER: _disabled(), MODEL_FILTER: _disabled()}


def usage_filters_off() -> dict[str, Any]:
    """Per-route settings of a route whose backends do not answer with OpenAI usage."""
    return {USAGE_FILTER: _disabled(), USAGE_SSE_FILTER: _disabled()}


def model_label(match: ir.ModelMatch) -> str:
    """The model as a bounded label: the exact name, ``prefix*``, or ``~regex``."""
    if match.kind is ir.HeaderMatchKind.EXACT:
        return match.value
    if match.kind is ir.HeaderMatchKind.PREFIX:
        return match.value + "*"
    return "~" + match.value


def _string_matcher(match: ir.ModelMatch) -> StringMatcher:
    if match.kind is ir.HeaderMatchKind.EXACT:
        return StringMatcher(exact=match.value)
    if match.kind is ir.HeaderMatchKind.PREFIX:
        return StringMatcher(prefix=match.value)
    return StringMatcher(safe_regex=RegexMatcher(regex=match.value))


def _model_path() -> list[MetadataMatcher.PathSegment]:
    return [MetadataMatcher.PathSegment(key=MODEL_KEY)]


def model_matcher(match: ir.ModelMatch) -> MetadataMatcher:
    return MetadataMatcher(
        filter=AI_NAMESPACE, path=_model_path(), value=ValueMatcher(string_match=_string_matcher(match))
    )


def model_present_matcher() -> MetadataMatcher:
    return MetadataMatcher(filter=AI_NAMESPACE, path=_model_path(), value=ValueMatcher(present_match=True))


def model_absent_matcher() -> MetadataMatcher:
    return MetadataMatcher(
        filter=AI_NAMESPACE, path=_model_path(), value=ValueMatcher(present_match=True), invert=True
    )


def _error_response(status: int, message: str, code: str) -> DirectResponseAction:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}})
    response = DirectResponseAction(status=status)
    response.body.inline_string = body + "\n"
    return response


def invalid_body_response() -> DirectResponseAction:
    return _error_response(
        INVALID_BODY_STATUS,
        'the request body must be a JSON object with a "model" string (Content-Type: application/json)',
        "model_missing",
    )


def unknown_model_response() -> DirectResponseAction:
    return _error_response(UNKNOWN_MODEL_STATUS, "no route serves the requested model", "model_not_found")
