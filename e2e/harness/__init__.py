"""The e2e harness: real Envoy, real upstream HTTP servers, real requests.

Importable as ``harness`` from every test (``pythonpath = ["e2e"]`` in pyproject). Fixtures that wrap
these live in ``e2e/conftest.py``: ``upstreams`` / ``module_upstreams`` (``upstreams("name", **behaviour)``),
``envoy_factory`` / ``module_envoy_factory`` (``envoy_factory(bootstrap)``), ``control_plane`` (session:
the real xDS server), ``gateway_factory`` / ``module_gateway_factory`` (``gateway_factory(documents,
delta=False)`` -> a running XdsGateway), ``static_gateway_factory`` (StaticGateway), ``envoy_path``.
Every test under e2e/ is marked ``e2e``.

Ports and waiting
    ``free_port()``, ``free_ports(n)``: free 127.0.0.1 ports chosen at run time.
    ``port_accepts(port)``: does a TCP connect succeed now.
    ``wait_for(predicate, timeout=5, interval=0.05, message="")``: poll until truthy, return the value;
    raises ``WaitTimeoutError`` (an AssertionError). A predicate raises ``GiveUpError`` to stop at once.

Envoy
    ``envoy_binary()``: the virtualenv's Envoy; raises ``EnvoyMissingError`` (never skip) if absent.
    ``EnvoyProcess(bootstrap, workdir, log_level="warning", extra_args=(), ready_timeout=10)``:
    bootstrap is a dict or a protobuf ``Bootstrap``; its admin address is replaced by 127.0.0.1:0 (the
    real port is ``.admin_port``). Unique ``--base-id``, hot restart disabled, ``--concurrency 1``,
    output in ``.log_path`` (``.log_tail()``). ``start()`` waits for ``/ready`` == LIVE; context manager.
    Admin helpers: ``config_dump()``, ``stats(filter_regex)`` -> {name: int}, ``stat(name)``,
    ``clusters()`` (raw JSON), ``cluster_names()``, ``hosts(cluster)`` -> [HostStatus(address, port,
    health_flags, stats, healthy)], ``listener_ports()``, ``wait_listening(port)``,
    ``wait_for(predicate, timeout)`` (fails at once if Envoy died), ``admin_get/admin_post(path)``,
    ``stop()``.
    ``validate_bootstrap(bootstrap, workdir)`` -> (accepted, output) runs ``envoy --mode validate``.

Upstreams
    ``UpstreamServer(name, **behaviour).start()`` (or ``with``): threaded HTTP/1.1 on 127.0.0.1, ``.port``.
    Answers ``x-upstream: NAME`` and JSON ``{"backend", "path", "method", "headers"}``.
    ``.requests`` ([RecordedRequest(method, path, headers, body)]), ``.hits``, ``.health_checks``,
    ``.clear()``, ``.reset()``, ``.configure(fail_status=503 (0: hang up, no response),
    fail_mode="always"|"first"|"alternate"|"every",
    fail_count=1, delay=0.0, delay_count=0, hold=False, healthy=True, health_path="/healthz",
    close_connection=False, sse_interval=0.5, sse_duration=2.0,
    sse_first_delay=0.0)`` (the default ``?first_event_delay=``), ``.release()`` (un-hold).
    Per request: ``?status=503``, ``?delay=0.5``, ``?header=name:value`` (response header).
    SSE: ``GET /sse?interval=&duration=&silent_after=``, and ``POST /v1/chat/completions
    {"stream": true}`` (OpenAI-style chunks, ends with ``[DONE]``).
    ``harness.upstream_h2.H2UpstreamServer(name)``: the same API over cleartext HTTP/2 (prior
    knowledge, for ``protocol: HTTP2`` backends); its JSON body adds ``"protocol": "HTTP/2"``.

Client
    ``HttpClient(port, timeout=5)``: keep-alive connection; ``.request(path, method=, headers=, body=,
    timeout=)`` -> ``Response(status, headers, body, elapsed)`` with ``.upstream`` (x-upstream),
    ``.json()``, ``.text``. ``get(port, path, **kw)``: one request on a fresh connection.
    ``send_many(port, count, path, headers=...)`` -> [Response]; ``tally(port, count, path, ...)`` and
    ``tally_upstreams(responses)`` -> Counter of x-upstream (Envoy's own answers as ``"status:503"``).
    ``stream_events(port, path, ...)`` -> (head Response, [StreamEvent(data, at)], ending) where
    ending is "complete", "reset" or "stalled".

gRPC services and certificates (modules imported on their own)
    ``harness.grpc_services``: ``AuthzService(keys)`` (ext_authz) and ``RateLimitService(paths)``
    (fixed-window rate limit service reading ``gitxds export ratelimit`` files), each on a free port.
    ``harness.certs``: ``CertificateAuthority(dir).issue(name, serial=)`` via the ``openssl`` command,
    ``install_certificate(secrets_dir, name, issued)`` (a secret store TLS folder).

Config documents (``harness.configs``)
    ``gateway_doc(name, port, cluster=None, **spec)`` (one HTTP listener on 127.0.0.1:port),
    ``backend_doc(name, ports, **spec)`` (static 127.0.0.1 endpoints), ``route_doc(name, rules,
    gateways=("edge",), hostnames=())``, ``document(kind, name, spec)``: CONFIG.md documents as dicts,
    spec keys in YAML spelling (``circuitBreaker={...}``). ``write_config(directory, documents_or_yaml,
    name="config.yaml")`` writes atomically; ``to_yaml(documents)``; ``compile_config(directory)`` ->
    ir.Model, failing the test on any diagnostic or dropped document.

gitxds-configured Envoys
    ``harness.gateway.StaticGateway(workdir, gateway="edge")``: ``.apply(documents)`` compiles, renders
    ``static_bootstrap`` and (re)starts Envoy. ``harness.xds.ControlPlane()``: the real ``XdsServer`` on
    its own asyncio loop in a thread (``.port``, ``.publish(group, resources)``, ``.in_sync(node_id)``,
    ``.nacks(node_id)``, ``.proxies()``, ``.stop()``). ``harness.xds.XdsGateway(control_plane, workdir,
    gateway="edge", delta=False)``: ``.apply(documents)`` compiles, translates, publishes to a group of
    its own and returns once Envoy ACKed it and its listeners accept; the first apply starts Envoy with
    ``dynamic_bootstrap``, later ones change it live. Both have ``.port`` (first listener), ``.envoy``,
    ``.model``, ``.config_dir``, ``.stop()``.
"""

from harness.client import (
    HttpClient,
    Response,
    StreamEvent,
    get,
    send_many,
    stream_events,
    tally,
    tally_upstreams,
)
from harness.envoy import (
    EnvoyMissingError,
    EnvoyProcess,
    HostStatus,
    bootstrap_as_dict,
    envoy_binary,
    validate_bootstrap,
)
from harness.ports import LOOPBACK, free_port, free_ports, port_accepts
from harness.upstream import Behaviour, RecordedRequest, UpstreamServer
from harness.waiting import GiveUpError, WaitTimeoutError, wait_for

__all__ = [
    "LOOPBACK",
    "Behaviour",
    "EnvoyMissingError",
    "EnvoyProcess",
    "GiveUpError",
    "HostStatus",
    "HttpClient",
    "RecordedRequest",
    "Response",
    "StreamEvent",
    "UpstreamServer",
    "WaitTimeoutError",
    "bootstrap_as_dict",
    "envoy_binary",
    "free_port",
    "free_ports",
    "get",
    "port_accepts",
    "send_many",
    "stream_events",
    "tally",
    "tally_upstreams",
    "validate_bootstrap",
    "wait_for",
]
