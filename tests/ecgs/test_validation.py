"""Every rule of DESIGN.md "ECG input", on the validator and through an HTTP upload."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from ecg_graphql.db.documents import EcgDocument, SignalChunkDocument
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload, ValidEcg, validate_ecg
from ecg_graphql.errors import ValidationFailed
from tests.harness import UPLOAD, Api

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
DATE = datetime(2024, 1, 2, 10, 0, tzinfo=UTC)

GOOD_NAMES = ["I", "a", "0", "lead_7", "x-1", "A" * 16, "Lead-2_b", "V6"]
BAD_NAMES = [
    "A" * 17,  # too long
    "",  # empty
    " ",
    "V 1",  # inner space
    "I ",  # trailing space
    "V.1",  # dot
    "é",  # unicode letter
    "\u216b",  # ROMAN NUMERAL TWELVE
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit, but not an ASCII one
    "\uff29",  # FULLWIDTH LATIN CAPITAL LETTER I
    "I\x00",  # NUL
    "I\n",  # a trailing newline slips past a regex anchored with $
    "aVR;",
    "{I}",
]

# (signal, a string that must not be echoed in any message)
BAD_SIGNALS: list[tuple[object, str]] = [
    ([], "[]"),
    ([1.0], "1.0"),
    ([1.5], "1.5"),
    ([3, 7654321.5], "7654321"),
    (["7654321"], "7654321"),
    ([True, 7654321], "True"),
    ([False], "False"),
    ([None], "None"),
    ([7654321, None], "7654321"),
    ([[7654321]], "7654321"),
    ([7654321, [1, 2]], "7654321"),
    ({"v": 7654321}, "7654321"),
    ("7654321", "7654321"),
    (7654321, "7654321"),
    (None, "None"),
    ([2**31], str(2**31)),
    ([-(2**31) - 1], str(-(2**31) - 1)),
    ([2**70], str(2**70)),
    ([-(2**70)], str(2**70)),
    ([1, 2, 2**63], str(2**63)),
]
# The same cases as they can travel in JSON (None means a JSON null signal, which the
# GraphQL type `Samples!` rejects before validation, so it is left out over HTTP).
HTTP_BAD_SIGNALS = [case for case in BAD_SIGNALS if case[0] is not None]


_DEFAULT_SIGNAL: object = object()


def lead(name: str = "I", signal: object = _DEFAULT_SIGNAL, n: int | None = None) -> LeadUpload:
    if signal is _DEFAULT_SIGNAL:
        signal = [1, -2, 3]
    return LeadUpload(name=name, number_of_samples=n, signal=signal)


def ecg(
    leads: list[LeadUpload] | None = None,
    *,
    rate: float | None = 500.0,
    ecg_id: str | None = None,
    date: datetime = DATE,
) -> EcgUpload:
    return EcgUpload(
        id=ecg_id, date=date, sampling_rate=rate, leads=[lead()] if leads is None else leads
    )


def rejected(upload: EcgUpload) -> dict[str, str]:
    """field -> message of every issue; fails when the upload is accepted or a field repeats."""
    with pytest.raises(ValidationFailed) as caught:
        validate_ecg(upload)
    fields = [issue.field for issue in caught.value.issues]
    assert len(fields) == len(set(fields)), fields
    return {issue.field: issue.message for issue in caught.value.issues}


def accepted(upload: EcgUpload) -> ValidEcg:
    return validate_ecg(upload)


# --- the validator -------------------------------------------------------------------------


def test_a_valid_ecg_keeps_its_samples_and_fields() -> None:
    valid = accepted(ecg([lead("I", [1, -2, 3], 3), lead("V1", [0])], rate=360.0, ecg_id="x"))
    assert valid.id == "x"
    assert valid.signal.sampling_rate == 360.0
    assert [(v.name, v.samples.tolist()) for v in valid.signal.leads] == [
        ("I", [1, -2, 3]),
        ("V1", [0]),
    ]


@pytest.mark.parametrize("count", [0, 65, 100])
def test_lead_count_out_of_range_is_rejected(count: int) -> None:
    leads = [lead(f"L{i}") for i in range(count)]
    assert set(rejected(ecg(leads))) == {"leads"}


@pytest.mark.parametrize("count", [1, 64])
def test_lead_count_in_range_is_accepted(count: int) -> None:
    leads = [lead(f"L{i}", [i + 1]) for i in range(count)]
    assert [v.samples.tolist() for v in accepted(ecg(leads)).signal.leads] == [
        [i + 1] for i in range(count)
    ]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_lead_names_are_accepted(name: str) -> None:
    assert len(accepted(ecg([lead("II"), lead(name)])).signal.leads) == 2


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_lead_names_are_rejected(name: str) -> None:
    assert set(rejected(ecg([lead("II"), lead(name)]))) == {"leads.1.name"}


@pytest.mark.parametrize(
    "names", [["I", "i"], ["aVR", "AVR"], ["avr", "aVR"], ["lead_7", "LEAD_7"], ["x", "x"]]
)
def test_duplicate_names_are_rejected_case_insensitively(names: list[str]) -> None:
    assert set(rejected(ecg([lead(n) for n in names]))) == {"leads.1.name"}


def test_each_duplicate_is_reported() -> None:
    issues = rejected(ecg([lead("I"), lead("II"), lead("i"), lead("ii"), lead("I")]))
    assert set(issues) == {"leads.2.name", "leads.3.name", "leads.4.name"}


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("i", "I"),
        ("ii", "II"),
        ("iIi", "III"),
        ("avr", "aVR"),
        ("AVL", "aVL"),
        ("Avf", "aVF"),
        ("v1", "V1"),
        ("v6", "V6"),
        ("aVR", "aVR"),
        ("lead_7", "lead_7"),
        ("LEAD_7", "LEAD_7"),
        ("v7", "v7"),
        ("Foo", "Foo"),
    ],
)
def test_standard_names_get_canonical_spelling(given: str, canonical: str) -> None:
    assert [v.name for v in accepted(ecg([lead(given)])).signal.leads] == [canonical]


@pytest.mark.parametrize(("signal", "secret"), BAD_SIGNALS)
def test_bad_signals_are_rejected_without_echoing_values(signal: object, secret: str) -> None:
    issues = rejected(ecg([lead("I"), lead("II", signal)]))
    assert set(issues) == {"leads.1.signal"}
    assert secret not in issues["leads.1.signal"]


@pytest.mark.parametrize(
    "signal", [[INT32_MAX], [INT32_MIN], [INT32_MIN, 0, INT32_MAX], [0], [-32769, 32768]]
)
def test_int32_extremes_are_accepted(signal: list[int]) -> None:
    assert accepted(ecg([lead("I", signal)])).signal.leads[0].samples.tolist() == signal


@pytest.mark.parametrize("n", [2, 4, 0, -1, -(2**31)])
def test_number_of_samples_must_be_positive_and_match(n: int) -> None:
    issues = rejected(ecg([lead("I", [1, 2, 3], 3), lead("II", [1, 2, 3], n)]))
    assert set(issues) == {"leads.1.numberOfSamples"}


def test_matching_number_of_samples_is_accepted() -> None:
    assert len(accepted(ecg([lead("I", [5] * 7, 7)])).signal.leads[0].samples) == 7


@pytest.mark.parametrize("rate", [0.0, -0.0, -1.0, -500.0, 100000.0001, 1e9, math.inf, math.nan])
def test_bad_sampling_rates_are_rejected(rate: float) -> None:
    assert set(rejected(ecg(rate=rate))) == {"samplingRate"}


@pytest.mark.parametrize("rate", [100000.0, 0.001, 1.0, 360.0, None])
def test_good_sampling_rates_are_accepted(rate: float | None) -> None:
    assert accepted(ecg(rate=rate)).signal.sampling_rate == rate


def test_too_many_leads_still_reports_the_other_violations() -> None:
    leads = [lead(f"L{i}") for i in range(65)]
    leads[3] = lead("bad.name")
    assert {"leads", "samplingRate", "leads.3.name"} <= set(rejected(ecg(leads, rate=-1.0)))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (datetime(2024, 1, 2, 10, 0), datetime(2024, 1, 2, 10, 0, tzinfo=UTC)),
        (
            datetime(2024, 1, 2, 10, 0, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 1, 2, 8, 0, tzinfo=UTC),
        ),
        (
            datetime(2024, 1, 2, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
            datetime(2024, 1, 1, 19, 30, tzinfo=UTC),
        ),
    ],
)
def test_dates_are_returned_in_utc(given: datetime, expected: datetime) -> None:
    date = accepted(ecg(date=given)).date
    assert date == expected
    assert date.utcoffset() == timedelta(0)


def test_a_file_readers_integer_arrays_go_through_the_same_rules() -> None:
    # Imports hand over numpy arrays: the same checks, without a round trip through lists.
    good = np.array([INT32_MIN, 0, INT32_MAX], dtype=np.int64)
    assert accepted(ecg([lead("I", good, 3)])).signal.leads[0].samples.tolist() == good.tolist()
    assert set(rejected(ecg([lead("I", np.array([2**31], dtype=np.int64))]))) == {
        "leads.0.signal"
    }
    assert set(rejected(ecg([lead("I", np.zeros(0, dtype=np.int16))]))) == {"leads.0.signal"}
    assert set(rejected(ecg([lead("I", np.array([0.5]))]))) == {"leads.0.signal"}
    assert set(rejected(ecg([lead("I", good, 2)]))) == {"leads.0.numberOfSamples"}


# --- through HTTP --------------------------------------------------------------------------

COUNT = "{ ecgs { totalCount edges { node { id } } } }"


def http_ecg(leads: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "date": "2024-01-02T10:00:00Z",
        "leads": [{"name": "I", "signal": [1, -2, 3]}] if leads is None else leads,
        **fields,
    }


async def rejected_over_http(api: Api, ecg_input: dict[str, Any]) -> dict[str, str]:
    """field -> message of the ValidationError; also checks nothing was stored."""
    return (await rejected_over_http_raw(api, ecg_input))[0]


async def rejected_over_http_raw(api: Api, ecg_input: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The ValidationError's field -> message and the raw answer; checks nothing was stored."""
    token = await api.user_token()
    response = await api.post(UPLOAD, {"input": ecg_input}, token=token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["uploadEcg"]
    assert result["__typename"] == "ValidationError", result
    assert result["message"]
    fields = [f["field"] for f in result["fields"]]
    assert len(fields) == len(set(fields)), fields
    assert await api.gql(COUNT, token=token) == {"data": {"ecgs": {"totalCount": 0, "edges": []}}}
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 0
    assert await SignalChunkDocument.get_pymongo_collection().count_documents({}) == 0
    return {f["field"]: f["message"] for f in result["fields"]}, response.text


async def accepted_over_http(api: Api, ecg_input: dict[str, Any]) -> dict[str, Any]:
    result = await api.upload(ecg_input, await api.user_token())
    assert result["__typename"] == "Ecg", result
    return result


async def test_http_canonical_names(api: Api) -> None:
    given = ["avr", "v1", "ii", "lead_7", "AVF", "Foo"]
    result = await accepted_over_http(api, http_ecg([{"name": n, "signal": [1]} for n in given]))
    canonical = ["aVR", "V1", "II", "lead_7", "aVF", "Foo"]
    assert [x["name"] for x in result["leads"]] == canonical
    assert [x["lead"] for x in result["insights"]] == canonical
    token = await api.user_token()
    read = await api.gql(
        "query($id: ID!) { ecg(id: $id) { leads { name } } }", {"id": result["id"]}, token=token
    )
    assert [x["name"] for x in read["data"]["ecg"]["leads"]] == canonical


@pytest.mark.parametrize(("signal", "secret"), HTTP_BAD_SIGNALS)
async def test_http_bad_signals(api: Api, signal: object, secret: str) -> None:
    ecg_input = http_ecg([{"name": "I", "signal": [1]}, {"name": "II", "signal": signal}])
    issues, text = await rejected_over_http_raw(api, ecg_input)
    assert set(issues) == {"leads.1.signal"}
    # The values are not echoed anywhere in the answer (as JSON spells them).
    assert {"True": "true", "False": "false", "None": "null"}.get(secret, secret) not in text


@pytest.mark.parametrize(
    ("literal", "secret"),
    [
        ("[1.5]", "1.5"),
        ('["7654321"]', "7654321"),
        ("[true]", "true"),
        ("[null]", "null"),
        ("[[7654321]]", "7654321"),
        ("{v: 7654321}", "7654321"),
        ("[2147483648]", "2147483648"),
        ("[]", "[]"),
    ],
)
async def test_inline_bad_signal_literals(api: Api, literal: str, secret: str) -> None:
    # Typed inline in GraphiQL, a signal is a literal, not a variable: same rules, same error.
    token = await api.user_token()
    query = (
        'mutation { uploadEcg(input: {date: "2024-01-02", leads: [{name: "I", signal: '
        + literal
        + "}]}) { __typename ... on ValidationError { fields { field message } } } }"
    )
    response = await api.post(query, token=token)
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    result = body["data"]["uploadEcg"]
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["leads.0.signal"]
    assert secret not in json.dumps(result["fields"])


async def test_inline_good_signal_literal(api: Api) -> None:
    token = await api.user_token()
    query = (
        'mutation { uploadEcg(input: {id: "lit", date: "2024-01-02", '
        'leads: [{name: "I", signal: [1, -2, 0, 2147483647, -2147483648]}]}) '
        "{ __typename ... on Ecg { leads { signal } insights { zeroCrossings } } } }"
    )
    body = await api.gql(query, token=token)
    assert body == {
        "data": {
            "uploadEcg": {
                "__typename": "Ecg",
                "leads": [{"signal": [1, -2, 0, INT32_MAX, INT32_MIN]}],
                "insights": [{"zeroCrossings": 3}],
            }
        }
    }


async def test_http_every_violation_at_once(api: Api) -> None:
    leads: list[dict[str, Any]] = [
        {"name": "I", "signal": [1, 2]},
        {"name": "bad name", "signal": [1, 2]},
        {"name": "i", "signal": [1.5]},
        {"name": "V1", "numberOfSamples": 3, "signal": [1, 2]},
        {"name": "V2", "numberOfSamples": 0, "signal": [2**31]},
        {"name": "V3", "signal": []},
        {"name": "V4", "signal": [True, None, "x", [1]]},
    ]
    issues = await rejected_over_http(api, http_ecg(leads, samplingRate=-1))
    assert set(issues) == {
        "samplingRate",
        "leads.1.name",
        "leads.2.name",
        "leads.2.signal",
        "leads.3.numberOfSamples",
        "leads.4.signal",
        "leads.4.numberOfSamples",
        "leads.5.signal",
        "leads.6.signal",
    }
    assert all(message for message in issues.values())


async def test_http_validation_with_a_client_id_stores_nothing(api: Api) -> None:
    # A rejected upload does not reserve its id: the corrected one goes through.
    await rejected_over_http(api, http_ecg([{"name": "I", "signal": [0.5]}], id="rec-1"))
    result = await accepted_over_http(api, http_ecg(id="rec-1"))
    assert result["id"] == "rec-1"


async def test_http_generated_ids_are_unique(api: Api) -> None:
    ids = [(await accepted_over_http(api, http_ecg()))["id"] for _ in range(4)]
    assert all(isinstance(i, str) and i.strip() for i in ids)
    assert len(set(ids)) == 4
    token = await api.user_token()
    for ecg_id in ids:
        read = await api.gql("query($id: ID!) { ecg(id: $id) { id } }", {"id": ecg_id}, token=token)
        assert read == {"data": {"ecg": {"id": ecg_id}}}


@pytest.mark.parametrize("ecg_id", ["rec-1", "A b/c?#1", "123", "x" * 100, "ñandú-ecg"])
async def test_http_client_id_is_kept_as_given(api: Api, ecg_id: str) -> None:
    result = await accepted_over_http(api, http_ecg(id=ecg_id))
    assert result["id"] == ecg_id
    read = await api.gql(
        "query($id: ID!) { ecg(id: $id) { id } }", {"id": ecg_id}, token=await api.user_token()
    )
    assert read == {"data": {"ecg": {"id": ecg_id}}}
