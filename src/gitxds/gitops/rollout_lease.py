"""One replica drives the rollouts, every replica serves the same step: a Kubernetes Lease.

The holder of the Lease is the only replica whose clock moves rollouts on (and pushes reverts); on
every renewal, and at once when the progress changes, it writes the rollout progress into an
annotation of the Lease. The other replicas
read that annotation and serve exactly that progress. When the holder stops renewing, another
replica takes the Lease over after ``leaseDurationSeconds`` and goes on from the progress it read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gitxds.rollout import Rollouts

__all__ = ["LeaseView", "RolloutLease", "lease_api"]

STATE_ANNOTATION = "gitxds.dev/rollouts"
_MAX_STATE_BYTES = 256 * 1024  # a Kubernetes object's annotations hold 256 KiB in all


def lease_api(kubeconfig: Path | None) -> Any:
    """A ``CoordinationV1Api`` from ``kubeconfig``, else from the pod's service account."""
    if kubeconfig is not None:
        return client.CoordinationV1Api(config.new_client_from_config(config_file=str(kubeconfig)))  # type: ignore[no-untyped-call]
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.CoordinationV1Api(client.ApiClient(configuration))


@dataclass(frozen=True)
class LeaseView:
    held: bool  # by this replica, after this call
    holder: str | None
    state: Rollouts | None  # the progress the holder last wrote


class RolloutLease:
    """Blocking calls (run them off the event loop)."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        name: str,
        identity: str,
        *,
        duration_seconds: int = 10,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        logger: logging.Logger | None = None,
    ) -> None:
        self.api, self.namespace, self.name, self.identity = api, namespace, name, identity
        self.duration = duration_seconds
        self._clock = clock
        self._log = logger or logging.getLogger("gitxds.rollout")

    def sync(self, state: Rollouts) -> LeaseView:
        """Acquire or renew the Lease (writing ``state`` when held), else read the holder's progress."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return self._create(state)
        spec = lease.spec
        mine = spec.holder_identity == self.identity
        if mine or self._expired(spec):
            return self._take(lease, state, taking_over=not mine)
        return LeaseView(False, spec.holder_identity, _state_of(lease))

    def _expired(self, spec: Any) -> bool:
        renewed = spec.renew_time
        if renewed is None:
            return True
        return bool(
            self._clock() > renewed + dt.timedelta(seconds=spec.lease_duration_seconds or self.duration)
        )

    def _create(self, state: Rollouts) -> LeaseView:
        now = self._clock()
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, annotations={STATE_ANNOTATION: _encoded(state)}),
            spec=client.V1LeaseSpec(
                holder_identity=self.identity,
                lease_duration_seconds=self.duration,
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self.api.create_namespaced_lease(self.namespace, body)
        except ApiException as exc:
            if exc.status == 409:  # another replica created it first
                return LeaseView(False, None, None)
            raise
        self._log.info("rollout lease %s/%s acquired by %s", self.namespace, self.name, self.identity)
        return LeaseView(True, self.identity, state)

    def _take(self, lease: Any, state: Rollouts, *, taking_over: bool) -> LeaseView:
        now = self._clock()
        previous = _state_of(lease)
        if taking_over:
            lease.spec.acquire_time = now
            lease.spec.lease_transitions = (lease.spec.lease_transitions or 0) + 1
            state = previous if previous is not None else state  # go on from where the holder was
        lease.spec.holder_identity = self.identity
        lease.spec.renew_time = now
        lease.spec.lease_duration_seconds = self.duration
        lease.metadata.annotations = {**(lease.metadata.annotations or {}), STATE_ANNOTATION: _encoded(state)}
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)  # resourceVersion guards it
        except ApiException as exc:
            if exc.status == 409:
                return LeaseView(False, None, previous)
            raise
        if taking_over:
            self._log.warning(
                "rollout lease %s/%s taken over by %s", self.namespace, self.name, self.identity
            )
        return LeaseView(True, self.identity, state)


def _encoded(state: Rollouts) -> str:
    text = json.dumps(state.to_json(), separators=(",", ":"))
    if len(text) > _MAX_STATE_BYTES:
        raise ValueError(f"rollout progress is {len(text)} bytes, more than a Lease annotation holds")
    return text


def _state_of(lease: Any) -> Rollouts | None:
    text = (lease.metadata.annotations or {}).get(STATE_ANNOTATION)
    if not text:
        return None
    try:
        return Rollouts.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError):
        return None
