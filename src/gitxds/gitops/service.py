"""``gitxds serve`` assembled: reconciler, xDS server, admin endpoint, watcher and Git sync."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gitxds import ir
from gitxds.discovery import EndpointDiscovery, EndpointsChanged, discovery_api
from gitxds.errors import UsageError
from gitxds.gitops.admin import AdminServer
from gitxds.gitops.checkout import CheckoutLock, claim_checkout
from gitxds.gitops.coalesce import Coalesced
from gitxds.gitops.discovered import EndpointFeed
from gitxds.gitops.envoy_check import find_envoy
from gitxds.gitops.exposure import open_exposures
from gitxds.gitops.gitauth import GitCredentials
from gitxds.gitops.gitcmd import GitError, redact_url_credentials
from gitxds.gitops.gitsync import GitSync
from gitxds.gitops.last_good import restore_last_good
from gitxds.gitops.reconciler import Reconciler
from gitxds.gitops.resident_validator import ResidentValidator
from gitxds.gitops.rollout_lease import RolloutLease, lease_api
from gitxds.gitops.rollouts import RolloutDriver
from gitxds.gitops.secrets import SecretStore
from gitxds.gitops.status import Attempt, ReloadFailure
from gitxds.gitops.watch import ConfigWatcher
from gitxds.gitops.xds_tls import XdsServerTls
from gitxds.metrics import Metrics, short_type
from gitxds.rollout.controller import ManualError
from gitxds.signals.peers import PeerSignals
from gitxds.signals.wiring import PriceCollector, signals_for
from gitxds.xds.cache import SnapshotCache
from gitxds.xds.server import ProxyStatus, XdsEvent, XdsServer


@dataclass(frozen=True)
class ServeOptions:
    config_dir: Path  # with git_url: the folder inside the repository
    xds_address: str = "127.0.0.1:18000"
    admin_address: str = "127.0.0.1:9900"
    git_url: str | None = None
    git_branch: str = "main"
    git_poll_seconds: float = 15.0
    checkout_dir: Path | None = None
    git_credentials: str | None = None  # an entry of secrets_dir: a token, USER:TOKEN or an SSH key
    secrets_dir: Path | None = None
    envoy_validate: bool = True
    envoy_path: str | None = None
    admin_token: str | None = None
    admin_allowed_hosts: frozenset[str] = frozenset()  # Host names answered without a token
    insecure: bool = False  # allow xDS without mutual TLS / admin without a token beyond loopback
    watch_quiet_ms: int = 5  # see docs/operations.md: detection latency against idle CPU
    watch_max_delay_ms: int = 500
    write_grace_ms: int = 250  # a read that looks half-written waits this long (gitxds.gitops.settle)
    xds_tls: XdsServerTls | None = None  # TLS (mutual with a client CA) on the xDS port
    kubeconfig: Path | None = None  # for kubernetes backends; else in-cluster when in_cluster
    in_cluster: bool = False
    discovery_sync_seconds: float = 10.0  # a starting replica waits this long for the first lists
    rollout_state: Path | None = None  # rollout progress survives restarts in this file
    rollout_tick_seconds: float = 0.2
    rollout_settle_seconds: float = 1.5  # Envoy flushes access logs every 1s
    rollout_lease: str | None = None  # "NAMESPACE/NAME": several replicas, one drives the rollouts
    peers: tuple[str, ...] = ()  # other replicas' admin URLs: analysis adds their proxies' traffic
    peer_dns: tuple[str, int] | None = None  # a headless Service resolving to every replica, admin port


def _mutual_tls(options: ServeOptions) -> bool:
    return options.xds_tls is not None and options.xds_tls.client_ca is not None


def exposures(options: ServeOptions) -> list[str]:
    """Ports reachable beyond this host without their protection (allowed only with ``insecure``)."""
    return open_exposures(
        xds_address=options.xds_address,
        mutual_tls=_mutual_tls(options),
        admin_address=options.admin_address,
        admin_token=options.admin_token is not None,
    )


def _git_credentials(options: ServeOptions) -> GitCredentials | None:
    if options.git_credentials is None:
        return None
    if options.secrets_dir is None or options.git_url is None:
        raise UsageError("--git-credentials names an entry of --secrets-dir and needs --git-url")
    return GitCredentials(options.secrets_dir, options.git_credentials, options.git_url)


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class GitxdsService:
    """One gitxds process. Also the admin endpoint's backend (see :class:`AdminBackend`)."""

    def __init__(
        self,
        options: ServeOptions,
        *,
        registry: CollectorRegistry | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.options = options
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # one line per event is noise
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self._log = logger or logging.getLogger("gitxds")
        self.git: GitSync | None = None
        self._checkout_lock: CheckoutLock | None = None
        credentials = _git_credentials(options)
        config_dir = options.config_dir
        if options.git_url:
            self._checkout_lock = claim_checkout(options.git_url, options.git_branch, options.checkout_dir)
            checkout = self._checkout_lock.checkout
            self.git = GitSync(
                options.git_url,
                checkout,
                branch=options.git_branch,
                poll_seconds=options.git_poll_seconds,
                metrics=self.metrics,
                credentials=credentials,
            )
            config_dir = checkout / options.config_dir
        self.config_dir = config_dir
        self.secrets = SecretStore(options.secrets_dir)
        envoy = find_envoy(options.envoy_path) if options.envoy_validate else None
        self.validator = ResidentValidator(envoy, logger=self._log) if envoy else None
        self.cache = SnapshotCache()
        self.signals, self.signals_receiver = signals_for(lambda: self.reconciler.model)
        self.replica = f"{socket.gethostname()}-{os.getpid()}"  # names this process to Lease and peers
        self.peer_signals = PeerSignals(
            self.signals,
            replica=self.replica,
            peers=options.peers,
            dns=options.peer_dns,
            token=options.admin_token,
            logger=self._log,
            registry=self.registry,
        )
        self.rollout_driver = RolloutDriver(
            self.registry,
            signals=self.peer_signals,
            state_file=options.rollout_state,
            tick_seconds=options.rollout_tick_seconds,
            settle_seconds=options.rollout_settle_seconds,
            logger=self._log,
            lease=self._rollout_lease(options),
        )
        self.reconciler = Reconciler(
            config_dir,
            self.cache,
            self.metrics,
            secrets=self.secrets,
            envoy=envoy,
            logger=self._log,
            follow=self._follow_kubernetes_sources,
            rollouts=self.rollout_driver.controller,
            validator=self.validator,
            write_grace=options.write_grace_ms / 1000,
        )
        self.discovered = EndpointFeed(self._start_discovery, self.reconciler.set_endpoints, logger=self._log)
        self.xds = XdsServer(
            self.cache,
            metrics=self.metrics,
            logger=self._log,
            identity_policy=self._identities_of if _mutual_tls(options) else None,
        )
        self.xds.on_event(self._on_xds_event)
        if _mutual_tls(options):  # access logs count only from proxies of the gateway they name
            self.signals_receiver.authorize = self.xds.peer_may_act_for
        self.xds.add_servicer(self.signals_receiver.register)
        self.registry.register(PriceCollector(lambda: self.reconciler.model))
        self.admin = AdminServer(self, token=options.admin_token, allowed_hosts=options.admin_allowed_hosts)
        self._sync_once = Coalesced(self._sync)
        self.xds_port = 0
        self.admin_port = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._converged: dict[str, str] = {}  # node id -> config version whose convergence was observed
        self._last_ack: dict[str, float] = {}  # node id -> monotonic time of its latest ACK
        self._convergence_check: asyncio.Handle | None = None

    def _rollout_lease(self, options: ServeOptions) -> RolloutLease | None:
        if options.rollout_lease is None:
            return None
        namespace, _, name = options.rollout_lease.partition("/")
        return RolloutLease(lease_api(options.kubeconfig), namespace, name, self.replica, logger=self._log)

    def _follow_kubernetes_sources(self, sources: frozenset[ir.KubernetesEndpoints]) -> None:
        self.discovered.follow(sources)

    def _identities_of(self, gateway: str) -> frozenset[str]:
        """The certificate SANs allowed to receive ``gateway`` (``proxies.identities``)."""
        gateways = self.reconciler.model.gateways if self.reconciler.model is not None else ()
        return frozenset(next((g.proxies.identities for g in gateways if g.name == gateway), ()))

    def _start_discovery(self, on_change: EndpointsChanged) -> EndpointDiscovery:
        api = discovery_api(self.options.kubeconfig, self.options.in_cluster)
        return EndpointDiscovery(api, on_change, loop=asyncio.get_running_loop(), logger=self._log)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.peer_signals.bind(asyncio.get_running_loop())
        if self.options.insecure:
            for exposure in exposures(self.options):
                self._log.warning("--insecure: %s", exposure)
        if self.git is not None and not await self.git.try_clone():
            # The remote is unreachable: answer probes and /status now (not ready), clone in the background.
            await self._start_endpoints()
            self._tasks.append(asyncio.create_task(self._follow_after_clone(self.git)))
            return
        await self._start_following()
        await self._start_endpoints()

    async def _follow_after_clone(self, git: GitSync) -> None:
        await git.clone_with_backoff(self._stop)
        await self._start_following()

    async def _start_following(self) -> None:
        """Watch the config (and secrets), serve what is there now, then follow every change."""
        if self.options.secrets_dir is not None:
            SecretStore.check_outside(self.options.secrets_dir, self.config_dir)
        # A --git-url checkout is not watched: it moves only by gitxds's own fetch, which reloads, and
        # a watcher would read it halfway through `git reset` (new files, old HEAD: "<old sha>-dirty").
        if self.git is None:
            # Watch first, then load: a change that lands while we start is never missed.
            await self._watch(self.config_dir, self._on_files_changed)
        if self.options.secrets_dir is not None:
            # Rotated certificates and credentials are served like config changes (SDS, no restart).
            await self._watch(self.options.secrets_dir, self._on_secrets_changed)
        if self.validator is not None:
            # Envoy starts while the first version builds; when it cannot, envoy --mode validate checks.
            self._tasks.append(self.validator.start_soon())
        await self.rollout_driver.prime()  # another replica's rollout progress, before the first build
        first = await self.reconciler.reload("start")
        if self.reconciler.status.served is None and isinstance(first, Attempt):
            await restore_last_good(self.reconciler, self.config_dir, first.version, self._log)
        self._tasks.append(
            self.rollout_driver.start(self.reconciler.apply, git=self.git, sync=self.sync, stop=self._stop)
        )
        if not await self.discovered.wait_synced(self.options.discovery_sync_seconds):
            self._log.warning("EndpointSlices not listed yet; kubernetes backends have no endpoints")
        if self.git is not None:
            self._tasks.append(asyncio.create_task(self.git.poll_forever(self._on_commit_fetched)))

    async def _start_endpoints(self) -> None:
        host, port = _split_address(self.options.admin_address)
        self.admin_port = await self.admin.start(host, port)
        credentials = self.options.xds_tls.credentials() if self.options.xds_tls else None
        self.xds_port = await self.xds.start(self.options.xds_address, credentials)

    async def stop(self, grace: float = 1.0) -> None:
        self._stop.set()
        self.reconciler.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.discovered.stop()
        await self.xds.stop(grace)
        await self.admin.stop()
        if self.validator is not None:
            await self.validator.stop()
        if self._checkout_lock is not None:
            self._checkout_lock.release()

    async def _on_files_changed(self) -> None:
        await self.reconciler.files_changed(detected_at=time.monotonic())

    async def _watch(self, directory: Path, on_change: Callable[[], Awaitable[None]]) -> None:
        """Call ``on_change`` after each burst of changes in ``directory``, from now on."""
        watcher = ConfigWatcher(
            directory,
            on_change,
            quiet_ms=self.options.watch_quiet_ms,
            max_delay_ms=self.options.watch_max_delay_ms,
            logger=self._log,
        )
        self._tasks.append(asyncio.create_task(watcher.run(self._stop)))
        await asyncio.wait_for(watcher.armed.wait(), timeout=10)

    async def _on_secrets_changed(self) -> None:
        """A rotated certificate or credential: same config, new values (new snapshot versions)."""
        await self.reconciler.reload("secrets changed", detected_at=time.monotonic())

    async def _on_commit_fetched(self, commit: str) -> None:
        await self.reconciler.reload(f"fetched {commit[:12]}", detected_at=time.monotonic())

    # -- convergence: commit detected -> each proxy ACKs it --------------------------------------

    def _on_xds_event(self, event: XdsEvent) -> None:
        if event.error is not None:
            self._log.warning(
                "proxy %s rejected %s %s: %s",
                event.node_id,
                short_type(event.type_url),
                event.config_version or event.version,
                self.reconciler.redact(event.error),
            )
            return
        self._last_ack[event.node_id] = event.monotonic_time
        if self._convergence_check is None:
            loop = asyncio.get_running_loop()
            self._convergence_check = loop.call_soon(self._observe_convergence)

    def _observe_convergence(self) -> None:
        """Once per burst of ACKs: every proxy now fully in sync with a new version is observed once."""
        self._convergence_check = None
        for proxy in self.xds.proxies():
            runs = self._runs(proxy)
            if not proxy.in_sync or runs is None or self._converged.get(proxy.node_id) == runs:
                continue
            self._converged[proxy.node_id] = runs
            detected = self.reconciler.detected_at.get(runs)
            acked = self._last_ack.get(proxy.node_id)
            if detected is not None and acked is not None and acked >= detected:
                self.metrics.convergence_seconds.observe(acked - detected)

    # -- admin backend --------------------------------------------------------------------------

    def ready(self) -> bool:
        return self.reconciler.status.served is not None and self.discovered.synced

    def usage(self, window_seconds: int, top: int) -> dict[str, Any]:
        return self.signals.usage(window_seconds=window_seconds, top=top)

    def signal_windows(self, backends: tuple[str, ...], start: float, end: float) -> dict[str, Any]:
        return self.peer_signals.answer(backends, start, end)

    def gateways(self) -> tuple[str, ...]:
        model = self.reconciler.model
        return tuple(g.name for g in model.gateways) if model else ()

    def status(self) -> dict[str, Any]:
        config = self.reconciler.status.to_json()
        if self.git is not None:
            config["git"] = {
                "url": redact_url_credentials(self.git.url),
                "branch": self.git.branch,
                "checkout": str(self.git.checkout),
                "head": self.git.head,
                "credentials": self.git.credentials.name if self.git.credentials else None,  # the name only
                "last_error": self.git.last_error,
                **self.git.clone_status(),
            }
        proxies = [self._proxy_json(p) for p in self.xds.proxies()]
        return {
            "config": config,
            "proxies": proxies,
            "refused": [refusal.to_json() for refusal in self.xds.refusals()],
            "kubernetes": self.discovered.status(),
            "rollouts": self.rollout_driver.status(),
        }

    def _proxy_json(self, proxy: ProxyStatus) -> dict[str, Any]:
        types = {
            short_type(type_url): {
                "acked": t.acked_version or None,
                "commit": t.acked_config_version or None,
                "nacked": t.nacked_version or None,
                "error": self.reconciler.redact(t.error_message) if t.error_message else None,
                "in_sync": t.in_sync,
            }
            for type_url, t in sorted(proxy.types.items())
        }
        return {
            "node_id": proxy.node_id,
            "node_cluster": proxy.node_cluster,
            "gateway": proxy.group,
            "variant": proxy.variant.value,
            "aggregated": proxy.aggregated,
            "connected_for_seconds": round(time.monotonic() - proxy.connected_since, 3),
            "runs": self._runs(proxy),
            "in_sync": proxy.in_sync,
            "types": types,
        }

    def _runs(self, proxy: ProxyStatus) -> str | None:
        """The config version (commit) a proxy runs: known when it has acknowledged all it was sent."""
        snapshot = self.cache.get(proxy.group) if proxy.group else None
        return snapshot.config_version if snapshot is not None and proxy.in_sync else None

    def config_dump(self, gateway: str) -> dict[str, Any] | None:
        """What the gateway's proxies are being sent (the served snapshot), secret values redacted."""
        if gateway not in self.gateways():
            return None
        documents = self.reconciler.documents(gateway)
        if documents is None:
            return None
        served = self.reconciler.status.served
        return {
            "gateway": gateway,
            "version": served.version if served else None,
            "snapshot_version": self.reconciler.status.snapshot_versions.get(gateway),
            "resources": documents,
        }

    def rollouts(self) -> dict[str, Any]:
        return dict(self.rollout_driver.status())

    def rollout_command(self, action: str, rule: str | None) -> dict[str, Any]:
        try:
            return self.rollout_driver.command(action, rule)
        except ManualError as exc:
            raise LookupError(str(exc)) from None

    async def sync(self) -> dict[str, Any]:
        """Fetch (with --git-url) and rebuild; concurrent calls share one run and its result."""
        return await self._sync_once()

    async def _sync(self) -> dict[str, Any]:
        if self.git is not None and not self.git.cloned:
            return {"result": "not cloned yet", "error": self.git.last_error}
        if self.git is not None:
            try:
                await self.git.sync()
            except GitError as exc:
                return {"result": "fetch failed", "error": str(exc)}
        attempt = await self.reconciler.reload("sync requested", detected_at=time.monotonic())
        if isinstance(attempt, ReloadFailure):
            return {"result": "failed", "reason": attempt.reason, "error": attempt.message}
        return {
            "result": "served" if attempt.accepted else "rejected",
            "version": attempt.version,
            "diagnostics": [d.to_json() for d in attempt.diagnostics],
        }
