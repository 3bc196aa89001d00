"""Follow one kind of object in a namespace in a thread: list, then watch from the list's version.

:class:`SliceWatch` follows the EndpointSlices of one Service, :class:`PodWatch` the labels of the
pods of one namespace. The Kubernetes client is synchronous, so each watch gets a daemon thread.
After every change that matters the thread hands the complete set (name -> what is kept of each
object) to ``deliver``; the caller moves it to its event loop. A watch the server ends (its timeout)
resumes from the last resourceVersion; an expired version (``410 Gone``) lists again; any other
error or a dropped connection lists again after a backoff that grows with consecutive failures.
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

__all__ = ["ApiError", "Backoff", "PodLabels", "PodWatch", "ResourceWatch", "SliceWatch", "Slices"]

Slices = Mapping[str, Mapping[str, Any]]  # slice name -> EndpointSlice JSON
PodLabels = Mapping[str, Mapping[str, str]]  # pod name -> its labels
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


class ResourceWatch:
    """Objects of one kind in ``namespace`` matching ``label_selector``, kept current by a thread.

    ``list_call`` is a namespaced list method of the ``kubernetes`` client (it also watches);
    ``keep(obj)`` is what is remembered of each object: a change that keeps the same is not delivered.
    """

    def __init__(
        self,
        list_call: Callable[..., Any],
        namespace: str,
        label_selector: str,
        deliver: Callable[[Mapping[str, Any]], None],
        *,
        what: str,
        keep: Callable[[Mapping[str, Any]], Any],
        logger: logging.Logger,
        watch_seconds: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        self.namespace = namespace
        self.what = what  # for logs: "EndpointSlices of ai/chat"
        self._list_call = list_call
        self._selector = label_selector
        self._deliver = deliver
        self._keep = keep
        self._log = logger
        self._watch_seconds = watch_seconds
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._response: Any = None
        self._items: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._run, name=what, daemon=True)
        self.lists = 0  # how often the objects were listed, for status and tests
        self.last_error: str | None = None  # the latest failure, until a list succeeds again

    def start(self) -> ResourceWatch:
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
                self._log.info("the watch of %s expired; listing again", self.what)
            except Exception as exc:
                if self._stop.is_set():
                    return
                if getattr(exc, "status", None) == _GONE:
                    continue  # the client raised 410 itself: list again at once
                failures += 1
                delay = self._backoff.delay(failures)
                self.last_error = _describe(exc)
                self._log.warning("%s: %s; retrying in %.1fs", self.what, self.last_error, delay)
                self._stop.wait(delay)

    def _list(self) -> str:
        response = _checked(
            self._list_call(
                self.namespace,
                label_selector=self._selector,
                _preload_content=False,
                _request_timeout=(5, 30),
            )
        )
        body = json.loads(response.data)
        self.lists += 1
        self._items = {item["metadata"]["name"]: self._keep(item) for item in body.get("items") or ()}
        self._publish()
        return str(body["metadata"]["resourceVersion"])

    def _watch_from(self, version: str) -> None:
        """Watch until stopped; each server-side timeout resumes from the last version seen."""
        while not self._stop.is_set():
            self._response = self._list_call(
                self.namespace,
                label_selector=self._selector,
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self._watch_seconds,
                _preload_content=False,
                _request_timeout=(5, self._watch_seconds + 15),
            )
            try:
                if self._stop.is_set():
                    return  # stop() ran before the response existed, so it could not break it off
                for line in iter_resp_lines(_checked(self._response)):  # type: ignore[no-untyped-call]
                    if line:
                        version = self._apply(json.loads(line), version)
                    if self._stop.is_set():
                        return
            finally:
                if self._stop.is_set():
                    self._response.close()  # a broken-off watch is not reusable: close, do not pool it
                else:
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
        name = str(metadata.get("name"))
        before = self._items.get(name, _ABSENT)
        if kind in ("ADDED", "MODIFIED"):
            self._items[name] = self._keep(item)
        elif kind == "DELETED":
            self._items.pop(name, None)
        else:
            return version  # BOOKMARK: only the version moves
        if self._items.get(name, _ABSENT) != before:
            self._publish()
        return version

    def _publish(self) -> None:
        if not self._stop.is_set():
            self._deliver(dict(self._items))


_ABSENT = object()


class SliceWatch(ResourceWatch):
    """The EndpointSlices of one Service. ``api`` is a ``kubernetes.client.DiscoveryV1Api``."""

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
        self.service = service
        super().__init__(
            api.list_namespaced_endpoint_slice,
            namespace,
            f"{SERVICE_NAME_LABEL}={service}",
            deliver,
            what=f"EndpointSlices of {namespace}/{service}",
            keep=lambda item: item,
            logger=logger,
            watch_seconds=watch_seconds,
            backoff=backoff,
        )


class PodWatch(ResourceWatch):
    """The labels of every pod in ``namespace``. ``api`` is a ``kubernetes.client.CoreV1Api``.

    Only labels are kept and only a change of them is delivered, so the frequent pod status updates
    cost a parse and a comparison, nothing more.
    """

    def __init__(
        self,
        api: Any,
        namespace: str,
        deliver: Callable[[PodLabels], None],
        *,
        logger: logging.Logger,
        watch_seconds: int = 300,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(
            api.list_namespaced_pod,
            namespace,
            "",
            deliver,
            what=f"pods of {namespace}",
            keep=_labels,
            logger=logger,
            watch_seconds=watch_seconds,
            backoff=backoff,
        )


def _labels(pod: Mapping[str, Any]) -> dict[str, str]:
    return dict((pod.get("metadata") or {}).get("labels") or {})


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status", None)  # ApiError, or the client's own ApiException
    if status is not None:
        return f"API server answered {status} {getattr(exc, 'reason', '') or ''}".rstrip()
    return f"{type(exc).__name__}: {exc}"
