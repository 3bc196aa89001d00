"""``gitxds serve``: watch a config directory (or a Git remote) and serve it to Envoy over xDS."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gitxds.cli.serve_tls import add_xds_tls_arguments, xds_tls_from
from gitxds.config import parse_duration
from gitxds.errors import UsageError
from gitxds.gitops.service import GitxdsService, ServeOptions, exposures
from gitxds.signals.peers import parse_peer_dns, parse_peer_url

DESCRIPTION = """\
Load, check and compile the config in DIR, then serve it to every connected Envoy over xDS (ADS and
per-type services, State-of-the-World and delta). DIR is watched: a commit, a `git pull`, an editor
save or a git-sync symlink swap is served within milliseconds. A version with any error is not
served: the last good config keeps serving and the error is shown in /status and the metrics.

With --git-url, gitxds clones the repository itself, fetches every --poll interval and on
POST /sync (for a push webhook); DIR is then the folder inside the repository (default: its root).

Admin endpoint (loopback by default): /healthz, /readyz, /metrics, /status,
/config_dump?gateway=NAME, POST /sync.
"""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a config directory or Git repository to Envoy over xDS",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "dir", metavar="DIR", type=Path, nargs="?", default=Path("."), help="config directory"
    )
    parser.add_argument(
        "--xds-address", default="127.0.0.1:18000", help="gRPC xDS listen address (%(default)s)"
    )
    parser.add_argument("--admin-address", default="127.0.0.1:9900", help="admin HTTP address (%(default)s)")
    git = parser.add_argument_group("Git source (instead of a directory kept in sync by someone else)")
    git.add_argument("--git-url", help="repository to clone and follow (a URL or a local path)")
    git.add_argument("--branch", default="main", help="branch to follow (%(default)s)")
    git.add_argument("--poll", default="15s", help="fetch interval, e.g. 15s or 1m (%(default)s)")
    git.add_argument(
        "--checkout-dir",
        type=Path,
        help="where to keep the clone, locked while serve runs (default: a private directory per "
        "repository and branch under $TMPDIR/gitxds-<uid>)",
    )
    git.add_argument(
        "--git-credentials",
        metavar="NAME",
        help="entry of --secrets-dir with the remote's credentials, read for every fetch and push: "
        "USER:TOKEN (HTTP Basic), TOKEN (HTTP Bearer), an SSH private key, or a folder with "
        "ssh-privatekey and known_hosts",
    )
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        help="directory with one file per secret (secretRef values); must be outside the config repository",
    )
    parser.add_argument(
        "--no-envoy-validate",
        dest="envoy_validate",
        action="store_false",
        help="skip checking each new config with `envoy --mode validate` before serving it",
    )
    parser.add_argument("--envoy", help="Envoy binary used for validation (default: beside Python, or PATH)")
    parser.add_argument(
        "--admin-token-file",
        type=Path,
        help="require `Authorization: Bearer <token>` on the admin endpoint (probes excepted); "
        "or set $GITXDS_ADMIN_TOKEN",
    )
    parser.add_argument(
        "--admin-allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name the admin endpoint answers without a token, besides loopback and its bind "
        "address (repeatable; guards against DNS rebinding)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve xDS without mutual TLS, or admin without a token, on a non-loopback address "
        "(logs a warning; anyone who connects gets every gateway's secrets)",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig for the EndpointSlices of kubernetes backends "
        "(default: the pod's service account when running in Kubernetes)",
    )
    rollout = parser.add_argument_group("rollouts (RolloutPolicy)")
    rollout.add_argument(
        "--rollout-state",
        type=Path,
        help="file keeping rollout progress, so a restart resumes each rollout at its step",
    )
    rollout.add_argument(
        "--rollout-lease",
        metavar="NAMESPACE/NAME",
        help="with several replicas: the Kubernetes Lease that picks the one replica driving rollouts "
        "(the others serve the step it publishes there)",
    )
    rollout.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="URL",
        help="admin endpoint of another replica (repeatable): rollout analysis adds the traffic of the "
        "proxies connected to it (replicas share the admin token)",
    )
    rollout.add_argument(
        "--peer-dns",
        metavar="NAME:PORT",
        help="a DNS name resolving to every replica (a headless Service) and their admin port: "
        "each is asked as with --peer",
    )
    rollout.add_argument(
        "--rollout-settle",
        default="1.5s",
        help="how long after an analysis interval ends its access logs are awaited (%(default)s)",
    )
    add_xds_tls_arguments(parser)
    parser.add_argument(
        "--debounce", default="5ms", help="quiet time that ends a burst of file changes (%(default)s)"
    )
    parser.add_argument("--max-delay", default="500ms", help="longest a steady stream of changes waits")
    parser.add_argument(
        "--write-grace",
        default="250ms",
        help="how long a read of the config directory that looks half-written (a file emptied or gone, "
        "or refused right after a change) is held back before it is taken as it is (%(default)s)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    parser.set_defaults(handler=run)


def _admin_token(args: argparse.Namespace) -> str | None:
    """The token, or None when none is configured; a configured but blank token is a usage error."""
    if args.admin_token_file is not None:
        source = f"--admin-token-file {args.admin_token_file}"
        try:
            token = str(args.admin_token_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{source}: cannot read the token: {exc}") from None
    elif "GITXDS_ADMIN_TOKEN" in os.environ:
        source, token = "$GITXDS_ADMIN_TOKEN", os.environ["GITXDS_ADMIN_TOKEN"]
    else:
        return None
    token = token.strip()
    if not token:
        raise UsageError(f"{source} is empty: it would turn admin authentication off; put a token in it")
    if not token.isprintable():
        raise UsageError(f"{source} holds a control character or more than one line")
    return token


def options_from(args: argparse.Namespace) -> ServeOptions:
    try:
        poll_ms = parse_duration(args.poll)
        quiet_ms = parse_duration(args.debounce)
        max_delay_ms = parse_duration(args.max_delay)
        write_grace_ms = parse_duration(args.write_grace)
        settle_ms = parse_duration(args.rollout_settle)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if quiet_ms < 1:  # the watcher looks for changes every quiet time: 0 would spin a core
        raise UsageError(f"--debounce {args.debounce}: write at least 1ms")
    if args.git_url is None and not args.dir.is_dir():
        raise UsageError(f"{args.dir} is not a directory")
    if args.kubeconfig is not None and not args.kubeconfig.is_file():
        raise UsageError(f"--kubeconfig {args.kubeconfig} is not a file")
    if args.rollout_lease is not None and args.rollout_lease.count("/") != 1:
        raise UsageError(f"--rollout-lease {args.rollout_lease}: write NAMESPACE/NAME")
    try:
        peers = tuple(parse_peer_url(url) for url in args.peer)
        peer_dns = parse_peer_dns(args.peer_dns) if args.peer_dns is not None else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.secrets_dir is not None and not args.secrets_dir.is_dir():
        raise UsageError(f"--secrets-dir {args.secrets_dir} is not a directory")
    options = ServeOptions(
        config_dir=args.dir,
        xds_address=args.xds_address,
        admin_address=args.admin_address,
        git_url=args.git_url,
        git_branch=args.branch,
        git_poll_seconds=poll_ms / 1000,
        checkout_dir=args.checkout_dir,
        git_credentials=args.git_credentials,
        secrets_dir=args.secrets_dir,
        envoy_validate=args.envoy_validate,
        envoy_path=args.envoy,
        admin_token=_admin_token(args),
        admin_allowed_hosts=frozenset(args.admin_allowed_host),
        insecure=args.insecure,
        watch_quiet_ms=quiet_ms,
        watch_max_delay_ms=max_delay_ms,
        write_grace_ms=write_grace_ms,
        xds_tls=xds_tls_from(args),
        kubeconfig=args.kubeconfig,
        in_cluster=bool(os.environ.get("KUBERNETES_SERVICE_HOST")),
        rollout_state=args.rollout_state,
        rollout_settle_seconds=settle_ms / 1000,
        rollout_lease=args.rollout_lease,
        peers=peers,
        peer_dns=peer_dns,
    )
    exposed = exposures(options)
    if exposed and not options.insecure:
        raise UsageError("refusing to start: " + "; ".join(exposed) + "; or pass --insecure to accept this")
    return options


async def serve(options: ServeOptions) -> int:
    service = GitxdsService(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await service.start()
    logging.getLogger("gitxds").info(
        "xDS on %s:%d, admin on http://%s:%d",
        options.xds_address.rpartition(":")[0],
        service.xds_port,
        options.admin_address.rpartition(":")[0],
        service.admin_port,
    )
    await stop.wait()
    logging.getLogger("gitxds").info("shutting down")
    await service.stop(grace=2.0)
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Reloads build in a worker thread while the event loop answers proxies, access logs and admin
    # requests; at CPython's default 5 ms switch interval each hand-over of the GIL between them can
    # add 5 ms to a build that takes 5-10 ms (python -m bench.scale: see docs/operations.md).
    sys.setswitchinterval(0.001)
    return asyncio.run(serve(options_from(args)))
