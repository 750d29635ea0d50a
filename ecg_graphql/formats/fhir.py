"""The ECG as an HL7 FHIR R4 Observation (`application/fhir+json`), coded as in the FHIR
specification's own ECG example: LOINC 11524-6 and MDC 131328, one component per lead whose
valueSampledData carries the samples, and one component per measurement that has a value.

`origin` is 0 mV (stored samples are 0 at 0 mV) and `factor` is 1 / units_per_mv, so
value = origin + factor * sample is in mV; a lead of unknown gain has factor 1 and an origin in
UCUM unit `1` (plain counts). `period` is in ms. The ECG id goes in `identifier` (a FHIR
resource id allows only 64 characters of [A-Za-z0-9.-], an ECG id may be anything).
QTc by Fridericia and the rhythm have no code in our contract and are not exported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ecg_graphql.formats.errors import SamplingRateRequired
from ecg_graphql.formats.record import EcgRecord, RecordLead

MEDIA_TYPE = "application/fhir+json"

LOINC = "http://loinc.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# IEEE 11073-10101 (MDC) codes of the twelve standard leads.
LEAD_CODES: Mapping[str, tuple[str, str]] = {
    "I": ("131329", "MDC_ECG_ELEC_POTL_I"),
    "II": ("131330", "MDC_ECG_ELEC_POTL_II"),
    "III": ("131389", "MDC_ECG_ELEC_POTL_III"),
    "aVR": ("131390", "MDC_ECG_ELEC_POTL_AVR"),
    "aVL": ("131391", "MDC_ECG_ELEC_POTL_AVL"),
    "aVF": ("131392", "MDC_ECG_ELEC_POTL_AVF"),
    "V1": ("131331", "MDC_ECG_ELEC_POTL_V1"),
    "V2": ("131332", "MDC_ECG_ELEC_POTL_V2"),
    "V3": ("131333", "MDC_ECG_ELEC_POTL_V3"),
    "V4": ("131334", "MDC_ECG_ELEC_POTL_V4"),
    "V5": ("131335", "MDC_ECG_ELEC_POTL_V5"),
    "V6": ("131336", "MDC_ECG_ELEC_POTL_V6"),
}

# measurement key -> (LOINC code, display, UCUM unit)
MEASUREMENT_CODES: Mapping[str, tuple[str, str, str]] = {
    "heart_rate": ("8867-4", "Heart rate", "/min"),
    "pr_interval": ("8625-6", "P-R Interval", "ms"),
    "qrs_duration": ("8633-0", "QRS duration", "ms"),
    "qt_interval": ("8634-8", "Q-T interval", "ms"),
    "qtc_bazett": ("8636-3", "Q-T interval corrected", "ms"),
    "qrs_axis": ("8632-2", "QRS axis", "deg"),
    "t_axis": ("8638-9", "T wave axis", "deg"),
}


def observation(record: EcgRecord) -> dict[str, Any]:
    """The Observation as JSON-ready data; raises SamplingRateRequired (FHIR needs `period`)."""
    if record.sampling_rate is None:
        raise SamplingRateRequired("FHIR")
    period_ms = 1000.0 / record.sampling_rate
    components = [_lead_component(lead, period_ms) for lead in record.leads]
    for key, (code, display, unit) in MEASUREMENT_CODES.items():
        value = (record.measurements or {}).get(key)
        if value is None or isinstance(value, str):
            continue
        components.append(
            {
                "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            }
        )
    return {
        "resourceType": "Observation",
        "identifier": [{"value": record.id}],
        "status": "final",
        "category": [
            {"coding": [{"system": CATEGORY, "code": "procedure", "display": "Procedure"}]}
        ],
        "code": {
            "coding": [
                {"system": LOINC, "code": "11524-6", "display": "EKG study"},
                {"system": MDC, "code": "131328", "display": "MDC_ECG_ELEC_POTL"},
            ]
        },
        "effectiveDateTime": record.date.isoformat(),
        "component": components,
    }


def render_fhir(record: EcgRecord) -> bytes:
    """The Observation as `application/fhir+json` bytes."""
    return orjson.dumps(observation(record))


def operation_outcome(diagnostics: str, code: str = "conflict") -> bytes:
    """A FHIR OperationOutcome with one error, for an export that cannot be made."""
    return orjson.dumps(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
        }
    )


def _lead_component(lead: RecordLead, period_ms: float) -> dict[str, Any]:
    if lead.name in LEAD_CODES:
        code, display = LEAD_CODES[lead.name]
        concept: dict[str, Any] = {"coding": [{"system": MDC, "code": code, "display": display}]}
    else:
        concept = {"text": lead.name}
    unit = "mV" if lead.units_per_mv is not None else "1"
    sampled: dict[str, Any] = {
        "origin": {"value": 0, "unit": unit, "system": UCUM, "code": unit},
        "period": period_ms,
        "factor": 1.0 / lead.units_per_mv if lead.units_per_mv is not None else 1,
        "dimensions": 1,
    }
    if len(lead.samples):
        # FHIR forbids an empty string: a lead without samples has no `data`.
        # orjson writes the integers ten times faster than str() per sample: "[1,-2]" -> "1 -2".
        sampled["data"] = orjson.dumps(lead.samples.tolist())[1:-1].replace(b",", b" ").decode()
    return {"code": concept, "valueSampledData": sampled}
