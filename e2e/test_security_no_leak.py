"""No secret value ever leaves gitxds: a canary credential and a TLS private key are planted in the
secret store, proven live (the upstream receives the credential, Envoy serves the certificate), and
then searched for in every output a user or an operator can see.

Outputs searched: `gitxds validate` (text, json), `gitxds render` (yaml, json, --static-bootstrap),
`gitxds export istio`, `gitxds diff` (text, json), `gitxds status` (table, json), the admin
endpoint's /status, /config_dump and /metrics, the whole `gitxds serve` log, and the errors of a
broken commit, of a config Envoy refuses because of a secret's value, and of a commit that links
into the secret store (``routes/leak.yaml`` to the credential, ``x.yaml`` to the whole store).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from harness import EnvoyProcess, UpstreamServer, free_port, get, wait_for
from harness.certs import CertificateAuthority, install_certificate
from harness.configs import backend_doc, document, route_doc, to_yaml
from harness.serve import GitRepo, ServeProcess

CANARY = "canary-7d1f0c5e9b3a"
CREDENTIAL = f"Bearer sk-{CANARY}"
REJECTED_CANARY = "rejected-canary-42e8a1"  # a value Envoy refuses: the refusal must not quote it


def _run(*args: str) -> str:
    """``gitxds ARGS``: stdout and stderr together, whatever the exit code."""
    completed = subprocess.run(
        [sys.executable, "-m", "gitxds", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed.stdout + completed.stderr


def _config(cluster: str, http_port: int, https_port: int, api_port: int, secret: str) -> str:
    listeners = [
        {"name": "http", "port": http_port, "address": "127.0.0.1"},
        {"name": "https", "port": https_port, "address": "127.0.0.1", "protocol": "HTTPS",
         "tls": {"secretRef": "edge-cert"}},
    ]  # fmt: skip
    headers = {"set": {"authorization": {"secretRef": secret}}}
    return to_yaml(
        [
            document("Gateway", "edge", {"proxies": {"cluster": cluster}, "listeners": listeners}),
            backend_doc("api", [api_port], requestHeaders=headers),
            route_doc("chat", [{"backends": [{"name": "api"}]}]),
        ]
    )


def _secret_texts(secrets_dir: Path) -> list[str]:
    """The canaries and every line of the private key's body (a fragment would leak it too)."""
    key = (secrets_dir / "edge-cert" / "tls.key").read_text()
    key_lines = [line for line in key.splitlines() if "-----" not in line]
    return [CANARY, REJECTED_CANARY, *key_lines]


def _assert_clean(outputs: dict[str, str], secrets: list[str]) -> None:
    leaks = [(name, secret[:12]) for name, text in outputs.items() for secret in secrets if secret in text]
    assert not leaks, f"secret text found in: {leaks}"


