"""manifests/grafana-dashboard.json queries only metrics and labels gitxds exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gitxds import typeurls
from gitxds.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "manifests" / "grafana-dashboard.json"
SCRAPE_LABELS = {"job", "instance", "pod", "namespace", "le"}  # added by Prometheus, or histogram buckets


def exported() -> dict[str, set[str]]:
    """Sample name -> label names, from the /metrics text of a Metrics whose every family has data."""
    metrics = Metrics(CollectorRegistry())
    metrics.record_push(typeurls.CLUSTER, 120)
    metrics.record_nack(typeurls.ROUTE)
    metrics.xds_connected_proxies.set(2)
    metrics.xds_streams.labels(variant="delta-ads").inc()
    metrics.set_config_version("0123abc")
    metrics.snapshot_build_seconds.observe(0.004)
    metrics.config_errors.labels(reason="UnknownBackend").inc()
    metrics.convergence_seconds.observe(0.02)
    metrics.config_reloads.labels(result="served").inc()
    metrics.reload_failures.labels(reason="io_error").inc()
    metrics.config_reads_held.labels(reason="emptied").inc()
    samples: dict[str, set[str]] = {}
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def targets() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t for panel in dashboard["panels"] for t in panel["targets"]]


def test_the_dashboard_covers_every_gitxds_metric() -> None:
    queried = {name for t in targets() for name in re.findall(r"\bgitxds_[a-z0-9_]+", t["expr"])}
    families = {re.sub(r"_(total|bucket|sum|count|info|created)$", "", name) for name in exported()}
    assert {re.sub(r"_(total|bucket|sum|count|info|created)$", "", name) for name in queried} == families


@pytest.mark.parametrize("target", targets(), ids=lambda t: t["expr"][:60])
def test_every_query_names_exported_metrics_and_labels(target: dict[str, Any]) -> None:
    samples = exported()
    names = re.findall(r"\bgitxds_[a-z0-9_]+", target["expr"])
    assert names
    for name in names:
        assert name in samples, f"{name} is not in /metrics"
    labels = set().union(*(samples[name] for name in names)) | SCRAPE_LABELS
    grouped = {
        label.strip() for group in re.findall(r"by \(([^)]*)\)", target["expr"]) for label in group.split(",")
    }
    in_legend = set(re.findall(r"\{\{(\w+)\}\}", target["legendFormat"]))
    assert grouped | in_legend <= labels


def test_panels_have_unique_ids_and_use_the_datasource_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(panel["datasource"]["uid"] == "${datasource}" for panel in dashboard["panels"])
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "job"}
