"""The strict CRD validator must reject what Istio rejects, or the golden tests prove nothing."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from .crd_validator import SAMPLES_DIR, CrdValidator, load_documents, require_istio_dir

INVALID = "validation-destinationrule-invalid.yaml"


def _paths(validator: CrdValidator, document: dict[str, Any]) -> list[str]:
    return [problem.path for problem in validator.validate(document)]


def _ratings_route() -> dict[str, Any]:
    return copy.deepcopy(load_documents(SAMPLES_DIR / "virtual-service-ratings-test-delay.yaml")[0])


def test_istio_reference_data_is_present() -> None:
    assert (require_istio_dir() / "crds" / "VirtualService.yaml").is_file()


@pytest.mark.parametrize("sample", sorted(p.name for p in SAMPLES_DIR.glob("*.yaml") if p.name != INVALID))
def test_accepts_every_valid_istio_sample(sample: str, crd_validator: CrdValidator) -> None:
    for document in load_documents(SAMPLES_DIR / sample):
        assert [str(p) for p in crd_validator.validate(document)] == []


@pytest.mark.parametrize("index", [0, 1, 2])
def test_rejects_each_invalid_destination_rule_at_the_field_istio_names(
    index: int, crd_validator: CrdValidator
) -> None:
    document = load_documents(SAMPLES_DIR / INVALID)[index]
    expected_field = document.pop("_err").split(":")[0]
    paths = _paths(crd_validator, document)
    assert paths
    assert all(expected_field.startswith(path) for path in paths), (expected_field, paths)


def test_rejects_the_test_annotation_as_an_unknown_top_level_field(crd_validator: CrdValidator) -> None:
    document = load_documents(SAMPLES_DIR / INVALID)[0]
    assert "_err" in _paths(crd_validator, document)


def test_rejects_a_misspelled_field(crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["spec"]["http"][0]["timeOut"] = "5s"
    assert _paths(crd_validator, document) == ["spec.http[0].timeOut"]


def test_rejects_a_misspelled_field_inside_a_map_value(crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["spec"]["http"][0]["match"][0]["headers"]["end-user"] = {"exakt": "jason"}
    assert _paths(crd_validator, document) == ["spec.http[0].match[0].headers.end-user.exakt"]


@pytest.mark.parametrize("value", ["7 seconds", "7", "0.5ms", "-1s"])
def test_rejects_durations_the_cel_rule_rejects(value: str, crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["spec"]["http"][0]["fault"]["delay"]["fixedDelay"] = value
    assert _paths(crd_validator, document) == ["spec.http[0].fault.delay.fixedDelay"]


@pytest.mark.parametrize("value", ["1h30m", "1.5s", "250ms", "1ms"])
def test_accepts_go_durations_of_at_least_a_millisecond(value: str, crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["spec"]["http"][0]["fault"]["delay"]["fixedDelay"] = value
    assert _paths(crd_validator, document) == []


def test_rejects_a_value_outside_an_enum(crd_validator: CrdValidator) -> None:
    document = copy.deepcopy(load_documents(SAMPLES_DIR / "destination-rule-reviews.yaml")[0])
    document["spec"]["trafficPolicy"]["loadBalancer"]["simple"] = "FASTEST"
    assert _paths(crd_validator, document) == ["spec.trafficPolicy.loadBalancer.simple"]


def test_rejects_an_unknown_metadata_field_and_a_bad_name(crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["metadata"] = {"name": "Ratings_Route", "labelz": {}}
    assert sorted(_paths(crd_validator, document)) == ["metadata.labelz", "metadata.name"]


def test_a_missing_reference_directory_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="clone shared"):
        require_istio_dir(tmp_path / "nowhere")


def _policies_output(kind: str) -> dict[str, Any]:
    path = Path(__file__).resolve().parent / "golden" / "policies" / "out" / "istio.yaml"
    document = next(d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] == kind)
    return copy.deepcopy(document)


def test_hand_written_schemas_catch_a_misspelled_authorization_policy_field(
    crd_validator: CrdValidator,
) -> None:
    document = _policies_output("AuthorizationPolicy")
    document["spec"]["rules"][0]["to"][0]["operation"]["path"] = ["/x"]
    assert _paths(crd_validator, document) == ["spec.rules[0].to[0].operation.path"]


def test_hand_written_schemas_catch_a_bad_envoy_filter_enum(crd_validator: CrdValidator) -> None:
    document = _policies_output("EnvoyFilter")
    document["spec"]["configPatches"][0]["applyTo"] = "HTTP_FILTERS"
    assert _paths(crd_validator, document) == ["spec.configPatches[0].applyTo"]


@pytest.mark.parametrize(("value", "valid"), [(3, True), ("3", True), (3.5, False), ([3], False)])
def test_int_or_string_fields_take_either(value: object, valid: bool, crd_validator: CrdValidator) -> None:
    document = _ratings_route()
    document["status"] = {"observedGeneration": value}
    assert (_paths(crd_validator, document) == []) is valid
