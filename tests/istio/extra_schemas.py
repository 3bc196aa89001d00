"""Structural schemas for the exported kinds whose CRDs are not in ../shared/istio/crds.

Hand-written from the Istio API reference (AuthorizationPolicy security.istio.io/v1, EnvoyFilter
networking.istio.io/v1alpha3, Telemetry telemetry.istio.io/v1), limited to field names, types and
enums: enough for the strict validator to catch a misspelled or misplaced field in the export.
"""

from __future__ import annotations

from typing import Any


def _string() -> dict[str, Any]:
    return {"type": "string"}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": _string()}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def _labels() -> dict[str, Any]:
    return {"type": "object", "additionalProperties": _string()}


def _enum(*values: str) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_OPERATION = _object(
    **{
        key: _strings()
        for key in ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")
    }
)
_SOURCE = _object(
    **{
        key: _strings()
        for key in (
            "principals",
            "notPrincipals",
            "requestPrincipals",
            "notRequestPrincipals",
            "namespaces",
            "notNamespaces",
            "ipBlocks",
            "notIpBlocks",
            "remoteIpBlocks",
            "notRemoteIpBlocks",
        )
    }
)
_CONDITION = {**_object(key=_string(), values=_strings(), notValues=_strings()), "required": ["key"]}

AUTHORIZATION_POLICY: dict[str, Any] = _object(
    spec=_object(
        selector=_object(matchLabels=_labels()),
        action=_enum("ALLOW", "DENY", "AUDIT", "CUSTOM"),
        provider=_object(name=_string()),
        rules={
            "type": "array",
            "items": _object(
                **{
                    "from": {"type": "array", "items": _object(source=_SOURCE)},
                    "to": {"type": "array", "items": _object(operation=_OPERATION)},
                    "when": {"type": "array", "items": _CONDITION},
                }
            ),
        },
    ),
    status={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
)

_FILTER = _object(name=_string(), subFilter=_object(name=_string()))
_LISTENER = _object(
    portNumber={"type": "integer"},
    name=_string(),
    filterChain=_object(
        name=_string(),
        sni=_string(),
        transportProtocol=_string(),
        applicationProtocols=_string(),
        destinationPort={"type": "integer"},
        filter=_FILTER,
    ),
)
_ROUTE_CONFIGURATION = _object(
    portNumber={"type": "integer"},
    portName=_string(),
    gateway=_string(),
    name=_string(),
    vhost=_object(
        name=_string(),
        domainName=_string(),
        route=_object(name=_string(), action=_enum("ANY", "ROUTE", "REDIRECT", "DIRECT_RESPONSE")),
    ),
)
_PATCH_TARGETS = (
    "INVALID",
    "LISTENER",
    "FILTER_CHAIN",
    "NETWORK_FILTER",
    "HTTP_FILTER",
    "ROUTE_CONFIGURATION",
    "VIRTUAL_HOST",
    "HTTP_ROUTE",
    "CLUSTER",
    "EXTENSION_CONFIG",
    "BOOTSTRAP",
    "LISTENER_FILTER",
)
_PATCH_OPERATIONS = (
    "INVALID",
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
)

ENVOY_FILTER: dict[str, Any] = _object(
    spec=_object(
        workloadSelector=_object(labels=_labels()),
        priority={"type": "integer"},
        configPatches={
            "type": "array",
            "items": _object(
                applyTo=_enum(*_PATCH_TARGETS),
                match=_object(
                    context=_enum("ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY"),
                    listener=_LISTENER,
                    routeConfiguration=_ROUTE_CONFIGURATION,
                    cluster=_object(
                        portNumber={"type": "integer"}, service=_string(), subset=_string(), name=_string()
                    ),
                ),
                patch=_object(
                    operation=_enum(*_PATCH_OPERATIONS),
                    value={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                ),
            ),
        },
    ),
    status={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
)

_PROVIDERS = {"type": "array", "items": _object(name=_string())}
TELEMETRY: dict[str, Any] = _object(
    spec=_object(
        selector=_object(matchLabels=_labels()),
        accessLogging={
            "type": "array",
            "items": _object(
                providers=_PROVIDERS, disabled={"type": "boolean"}, filter=_object(expression=_string())
            ),
        },
        tracing={
            "type": "array",
            "items": _object(
                providers=_PROVIDERS,
                randomSamplingPercentage={"type": "number"},
                disableSpanReporting={"type": "boolean"},
                customTags={
                    "type": "object",
                    "additionalProperties": _object(
                        literal=_object(value=_string()),
                        environment=_object(name=_string(), defaultValue=_string()),
                        header=_object(name=_string(), defaultValue=_string()),
                    ),
                },
            ),
        },
        metrics={"type": "array"},
    ),
    status={"type": "object", "x-kubernetes-preserve-unknown-fields": True},
)

EXTRA_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("telemetry.istio.io/v1", "Telemetry"): TELEMETRY,
    ("security.istio.io/v1", "AuthorizationPolicy"): AUTHORIZATION_POLICY,
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): ENVOY_FILTER,
}
