"""Follow the EndpointSlices of one Service in a thread: list, then watch from the list's version.

The Kubernetes client is synchronous, so each watched Service gets a daemon thread. After every
change the thread hands the Service's complete set of slices to ``deliver``; the caller moves it to
its event loop. A watch the server ends (its timeout) resumes from the last resourceVersion; an
expired version (``410 Gone``) lists again; any other error or a dropped connection lists again
after a backoff that grows with consecutive failures.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from gitxds.discovery.slices import SERVICE_NAME_LABEL

__all__ = ["ApiError", "Backoff", "SliceWatch", "Slices"]

Slices = Mapping[str, Mapping[str, Any]]  # slice name -> EndpointSlice JSON
_GONE = 410


@dataclass(frozen=True, slots=True)
class Backoff:
    """Seconds to wait before retry number ``failures`` (1, 2, ...): doubling from ``first`` to ``most``."""

    first: float = 0.2
    most: float = 10.0

    def delay(self, failures: int) -> float:
        return float(min(self.most, self.first * 2 ** max(0, failures - 1)))


class _ExpiredError(Exception):
    """The resourceVersion we watch from is too old; only a fresh list can continue."""


class ApiError(Exception):
    """The API server answered a request with an error status."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"API server answered {status}: {body[:200]}")


def _checked(response: Any) -> Any:
    status = int(response.status)
    if status == _GONE:
        raise _ExpiredError
    if not 200 <= status <= 299:
        body = response.data.decode(errors="replace")
        response.release_conn()
        raise ApiError(status, body)
    return response


class SliceWatch:
    """One Service's slices, kept current by a thread. ``api`` is a ``kubernetes.client.DiscoveryV1Api``."""

    def __init__(
        self,
        api: Any,
        namespace: str,
        service: str,
        deliver: Callable[[Slices], None],
        *,
        logger: logging.Logger,
        watch_seconds: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self._api = api
        self._deliver = deliver
        self._log = logger
        self._watch_seconds = watch_seconds
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._response: Any = None
        self._slices: dict[str, Mapping[str, Any]] = {}
        self._thread = threading.Thread(target=self._run, name=f"slices {namespace}/{service}", daemon=True)
        self.lists = 0  # how often the slices were listed, for status and tests
        self.last_error: str | None = None  # the latest failure, until a list succeeds again

    def start(self) -> SliceWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the thread to end and break off the watch it is blocked on; does not wait for it."""
        self._stop.set()
        response = self._response
        if response is not None and hasattr(response, "shutdown"):
            response.shutdown()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                version = self._list()
                failures = 0
                self.last_error = None
                self._watch_from(version)
            except _ExpiredError:
                self._log.info("EndpointSlice watch of %s/%s expired; listing again", *self._key())
            except Exception as exc:
                if self._stop.is_set():
                    return
                if getattr(exc, "status", None) == _GONE:
                    continue  # the client raised 410 itself: list again at once
                failures += 1
                delay = self._backoff.delay(failures)
                self.last_error = _describe(exc)
                self._log.warning(
                    "EndpointSlices of %s/%s: %s; retrying in %.1fs", *self._key(), self.last_error, delay
                )
                self._stop.wait(delay)

    def _key(self) -> tuple[str, str]:
        return self.namespace, self.service

    def _list(self) -> str:
        response = _checked(
            self._api.list_namespaced_endpoint_slice(
                self.namespace,
                label_selector=f"{SERVICE_NAME_LABEL}={self.service}",
                _preload_content=False,
                _request_timeout=(5, 30),
            )
        )
        body = json.loads(response.data)
        self.lists += 1
        self._slices = {item["metadata"]["name"]: item for item in body.get("items") or ()}
        self._publish()
        return str(body["metadata"]["resourceVersion"])

    def _watch_from(self, version: str) -> None:
        """Watch until stopped; each server-side timeout resumes from the last version seen."""
        while not self._stop.is_set():
            self._response = self._api.list_namespaced_endpoint_slice(
                self.namespace,
                label_selector=f"{SERVICE_NAME_LABEL}={self.service}",
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_seconds,
                _preload_content=False,
                _request_timeout=(5, self._watch_seconds + 15),
            )
            try:
                for line in iter_resp_lines(_checked(self._response)):  # type: ignore[no-untyped-call]
                    if line:
                        version = self._apply(json.loads(line), version)
                    if self._stop.is_set():
                        return
            finally:
                self._response.release_conn()
                self._response = None

    def _apply(self, event: Mapping[str, Any], version: str) -> str:
        """Apply one watch event; returns the resourceVersion to resume from."""
        kind = event.get("type")
        item = event.get("object") or {}
        if kind == "ERROR":
            if item.get("code") == _GONE:
                raise _ExpiredError
            raise RuntimeError(f"watch error {item.get('code')}: {item.get('message')}")
        metadata = item.get("metadata") or {}
        version = str(metadata.get("resourceVersion") or version)
        if kind in ("ADDED", "MODIFIED"):
            self._slices[metadata["name"]] = item
        elif kind == "DELETED":
            self._slices.pop(metadata["name"], None)
        else:
            return version  # BOOKMARK: only the version moves
        self._publish()
        return version

    def _publish(self) -> None:
        if not self._stop.is_set():
            self._deliver(dict(self._slices))


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status", None)  # ApiError, or the client's own ApiException
    if status is not None:
        return f"API server answered {status} {getattr(exc, 'reason', '') or ''}".rstrip()
    return f"{type(exc).__name__}: {exc}"
