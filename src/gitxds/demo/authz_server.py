"""A small external authorization server (Envoy's ``envoy.service.auth.v3`` gRPC API) for the demo.

It allows requests whose ``x-api-key`` is one of the configured keys and denies the rest with 403.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2, external_auth_pb2_grpc
from envoy.type.v3.http_status_pb2 import HttpStatus, StatusCode
from google.rpc import code_pb2, status_pb2


class ApiKeyAuthorizer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self, keys: Iterable[str]) -> None:
        self.keys = frozenset(keys)
        self.checks = 0

    async def Check(  # noqa: N802 - the gRPC method name
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext
    ) -> external_auth_pb2.CheckResponse:
        self.checks += 1
        key = request.attributes.request.http.headers.get("x-api-key", "")
        if key in self.keys:
            return external_auth_pb2.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK),
                ok_response=external_auth_pb2.OkHttpResponse(
                    headers=[HeaderValueOption(header=HeaderValue(key="x-auth-checked", value="yes"))]
                ),
            )
        return external_auth_pb2.CheckResponse(
            status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED),
            denied_response=external_auth_pb2.DeniedHttpResponse(
                status=HttpStatus(code=StatusCode.Forbidden),
                body="unknown or missing x-api-key\n",
            ),
        )


async def start_authz_server(address: str, keys: Iterable[str]) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(ApiKeyAuthorizer(keys), server)
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
