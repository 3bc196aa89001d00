"""One VirtualService HTTPRoute -> one gitxds Route rule."""

from __future__ import annotations

from typing import Any

from gitxds.config.schema_route import RETRY_ON
from gitxds.findings import FindingReason
from gitxds.importers.istio.backends import BackendPlan
from gitxds.importers.istio.fields import (
    check_fields,
    dns_label,
    duration_text,
    hostname,
    integer,
    join,
    mapping,
    number,
    sequence,
    string_map,
    text,
)
from gitxds.importers.istio.findings import ObjectReport
from gitxds.importers.istio.registry import normalize_host

__all__ = ["RuleReader"]

_RULE_FIELDS = {
    "name",
    "match",
    "route",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirrorPercentage",
    "headers",
}
_MATCH_FIELDS = {"name", "uri", "headers", "withoutHeaders", "method"}
# Istio's retry policy for routes that state none; its retriable-status-codes (503) has no gitxds spelling.
_ISTIO_DEFAULT_ATTEMPTS = 2
_ISTIO_RETRY_ON = ["connect-failure", "refused-stream", "unavailable", "cancelled"]


class RuleReader:
    def __init__(self, route: str, namespace: str, plan: BackendPlan, report: ObjectReport) -> None:
        self.route, self.namespace, self.plan, self.report = route, namespace, plan, report

    def read(self, raw: Any, index: int) -> dict[str, Any]:
        path = f"spec.http[{index}]"
        http = mapping(raw, path, self.report)
        check_fields(http, _RULE_FIELDS, path, self.report)
        rule: dict[str, Any] = {}
        if "name" in http:
            name = self._rule_name(text(http["name"], join(path, "name"), self.report), index)
            if name is not None:
                rule["name"] = name
        matches = [
            self._match(m, f"{path}.match[{i}]")
            for i, m in enumerate(sequence(http.get("match", []), join(path, "match"), self.report))
        ]
        if matches:
            rule["matches"] = matches
        rule["backends"] = self._backends(http, path)
        if "timeout" in http:
            rule["timeout"] = duration_text(http["timeout"], join(path, "timeout"), self.report)
        retries = self._retries(
            http.get("retries", {"attempts": _ISTIO_DEFAULT_ATTEMPTS}), join(path, "retries")
        )
        if retries:
            rule["retries"] = retries
        if "fault" in http:
            rule["fault"] = self._fault(http["fault"], join(path, "fault"))
        if "mirror" in http:
            rule["mirror"] = self._mirror(http, path)
        if "headers" in http:
            rule["headers"] = self._headers(http["headers"], join(path, "headers"), {"request", "response"})
        return rule

    def _rule_name(self, name: str, index: int) -> str | None:
        """gitxds exports rules as ``<route>-<rule name or index>``; read that back as the rule name."""
        own = name.removeprefix(f"{self.route}-")
        return None if own == str(index) else dns_label(own)

    def _match(self, raw: Any, path: str) -> dict[str, Any]:
        match = mapping(raw, path, self.report)
        check_fields(match, _MATCH_FIELDS, path, self.report)
        if "name" in match:
            self.report.warn(
                join(path, "name"), FindingReason.APPROXIMATED, "gitxds matches have no name; dropped"
            )
        converted: dict[str, Any] = {}
        if "uri" in match:
            converted["path"] = self._string_match(match["uri"], join(path, "uri"), allow_present=False)
        headers = [
            {
                "name": str(name).lower(),
                **self._string_match(value, f"{path}.{key}.{name}", allow_present=True),
                **invert,
            }
            for key, invert in (("headers", {}), ("withoutHeaders", {"invert": True}))
            for name, value in mapping(match.get(key, {}), join(path, key), self.report).items()
        ]
        if headers:
            converted["headers"] = headers
        if "method" in match:
            method = mapping(match["method"], join(path, "method"), self.report)
            if set(method) != {"exact"}:
                self.report.error(
                    join(path, "method"), FindingReason.UNSUPPORTED_FIELD, "gitxds matches methods exactly"
                )
            else:
                converted["methods"] = [
                    text(method["exact"], join(path, "method.exact"), self.report).upper()
                ]
        return converted

    def _string_match(self, raw: Any, path: str, *, allow_present: bool) -> dict[str, Any]:
        value = mapping(raw, path, self.report)
        check_fields(value, {"exact", "prefix", "regex"}, path, self.report)
        if not value and allow_present:
            return {"present": True}
        if len(value) != 1:
            self.report.error(path, FindingReason.INVALID_VALUE, "give exactly one of exact, prefix or regex")
            return {}
        kind, pattern = next(iter(value.items()))
        return {kind: text(pattern, join(path, kind), self.report)}

    def _backends(self, http: dict[str, Any], path: str) -> list[dict[str, Any]]:
        destinations = sequence(http.get("route", []), join(path, "route"), self.report)
        if not destinations:
            self.report.error(
                join(path, "route"),
                FindingReason.UNSUPPORTED_FIELD,
                "a gitxds rule forwards to at least one backend",
            )
        backends = []
        for index, raw in enumerate(destinations):
            entry_path = f"{path}.route[{index}]"
            entry = mapping(raw, entry_path, self.report)
            check_fields(entry, {"destination", "weight", "headers"}, entry_path, self.report)
            name = self._destination(entry.get("destination"), join(entry_path, "destination"))
            if name is None:
                continue
            if "headers" in entry:
                headers = self._headers(entry["headers"], join(entry_path, "headers"), {"request"})
                self.plan.set_request_headers(
                    name, headers.get("request", {}), join(entry_path, "headers"), self.report
                )
            backend: dict[str, Any] = {"name": name}
            if len(destinations) > 1:
                backend["weight"] = integer(entry.get("weight", 0), join(entry_path, "weight"), self.report)
            backends.append(backend)
        return backends

    def _destination(self, raw: Any, path: str) -> str | None:
        destination = mapping(raw, path, self.report)
        check_fields(destination, {"host", "subset", "port"}, path, self.report)
        host = normalize_host(
            hostname(destination.get("host", ""), join(path, "host"), self.report), self.namespace
        )
        port = mapping(destination.get("port", {}), join(path, "port"), self.report)
        check_fields(port, {"number"}, join(path, "port"), self.report)
        number = integer(port["number"], join(path, "port.number"), self.report) if "number" in port else None
        subset = destination.get("subset")
        subset_name = None if subset is None else text(subset, join(path, "subset"), self.report)
        if self.report.refused:
            return None
        return self.plan.resolve(host, subset_name, number, path, self.report)

    def _retries(self, raw: Any, path: str) -> dict[str, Any]:
        retries = mapping(raw, path, self.report)
        check_fields(retries, {"attempts", "perTryTimeout", "retryOn"}, path, self.report)
        attempts = integer(retries.get("attempts", 0), join(path, "attempts"), self.report)
        if not attempts:
            return {}
        if "retryOn" not in retries:
            self.report.warn(
                join(path, "retryOn"),
                FindingReason.APPROXIMATED,
                "Istio's default retry conditions also retry 503 responses; imported as "
                f"{', '.join(_ISTIO_RETRY_ON)} (add gateway-error or 5xx to retry server errors)",
            )
        conditions = [
            c.strip()
            for c in text(
                retries.get("retryOn", ",".join(_ISTIO_RETRY_ON)), join(path, "retryOn"), self.report
            ).split(",")
            if c.strip()
        ]
        unknown = [c for c in conditions if c not in RETRY_ON]
        if unknown:
            self.report.error(
                join(path, "retryOn"),
                FindingReason.UNSUPPORTED_FIELD,
                f"gitxds does not retry on {', '.join(unknown)} (it knows {', '.join(RETRY_ON)})",
            )
        converted: dict[str, Any] = {"attempts": attempts, "on": conditions}
        if "perTryTimeout" in retries:
            converted["perTryTimeout"] = duration_text(
                retries["perTryTimeout"], join(path, "perTryTimeout"), self.report
            )
        return converted

    def _fault(self, raw: Any, path: str) -> dict[str, Any]:
        fault = mapping(raw, path, self.report)
        check_fields(fault, {"delay", "abort"}, path, self.report)
        converted: dict[str, Any] = {}
        if "delay" in fault:
            delay = mapping(fault["delay"], join(path, "delay"), self.report)
            check_fields(delay, {"fixedDelay", "percentage"}, join(path, "delay"), self.report)
            converted["delay"] = {
                "percent": self._percentage(delay, join(path, "delay")),
                "duration": duration_text(
                    delay.get("fixedDelay"), join(path, "delay.fixedDelay"), self.report
                ),
            }
        if "abort" in fault:
            abort = mapping(fault["abort"], join(path, "abort"), self.report)
            check_fields(abort, {"httpStatus", "percentage"}, join(path, "abort"), self.report)
            converted["abort"] = {
                "percent": self._percentage(abort, join(path, "abort")),
                "status": integer(abort.get("httpStatus"), join(path, "abort.httpStatus"), self.report),
            }
        return converted

    def _percentage(self, fault: dict[str, Any], path: str) -> float:
        if "percentage" not in fault:
            self.report.error(
                join(path, "percentage"),
                FindingReason.INVALID_VALUE,
                "state the percentage of requests to fault",
            )
            return 0.0
        percentage = mapping(fault["percentage"], join(path, "percentage"), self.report)
        return number(percentage.get("value", 0.0), join(path, "percentage.value"), self.report) or 0.0

    def _mirror(self, http: dict[str, Any], path: str) -> dict[str, Any]:
        name = self._destination(http["mirror"], join(path, "mirror"))
        percentage = mapping(
            http.get("mirrorPercentage", {"value": 100.0}), join(path, "mirrorPercentage"), self.report
        )
        percent = number(percentage.get("value", 100.0), join(path, "mirrorPercentage.value"), self.report)
        return {"backend": name or "", "percent": percent}

    def _headers(self, raw: Any, path: str, directions: set[str]) -> dict[str, Any]:
        headers = mapping(raw, path, self.report)
        check_fields(headers, directions, path, self.report)
        converted: dict[str, Any] = {}
        for direction in sorted(directions & set(headers)):
            ops = mapping(headers[direction], join(path, direction), self.report)
            check_fields(ops, {"set", "add", "remove"}, join(path, direction), self.report)
            converted[direction] = self._header_ops(ops, join(path, direction))
        return converted

    def _header_ops(self, ops: dict[str, Any], path: str) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for verb in ("set", "add"):
            if verb in ops:
                values = string_map(ops[verb], join(path, verb), self.report)
                converted[verb] = {name.lower(): value for name, value in values.items()}
        if "remove" in ops:
            removed = sequence(ops["remove"], join(path, "remove"), self.report)
            converted["remove"] = [
                text(h, join(path, f"remove[{i}]"), self.report).lower() for i, h in enumerate(removed)
            ]
        return converted
