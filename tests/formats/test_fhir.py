"""The FHIR export, validated by fhir.resources' R4B models (not by hand), equal to the input."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome

from ecg_graphql.formats.errors import SamplingRateRequired
from ecg_graphql.formats.fhir import operation_outcome, render_fhir
from ecg_graphql.formats.record import EcgRecord, RecordLead

MDC = "urn:oid:2.16.840.1.113883.6.24"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _validated(data: bytes) -> dict[str, Any]:
    """The export as the R4B Observation model read it (raises on any invalid element)."""
    checked: dict[str, Any] = Observation.model_validate_json(data).model_dump(
        mode="json", exclude_none=True
    )
    return checked


def _codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept.get("coding", [])}


def test_mortara_is_a_valid_r4_observation_with_the_samples(mortara: EcgRecord) -> None:
    data = render_fhir(mortara)
    observation = _validated(data)
    assert observation["status"] == "final"
    assert _codes(observation["category"][0]) == {
        ("http://terminology.hl7.org/CodeSystem/observation-category", "procedure")
    }
    assert _codes(observation["code"]) == {(LOINC, "11524-6"), (MDC, "131328")}
    # Written with its UTC offset (the model would print +00:00 as Z).
    assert json.loads(data)["effectiveDateTime"] == "2013-01-25T10:59:19+00:00"
    assert observation["identifier"] == [{"value": "mortara-12lead"}]
    components = observation["component"]
    assert len(components) == 12
    expected_codes = ["131329", "131330", "131389", "131390", "131391", "131392",
                      "131331", "131332", "131333", "131334", "131335", "131336"]  # fmt: skip
    for component, lead, code in zip(components, mortara.leads, expected_codes, strict=True):
        assert _codes(component["code"]) == {(MDC, code)}, lead.name
        sampled = component["valueSampledData"]
        assert sampled["dimensions"] == 1
        assert sampled["origin"] == {"value": 0, "unit": "mV", "system": UCUM, "code": "mV"}
        assert float(sampled["period"]) == pytest.approx(1.0)  # ms, at 1 kHz
        assert float(sampled["factor"]) * 800.0 == pytest.approx(1.0)
        samples = np.array(sampled["data"].split(" "), dtype=np.int64)
        assert np.array_equal(samples, lead.samples), lead.name


def test_period_and_factor_of_mitdb(mitdb: EcgRecord) -> None:
    ii = _validated(render_fhir(mitdb))["component"][0]["valueSampledData"]
    assert float(ii["period"]) == pytest.approx(1000.0 / 360.0)
    assert float(ii["factor"]) == pytest.approx(1 / 200)
    assert np.array_equal(np.array(ii["data"].split(), dtype=np.int64), mitdb.leads[0].samples)


def test_measurements_with_a_value_become_coded_components(mortara: EcgRecord) -> None:
    record = dataclasses.replace(
        mortara,
        measurements={
            "heart_rate": 61.0, "pr_interval": 160.0, "qrs_duration": 92.0, "qt_interval": 400.0,
            "qtc_bazett": 402.0, "qtc_fridericia": 401.0, "qrs_axis": None, "t_axis": 35.0,
            "rhythm": "sinus",
        },
    )  # fmt: skip
    components = _validated(render_fhir(record))["component"][12:]
    measured = {
        next(iter(_codes(c["code"])))[1]: (float(c["valueQuantity"]["value"]),
                                           c["valueQuantity"]["code"])
        for c in components
    }  # fmt: skip
    assert all(next(iter(_codes(c["code"])))[0] == LOINC for c in components)
    assert measured == {
        "8867-4": (61.0, "/min"),
        "8625-6": (160.0, "ms"),
        "8633-0": (92.0, "ms"),
        "8634-8": (400.0, "ms"),
        "8636-3": (402.0, "ms"),
        "8638-9": (35.0, "deg"),
    }  # QRS axis is null: left out


def test_unknown_gain_has_factor_1_in_unit_1_and_other_leads_are_text() -> None:
    record = EcgRecord(
        id="odd",
        date=datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5))),
        sampling_rate=250.0,
        leads=(RecordLead("PLETH", np.array([1, -2, 3], dtype=np.int32), None),),
    )
    observation = _validated(render_fhir(record))
    assert observation["effectiveDateTime"] == "2024-05-01T09:30:00-05:00"
    (component,) = observation["component"]
    assert component["code"] == {"text": "PLETH"}
    sampled = component["valueSampledData"]
    assert float(sampled["factor"]) == 1
    assert sampled["origin"]["code"] == "1"
    assert float(sampled["period"]) == 4.0
    assert sampled["data"] == "1 -2 3"


def test_without_sampling_rate_fhir_is_refused_with_an_operation_outcome(
    mortara: EcgRecord,
) -> None:
    with pytest.raises(SamplingRateRequired) as raised:
        render_fhir(dataclasses.replace(mortara, sampling_rate=None))
    body = operation_outcome(str(raised.value))
    OperationOutcome.model_validate_json(body)
    (issue,) = json.loads(body)["issue"]
    assert issue["severity"] == "error"
    assert "sampling rate" in issue["diagnostics"]
