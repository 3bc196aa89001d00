"""`gitxds bootstrap --ca --tls-cert --tls-key`: the xDS cluster verifies gitxds and presents a client
certificate; usage mistakes are refused."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from gitxds.cli import main

BASE = ["bootstrap", "--node-id", "edge-1", "--node-cluster", "edge"]


def _xds_tls(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main([*BASE, *args]) == 0
    bootstrap = YAML(typ="safe").load(capsys.readouterr().out)
    cluster = bootstrap["static_resources"]["clusters"][0]
    socket = cluster["transport_socket"]
    assert socket["name"] == "envoy.transport_sockets.tls"
    config: dict[str, object] = socket["typed_config"]
    return config


def test_a_dns_name_is_sent_as_sni_and_required_in_the_certificate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tls = _xds_tls(
        capsys, "--xds-address", "gitxds.internal:18000", "--ca", "/etc/ca.crt",
        "--tls-cert", "/etc/envoy.crt", "--tls-key", "/etc/envoy.key",
    )  # fmt: skip
    assert tls["sni"] == "gitxds.internal"
    common = tls["common_tls_context"]
    assert common["tls_certificates"] == [  # type: ignore[index]
        {"certificate_chain": {"filename": "/etc/envoy.crt"}, "private_key": {"filename": "/etc/envoy.key"}}
    ]
    validation = common["validation_context"]  # type: ignore[index]
    assert validation["trusted_ca"] == {"filename": "/etc/ca.crt"}
    assert validation["match_typed_subject_alt_names"] == [
        {"san_type": "DNS", "matcher": {"exact": "gitxds.internal"}}
    ]


def test_an_ip_address_is_matched_as_an_ip_san_without_sni(capsys: pytest.CaptureFixture[str]) -> None:
    tls = _xds_tls(capsys, "--xds-address", "10.0.0.5:18000", "--ca", "/etc/ca.crt")
    assert "sni" not in tls
    validation = tls["common_tls_context"]["validation_context"]  # type: ignore[index]
    assert validation["match_typed_subject_alt_names"][0]["san_type"] == "IP_ADDRESS"
    assert "tls_certificates" not in tls["common_tls_context"]  # type: ignore[operator]


def test_without_ca_there_is_no_tls(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--xds-address", "127.0.0.1:18000"]) == 0
    assert "transport_socket" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ca", "ca.crt", "--tls-cert", "c.crt"], "--tls-cert and --tls-key go together"),
        (["--tls-cert", "c.crt", "--tls-key", "c.key"], "need --ca"),
    ],
)
def test_usage_mistakes_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main([*BASE, "--xds-address", "127.0.0.1:18000", *args]) == 2
    assert message in capsys.readouterr().err