def test_no_output_contains_a_secret(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    secrets_dir = tmp_path / "secrets"
    install_certificate(secrets_dir, "edge-cert", ca.issue("edge", serial=7))
    (secrets_dir / "provider-key").write_text(CREDENTIAL + "\n")
    (secrets_dir / "bad-key").write_text(f"{REJECTED_CANARY}\r\ninjected: header\n")
    api = UpstreamServer("api").start()
    http_port, https_port = free_port(), free_port()
    cluster = f"edge-leak-{http_port}"
    repo = GitRepo(tmp_path / "repo")
    repo.write("config.yaml", _config(cluster, http_port, https_port, api.port, "provider-key"))
    repo.commit("edge with an upstream credential")
    admin_token = tmp_path / "admin-token"
    admin_token.write_text("t0ken\n")
    serve = ServeProcess(repo.path, tmp_path, "--secrets-dir", str(secrets_dir), "--admin-token-file",
                         str(admin_token), "--log-level", "debug")  # fmt: skip
    auth = {"Authorization": "Bearer t0ken"}
    envoy: EnvoyProcess | None = None
    try:
        bootstrap: dict[str, Any] = YAML(typ="safe").load(serve.bootstrap("envoy-leak", cluster))
        envoy = EnvoyProcess(bootstrap, tmp_path).start()
        envoy.wait_listening(https_port, timeout=10)
        # The canary is live: Envoy sends it upstream.
        assert get(http_port, "/v1/chat").json()["headers"]["authorization"] == CREDENTIAL

        outputs = _cli_outputs(repo, serve)
        outputs.update(_broken_commit_outputs(repo, serve, auth))
        outputs.update(_symlink_outputs(repo, serve, auth, secrets_dir))
        outputs.update(_refused_secret_outputs(repo, serve, auth, cluster, http_port, https_port, api.port))
        for path in ("/status", "/config_dump?gateway=edge", "/metrics"):
            code, body = serve.get(path, headers=auth)
            assert code == 200, body
            outputs[f"admin {path}"] = body
        outputs["serve log"] = serve.log_path.read_text(errors="replace")
        assert "<redacted>" in outputs["admin /config_dump?gateway=edge"]
        _assert_clean(outputs, _secret_texts(secrets_dir))
    finally:
        if envoy is not None:
            envoy.stop()
        serve.stop()
        api.stop()


def _cli_outputs(repo: GitRepo, serve: ServeProcess) -> dict[str, str]:
    config = str(repo.path)
    outputs = {
        "validate": _run("validate", config),
        "validate json": _run("validate", config, "--output", "json"),
        "render yaml": _run("render", config),
        "render json": _run("render", config, "--output", "json"),
        "render static bootstrap": _run("render", config, "--static-bootstrap"),
        "export istio": _run("export", "istio", config),
    }
    assert "<redacted>" in outputs["render yaml"]
    text = (repo.path / "config.yaml").read_text()
    repo.write(
        "config.yaml", text.replace("  requestHeaders:\n", "  connectTimeout: 2s\n  requestHeaders:\n")
    )
    outputs["diff"] = _run("diff", config)
    outputs["diff json"] = _run("diff", config, "--output", "json")
    assert "change" in outputs["diff"], outputs["diff"]
    repo.write("config.yaml", text)
    return outputs


def _wait_rejected(serve: ServeProcess, commit: str, auth: dict[str, str]) -> dict[str, Any]:
    def looked_at() -> dict[str, Any] | None:
        config: dict[str, Any] = json.loads(serve.get("/status", headers=auth)[1])["config"]
        attempt = config.get("last_attempt") or {}
        return config if attempt.get("version") == commit else None

    config = wait_for(looked_at, 30, message=f"gitxds looked at {commit[:12]}")
    assert config["last_attempt"]["result"] == "rejected", config
    return config


def _broken_commit_outputs(repo: GitRepo, serve: ServeProcess, auth: dict[str, str]) -> dict[str, str]:
    good = (repo.path / "config.yaml").read_text()
    repo.write("config.yaml", good.replace("name: api\n", "name: api-typo\n", 1))
    broken = repo.commit("a route to a backend that does not exist")
    config = _wait_rejected(serve, broken, auth)
    repo.write("config.yaml", good)
    repo.commit("fix")
    outputs = {"broken commit status": str(config)}
    outputs["status table"] = _run("status", "--admin", f"http://127.0.0.1:{serve.admin_port}",
                                   "--token-file", str(repo.path.parent / "admin-token"))  # fmt: skip
    return outputs


def _symlink_outputs(
    repo: GitRepo, serve: ServeProcess, auth: dict[str, str], secrets: Path
) -> dict[str, str]:
    """A pull request that links a secret file and the secret store into the config: refused by
    name everywhere, the targets never read."""
    (repo.path / "routes").mkdir()
    (repo.path / "routes" / "leak.yaml").symlink_to(secrets / "provider-key")
    (repo.path / "x.yaml").symlink_to(secrets)
    repo.commit("link the secret store into the config")
    config = str(repo.path)
    outputs = {
        "validate links": _run("validate", config),
        "validate links json": _run("validate", config, "--output", "json"),
        "render links": _run("render", config),
        "export istio links": _run("export", "istio", config),
        "export ratelimit links": _run("export", "ratelimit", config),
        "diff links": _run("diff", "--base", "HEAD~1", config),
        "diff links committed": _run("diff", "--base", "HEAD~1", "--head", "HEAD", config),
    }
    for name, text in outputs.items():
        assert "routes/leak.yaml" in text and "x.yaml" in text and "LinkOutsideConfig" in text, (name, text)

    refused = {("routes/leak.yaml", "LinkOutsideConfig"), ("x.yaml", "LinkOutsideConfig")}

    def refused_links() -> dict[str, Any] | None:  # the version may be the commit or the dirty tree
        config: dict[str, Any] = json.loads(serve.get("/status", headers=auth)[1])["config"]
        attempt = config.get("last_attempt") or {}
        reasons = {(d["file"], d["reason"]) for d in attempt.get("diagnostics", ())}
        return config if reasons == refused and attempt["result"] == "rejected" else None

    outputs["links status"] = str(wait_for(refused_links, 30, message="the links refused by name"))
    (repo.path / "routes" / "leak.yaml").unlink()
    (repo.path / "x.yaml").unlink()
    repo.commit("remove the links")
    return outputs


def _refused_secret_outputs(
    repo: GitRepo, serve: ServeProcess, auth: dict[str, str], cluster: str, *ports: int
) -> dict[str, str]:
    http_port, https_port, api_port = ports
    repo.write("config.yaml", _config(cluster, http_port, https_port, api_port, "bad-key"))
    refused = repo.commit("credential with a line break")
    config = _wait_rejected(serve, refused, auth)
    diagnostics = config["last_rejected"]["diagnostics"]
    messages = [d["message"] for d in diagnostics if d["reason"] == "EnvoyRejected"]
    assert any("does not match regex" in m for m in messages), config  # Envoy's verdict, not the value
    return {"refused secret status": str(config)}
