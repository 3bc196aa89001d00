"""IR -> Envoy v3 resources: one small pure builder per Envoy message; :mod:`.gateway` composes them.

Builders take only hashable values (IR objects, :class:`SecretValues`, :class:`FilterPlan`, tuples),
so a cache can memoize each resource by its inputs and rebuild only what changed.
"""

from gitxds.translators.xds.bootstrap import (
    MAX_XDS_MESSAGE_BYTES,
    XDS_CLUSTER,
    bootstrap_json,
    dynamic_bootstrap,
    static_bootstrap,
    static_bootstrap_of,
)
from gitxds.translators.xds.clusters import aggregate_cluster_for, aggregate_cluster_name, cluster_for
from gitxds.translators.xds.documents import document_for, redacted_documents, resource_documents
from gitxds.translators.xds.endpoints import (
    DiscoveredEndpoints,
    discovered_assignments,
    load_assignment_for,
    load_assignment_of,
)
from gitxds.translators.xds.filters import FilterPlan, filter_plan_for, http_filters_for
from gitxds.translators.xds.gateway import hash_headers_for, translate_gateway
from gitxds.translators.xds.incremental import RouteConfigurationBytes, as_messages, translate_incrementally
from gitxds.translators.xds.listeners import listener_for, listener_name, route_configuration_name
from gitxds.translators.xds.memo import TranslationMemo
from gitxds.translators.xds.routes import (
    BACKEND_HEADER,
    route_configuration_for,
    routes_for,
    virtual_hosts_for,
)
from gitxds.translators.xds.secrets import REDACTED, SecretValues, UnknownSecretError, secret_for

__all__ = [
    "BACKEND_HEADER",
    "MAX_XDS_MESSAGE_BYTES",
    "REDACTED",
    "XDS_CLUSTER",
    "DiscoveredEndpoints",
    "FilterPlan",
    "RouteConfigurationBytes",
    "SecretValues",
    "TranslationMemo",
    "UnknownSecretError",
    "aggregate_cluster_for",
    "aggregate_cluster_name",
    "as_messages",
    "bootstrap_json",
    "cluster_for",
    "discovered_assignments",
    "document_for",
    "dynamic_bootstrap",
    "filter_plan_for",
    "hash_headers_for",
    "http_filters_for",
    "listener_for",
    "listener_name",
    "load_assignment_for",
    "load_assignment_of",
    "redacted_documents",
    "resource_documents",
    "route_configuration_for",
    "route_configuration_name",
    "routes_for",
    "secret_for",
    "static_bootstrap",
    "static_bootstrap_of",
    "translate_gateway",
    "translate_incrementally",
    "virtual_hosts_for",
]
