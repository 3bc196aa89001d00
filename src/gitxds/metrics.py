"""Every gitxds metric, registered on a registry the caller passes in (never the global default)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from gitxds import typeurls

# Commit detected -> proxy ACK usually takes milliseconds; the tail matters up to tens of seconds.
CONVERGENCE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BUILD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def short_type(type_url: str) -> str:
    """The ``type`` label value: ``clusters``, ``routes``... (the URL's last part when unknown)."""
    return typeurls.SHORT_NAMES.get(type_url) or type_url.rsplit(".", 1)[-1]


class Metrics:
    """The metric families of one gitxds process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.xds_pushes = Counter(
            "gitxds_xds_pushes", "xDS responses sent to proxies", ["type"], registry=registry
        )
        self.xds_nacks = Counter(
            "gitxds_xds_nacks", "xDS responses rejected by proxies", ["type"], registry=registry
        )
        self.xds_connected_proxies = Gauge(
            "gitxds_xds_connected_proxies", "Open xDS streams", registry=registry
        )
        self.xds_bytes_sent = Counter(
            "gitxds_xds_bytes_sent", "Bytes of xDS responses sent", ["type"], registry=registry
        )
        self.xds_streams = Counter("gitxds_xds_streams", "xDS streams opened", ["variant"], registry=registry)
        self.xds_refused = Counter(
            "gitxds_xds_refused",
            "xDS streams ended by the server: identity (certificate may not receive the gateway), "
            "limit (a client limit exceeded), invalid (a request no Envoy sends)",
            ["reason"],
            registry=registry,
        )
        self.config_version = Info(
            "gitxds_config_version", "Config version (Git commit) being served", registry=registry
        )
        self.snapshot_build_seconds = Histogram(
            "gitxds_snapshot_build_seconds",
            "Time to build a snapshot from config",
            buckets=BUILD_BUCKETS,
            registry=registry,
        )
        self.config_errors = Counter(
            "gitxds_config_errors", "Config problems found, by reason code", ["reason"], registry=registry
        )
        self.convergence_seconds = Histogram(
            "gitxds_convergence_seconds",
            "Time from a config commit being detected to a proxy acknowledging it",
            buckets=CONVERGENCE_BUCKETS,
            registry=registry,
        )
        self.git_fetches = Counter(
            "gitxds_git_fetches", "Fetches of the --git-url remote, by result", ["result"], registry=registry
        )
        self.config_reloads = Counter(
            "gitxds_config_reloads", "Config reload attempts, by result", ["result"], registry=registry
        )
        self.config_reads_held = Counter(
            "gitxds_config_reads_held",
            "Reads of the config directory held back because a writer looked halfway done, by sign",
            ["reason"],
            registry=registry,
        )
        self.config_reads_torn = Counter(
            "gitxds_config_reads_torn",
            "Reads of the config directory read again because a file changed while it was read",
            registry=registry,
        )
        self.reload_failures = Counter(
            "gitxds_reload_failures",
            "Reloads that failed on an error that is not a config problem (I/O, a bug), by reason",
            ["reason"],
            registry=registry,
        )

    def record_push(self, type_url: str, size: int) -> None:
        label = short_type(type_url)
        self.xds_pushes.labels(type=label).inc()
        self.xds_bytes_sent.labels(type=label).inc(size)

    def record_nack(self, type_url: str) -> None:
        self.xds_nacks.labels(type=short_type(type_url)).inc()

    def set_config_version(self, version: str) -> None:
        self.config_version.info({"version": version})
