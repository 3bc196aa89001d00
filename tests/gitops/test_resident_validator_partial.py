"""The resident validator on a large gateway: after an accepted candidate it shows Envoy only the routes
that changed, and still gets Envoy's own refusal for an error in one of them; when unsure it sends all."""

from __future__ import annotations

import asyncio

from envoy.config.route.v3.route_pb2 import RouteConfiguration

from gitxds import typeurls
from gitxds.compile import compile_loaded
from gitxds.config import merge_files, parse_file
from gitxds.gitops.resident_validator import ResidentValidator, Verdict
from gitxds.translators.xds import translate_gateway
from gitxds.xds.cache import Snapshot, decode
from gitxds.xds.cache.encoding import ResourceEncoder

from .helpers import BACKENDS, GATEWAY
from .test_resident_validator import ENVOY_ONLY_REJECTS, envoy

ROUTES = 2000
ROUTE = """\
apiVersion: gitxds.dev/v1alpha1
kind: Route
metadata: {{name: r{i}}}
spec:
  gateways: [edge]
  rules: [{{matches: [{{path: {match}}}], backends: [{{name: blue}}], timeout: {timeout}s}}]
"""


def large_gateway(matches: dict[int, str] | None = None, timeouts: dict[int, int] | None = None) -> Snapshot:
    """``ROUTES`` routes; route i matches ``matches[i]`` (default its own prefix)."""
    matches = matches or {}
    timeouts = timeouts or {}
    routes = [
        ROUTE.format(i=i, match=matches.get(i, f"{{prefix: /r{i}/}}"), timeout=timeouts.get(i, 30))
        for i in range(ROUTES)
    ]
    text = "---\n".join([GATEWAY, BACKENDS, *routes])
    result = compile_loaded(merge_files([parse_file("config.yaml", text)]))
    assert not result.diagnostics, result.diagnostics[:3]
    return Snapshot.build(translate_gateway(result.model, "edge", {}))


def with_duplicate_domain(candidate: Snapshot) -> Snapshot:
    """``candidate`` with a second virtual host claiming the first one's domain, ``*`` (only Envoy
    checks that across virtual hosts)."""
    (resource,) = candidate.resources(typeurls.ROUTE)
    config = decode(resource)
    assert isinstance(config, RouteConfiguration)
    first = config.virtual_hosts[0]
    config.virtual_hosts.add(name="copy", domains=first.domains)
    resources = {t: list(candidate.resources(t)) for t in typeurls.PUSH_ORDER}
    resources[typeurls.ROUTE] = [ResourceEncoder().encode(typeurls.ROUTE, config)]
    return Snapshot.build(resources)


def test_an_envoy_only_error_in_one_changed_route_of_a_large_gateway_is_refused() -> None:
    async def main() -> list[tuple[Verdict | None, bool, int]]:
        validator = ResidentValidator(envoy())
        await validator.start()
        assert validator.up, validator.down_reason
        results = []
        try:
            for candidate in (
                large_gateway(),  # first: whole
                large_gateway(matches={1234: ENVOY_ONLY_REJECTS}),  # one changed route, only Envoy refuses
                large_gateway(timeouts={1234: 5}),  # after a refusal: whole again
                large_gateway(timeouts={1234: 5, 7: 9}),  # one changed route, accepted
                large_gateway(timeouts={1234: 5, 7: 9}),  # nothing changed
                with_duplicate_domain(large_gateway(timeouts={1234: 5, 7: 9})),  # a host added: whole
            ):
                verdict = await validator.check(candidate, gateway="edge")
                pushed = validator.last_push
                assert pushed is not None
                results.append((verdict, pushed.whole, pushed.routes_sent))
        finally:
            await validator.stop()
        return results

    first, bad, fixed, edited, same, duplicate = asyncio.run(main())
    assert first == (Verdict(True, ""), True, ROUTES)
    verdict, whole, sent = bad
    assert (whole, sent) == (False, 1)
    assert verdict is not None and not verdict.accepted and "RE2 program size" in verdict.message
    assert fixed == (Verdict(True, ""), True, ROUTES)
    assert edited == (Verdict(True, ""), False, 1)
    assert same == (Verdict(True, ""), False, 0)
    verdict, whole, sent = duplicate
    assert whole and sent == ROUTES
    assert verdict is not None and not verdict.accepted
    assert "Only a single wildcard domain is permitted" in verdict.message
