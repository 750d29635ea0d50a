"""ECG operations over HTTP: roles, ownership, per-owner ids, listing order and pages,
deletion and DateTime handling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ecg_graphql.db.documents import EcgDocument, SignalChunkDocument
from tests.harness import Api, error_codes
from tests.reference import reference_zero_crossings

UPLOAD = """
mutation Upload($input: EcgInput!) {
  uploadEcg(input: $input) {
    __typename
    ... on Ecg {
      id date createdAt samplingRate
      leads { name numberOfSamples signal }
      insights { lead zeroCrossings }
    }
    ... on EcgAlreadyExistsError { message id }
    ... on ValidationError { message fields { field message } }
  }
}
"""
READ = """
query Read($id: ID!) {
  ecg(id: $id) {
    id date createdAt samplingRate
    leads { name numberOfSamples signal }
    insights { lead zeroCrossings }
  }
}
"""
LIST = """
query List($first: Int!, $after: String) {
  ecgs(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id date } }
  }
}
"""
DELETE = "mutation Delete($id: ID!) { deleteEcg(id: $id) }"


def small_ecg(
    ecg_id: str | None = None, date: str = "2024-01-02T10:00:00Z", signal: list[int] | None = None
) -> dict[str, Any]:
    ecg: dict[str, Any] = {
        "date": date,
        "samplingRate": 500,
        "leads": [{"name": "II", "signal": [3, -1, 0, 2] if signal is None else signal}],
    }
    if ecg_id is not None:
        ecg["id"] = ecg_id
    return ecg


async def read(api: Api, ecg_id: str, token: str) -> dict[str, Any] | None:
    body = await api.gql(READ, {"id": ecg_id}, token=token)
    assert "errors" not in body, body
    ecg: dict[str, Any] | None = body["data"]["ecg"]
    return ecg


async def listing(
    api: Api, token: str, first: int = 100, after: str | None = None
) -> dict[str, Any]:
    body = await api.gql(LIST, {"first": first, "after": after}, token=token)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"]["ecgs"]
    return page


# Every ECG operation, with the name of its field in `data`.
OPERATIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("uploadEcg", UPLOAD, {"input": small_ecg("rec-new")}),
    ("ecg", READ, {"id": "rec-1"}),
    ("ecgs", LIST, {"first": 20}),
    ("deleteEcg", DELETE, {"id": "rec-1"}),
]


@pytest.mark.parametrize(("field", "query", "variables"), OPERATIONS)
async def test_admin_is_forbidden_every_ecg_operation(
    api: Api, field: str, query: str, variables: dict[str, Any]
) -> None:
    user = await api.user_token()
    original = await api.uploaded(small_ecg("rec-1"), user, query=UPLOAD)
    admin = await api.admin_token()

    body = await api.gql(query, variables, token=admin)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert (body.get("data") or {}).get(field) is None, body

    # Even on an id that exists, nothing was read, changed or added.
    assert await read(api, "rec-1", user) == {k: original[k] for k in original if k != "__typename"}
    assert [e["node"]["id"] for e in (await listing(api, user))["edges"]] == ["rec-1"]
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 1


@pytest.mark.parametrize(("field", "query", "variables"), OPERATIONS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer not-a-token"},
        {"authorization": "Bearer "},
        {"authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_unauthenticated_gets_unauthenticated(
    api: Api, field: str, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> None:
    user = await api.user_token()
    await api.uploaded(small_ecg("rec-1"), user, query=UPLOAD)

    body = await api.gql(query, variables, headers=headers)
    assert error_codes(body) == ["UNAUTHENTICATED"], body
    assert (body.get("data") or {}).get(field) is None, body
    assert await read(api, "rec-1", user) is not None
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 1


async def test_another_users_ecg_is_invisible(api: Api) -> None:
    alice = await api.user_token("alice")
    bob = await api.user_token("bob")
    mine = await api.uploaded(small_ecg("rec-1"), alice, query=UPLOAD)
    generated = await api.uploaded(small_ecg(), alice, query=UPLOAD)

    for ecg_id in ("rec-1", generated["id"]):
        # Exactly as for an id that does not exist: null, no error.
        assert await api.gql(READ, {"id": ecg_id}, token=bob) == {"data": {"ecg": None}}
        assert await api.gql(DELETE, {"id": ecg_id}, token=bob) == {"data": {"deleteEcg": False}}
    assert await api.gql(READ, {"id": "nope"}, token=bob) == {"data": {"ecg": None}}
    assert await api.gql(DELETE, {"id": "nope"}, token=bob) == {"data": {"deleteEcg": False}}
    assert await listing(api, bob) == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }

    # Alice's ECGs are untouched by Bob's attempts.
    assert await read(api, "rec-1", alice) == {k: mine[k] for k in mine if k != "__typename"}
    assert (await listing(api, alice))["totalCount"] == 2


async def test_ids_are_unique_per_owner(api: Api) -> None:
    alice = await api.user_token("alice")
    bob = await api.user_token("bob")
    a_signal, b_signal = [1, -1, 1, -1], [5, 5, 0, 5]
    a = await api.uploaded(small_ecg("rec-1", signal=a_signal), alice, query=UPLOAD)
    b = await api.uploaded(small_ecg("rec-1", "2023-05-06", signal=b_signal), bob, query=UPLOAD)
    assert a["id"] == b["id"] == "rec-1"
    assert a["insights"] == [{"lead": "II", "zeroCrossings": reference_zero_crossings(a_signal)}]
    assert b["insights"] == [{"lead": "II", "zeroCrossings": reference_zero_crossings(b_signal)}]
    assert a["insights"] != b["insights"]

    alice_view = await read(api, "rec-1", alice)
    bob_view = await read(api, "rec-1", bob)
    assert alice_view is not None
    assert bob_view is not None
    assert alice_view["leads"][0]["signal"] == [1, -1, 1, -1]
    assert alice_view["insights"] == a["insights"]
    assert bob_view["leads"][0]["signal"] == [5, 5, 0, 5]
    assert bob_view["insights"] == b["insights"]
    assert bob_view["date"] == "2023-05-06T00:00:00+00:00"

    # Deleting one owner's rec-1 leaves the other's.
    assert await api.gql(DELETE, {"id": "rec-1"}, token=alice) == {"data": {"deleteEcg": True}}
    assert await read(api, "rec-1", alice) is None
    assert await read(api, "rec-1", bob) == {k: b[k] for k in b if k != "__typename"}


async def test_repeated_id_is_refused_without_overwriting(api: Api) -> None:
    alice = await api.user_token("alice")
    original = await api.uploaded(small_ecg("rec-1", signal=[1, -1, 1]), alice, query=UPLOAD)

    again = small_ecg("rec-1", "2030-01-01", signal=[7, 7, 7, 7, 7, 7])
    again["samplingRate"] = 1000
    body = await api.gql(UPLOAD, {"input": again}, token=alice)
    assert "errors" not in body, body
    result = body["data"]["uploadEcg"]
    assert result["__typename"] == "EcgAlreadyExistsError"
    assert result["id"] == "rec-1"
    assert result["message"]

    assert await read(api, "rec-1", alice) == {
        k: original[k] for k in original if k != "__typename"
    }
    page = await listing(api, alice)
    assert page["totalCount"] == 1
    assert await SignalChunkDocument.get_pymongo_collection().count_documents({}) == 1


async def test_repeated_id_of_a_large_ecg_is_refused_without_overwriting(api: Api) -> None:
    # Large uploads may take a different path to the duplicate check: same outcome.
    alice = await api.user_token("alice")
    length = 600_000
    first: dict[str, Any] = {
        "id": "big",
        "date": "2024-01-02",
        "leads": [
            {"name": "I", "signal": [i % 7 - 3 for i in range(length)]},
            {"name": "II", "signal": [1] * length},
        ],
    }
    await api.uploaded(first, alice, query=UPLOAD)
    again = dict(first)
    again["leads"] = [
        {"name": "I", "signal": [-1] * length},
        {"name": "II", "signal": [2, -2] * (length // 2)},
    ]
    body = await api.gql(UPLOAD, {"input": again}, token=alice)
    assert "errors" not in body, body
    assert body["data"]["uploadEcg"]["__typename"] == "EcgAlreadyExistsError", body
    assert body["data"]["uploadEcg"]["id"] == "big"

    stored = await read(api, "big", alice)
    assert stored is not None
    assert [lead["signal"] for lead in stored["leads"]] == [
        lead["signal"] for lead in first["leads"]
    ]
    [document] = await EcgDocument.get_pymongo_collection().find({}).to_list()
    chunks = await SignalChunkDocument.get_pymongo_collection().find({}).to_list()
    assert {c["signal_id"] for c in chunks} == {document["signal_id"]}


# (id, date as sent): uploaded in this order.
LISTED = [
    ("e0", "2024-01-05"),
    ("e1", "2024-01-03T00:00:00Z"),
    ("e2", "2024-01-05T00:00:00+00:00"),  # same instant as e0, uploaded later
    ("e3", "2023-12-31T23:59:59.999Z"),
    ("e4", "2024-01-05T02:00:00+02:00"),  # same instant again, newest upload
    ("e5", "2024-01-04T12:00:00+02:00"),
    ("e6", "2024-01-04T10:00:00"),  # same instant as e5
    ("e7", "2024-01-04T10:00:00.001Z"),
    ("e8", "1969-07-20T20:17:40Z"),
]


def newest_first() -> list[str]:
    """The order DESIGN.md promises: newest date first, ties newest upload first."""

    def instant(date: str) -> datetime:
        parsed = datetime.fromisoformat(date.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    ordered = sorted(
        enumerate(LISTED), key=lambda item: (instant(item[1][1]), item[0]), reverse=True
    )
    return [ecg_id for _, (ecg_id, _) in ordered]


async def test_listing_is_newest_date_first_then_newest_upload(api: Api) -> None:
    alice = await api.user_token("alice")
    for ecg_id, date in LISTED:
        await api.uploaded(small_ecg(ecg_id, date), alice, query=UPLOAD)
    page = await listing(api, alice)
    assert [e["node"]["id"] for e in page["edges"]] == newest_first()
    assert page["totalCount"] == len(LISTED)
    assert page["pageInfo"]["hasNextPage"] is False


async def walk_pages(api: Api, token: str, first: int) -> list[str]:
    """Every id of the caller's listing, page by page, checking each page's metadata."""
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await listing(api, token, first, after)
        ids = [e["node"]["id"] for e in page["edges"]]
        # Every page is full except the last.
        assert len(ids) == min(first, len(LISTED) - len(seen)), (first, seen, page)
        assert page["totalCount"] == len(LISTED)
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += ids
        more = len(seen) < len(LISTED)
        assert page["pageInfo"]["hasNextPage"] is more, (first, seen, page)
        after = page["pageInfo"]["endCursor"]
        if not more:
            break
    # Past the end: an empty page.
    assert await listing(api, token, first, after) == {
        "totalCount": len(LISTED),
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
    return seen


async def test_pages_cover_every_ecg_once_in_order(api: Api) -> None:
    alice = await api.user_token("alice")
    bob = await api.user_token("bob")
    for ecg_id, date in LISTED:
        await api.uploaded(small_ecg(ecg_id, date), alice, query=UPLOAD)
    await api.uploaded(small_ecg("bobs"), bob, query=UPLOAD)  # never in Alice's pages

    for first in (1, 2, 3, 4, len(LISTED) - 1, len(LISTED), 100):
        assert await walk_pages(api, alice, first) == newest_first(), first


async def test_cursor_survives_new_uploads(api: Api) -> None:
    # A page boundary is a position, not an index: a newer upload does not shift later pages.
    alice = await api.user_token("alice")
    for ecg_id, date in LISTED:
        await api.uploaded(small_ecg(ecg_id, date), alice, query=UPLOAD)
    first_page = await listing(api, alice, 3)
    await api.uploaded(small_ecg("newest", "2099-01-01"), alice, query=UPLOAD)
    rest = await listing(api, alice, 100, first_page["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in first_page["edges"] + rest["edges"]] == newest_first()
    assert rest["totalCount"] == len(LISTED) + 1


async def test_empty_listing(api: Api) -> None:
    alice = await api.user_token("alice")
    assert await listing(api, alice, 20) == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
    default = await api.gql("{ ecgs { totalCount edges { cursor } } }", token=alice)
    assert default == {"data": {"ecgs": {"totalCount": 0, "edges": []}}}


async def test_default_page_size_is_20(api: Api) -> None:
    alice = await api.user_token("alice")
    for i in range(21):
        await api.uploaded(small_ecg(f"d{i}", f"2024-01-{i + 1:02d}"), alice, query=UPLOAD)
    body = await api.gql(
        "{ ecgs { totalCount pageInfo { hasNextPage } edges { node { id } } } }", token=alice
    )
    page = body["data"]["ecgs"]
    assert [e["node"]["id"] for e in page["edges"]] == [f"d{i}" for i in range(20, 0, -1)]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["totalCount"] == 21


@pytest.mark.parametrize(
    ("first", "after"),
    [
        (0, None),
        (-1, None),
        (101, None),
        (100_000, None),
        (20, "garbage"),
        (20, ""),
        (20, "W10="),  # base64 of "[]"
        (20, "WzEsMiwienoiXQ=="),  # base64 of [1,2,"zz"]
        (20, "eyJhIjoxfQ=="),  # base64 of {"a":1}
        (20, "x" * 2000),
        (20, '{"$gt": ""}'),
    ],
)
async def test_bad_page_arguments_are_bad_user_input(
    api: Api, first: int, after: str | None
) -> None:
    alice = await api.user_token("alice")
    await api.uploaded(small_ecg("rec-1"), alice, query=UPLOAD)
    body = await api.gql(LIST, {"first": first, "after": after}, token=alice)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body.get("data") is None, body


async def test_page_size_bounds_are_accepted(api: Api) -> None:
    alice = await api.user_token("alice")
    await api.uploaded(small_ecg("rec-1"), alice, query=UPLOAD)
    for first in (1, 100):
        assert [e["node"]["id"] for e in (await listing(api, alice, first))["edges"]] == ["rec-1"]


async def test_delete(api: Api) -> None:
    alice = await api.user_token("alice")
    await api.uploaded(small_ecg("rec-1"), alice, query=UPLOAD)
    kept = await api.uploaded(small_ecg("rec-2", signal=[1, 2, -3]), alice, query=UPLOAD)

    assert await api.gql(DELETE, {"id": "rec-1"}, token=alice) == {"data": {"deleteEcg": True}}
    assert await read(api, "rec-1", alice) is None
    assert await api.gql(DELETE, {"id": "rec-1"}, token=alice) == {"data": {"deleteEcg": False}}
    page = await listing(api, alice)
    assert [e["node"]["id"] for e in page["edges"]] == ["rec-2"]
    assert page["totalCount"] == 1
    assert await read(api, "rec-2", alice) == {k: kept[k] for k in kept if k != "__typename"}

    # Its samples are gone too; the other ECG's remain.
    [remaining] = await EcgDocument.get_pymongo_collection().find({}).to_list()
    chunks = await SignalChunkDocument.get_pymongo_collection().find({}).to_list()
    assert {c["signal_id"] for c in chunks} == {remaining["signal_id"]}

    # The id is free again.
    again = await api.uploaded(small_ecg("rec-1", signal=[9, -9]), alice, query=UPLOAD)
    assert again["leads"][0]["signal"] == [9, -9]


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("2024-01-02", "2024-01-02T00:00:00+00:00"),
        ("2024-01-02T10:00:00", "2024-01-02T10:00:00+00:00"),
        ("2024-01-02T10:00:00Z", "2024-01-02T10:00:00+00:00"),
        ("2024-01-02T10:00:00+00:00", "2024-01-02T10:00:00+00:00"),
        ("2024-01-02T10:00:00+02:00", "2024-01-02T08:00:00+00:00"),
        ("2024-01-02T01:00:00+05:30", "2024-01-01T19:30:00+00:00"),
        ("2024-01-02T22:00:00-03:00", "2024-01-03T01:00:00+00:00"),
        ("2024-01-02T10:00:00.250Z", "2024-01-02T10:00:00.250000+00:00"),
    ],
)
async def test_dates_are_stored_and_returned_in_utc(api: Api, sent: str, returned: str) -> None:
    alice = await api.user_token("alice")
    result = await api.uploaded(small_ecg("rec-1", sent), alice, query=UPLOAD)
    assert result["date"] == returned
    stored = await read(api, "rec-1", alice)
    assert stored is not None
    assert stored["date"] == returned


@pytest.mark.parametrize(
    "bad",
    [
        "yesterday",
        "",
        "2024-13-01",
        "2024-01-02T25:00:00",
        "02/01/2024",
        "2024-01-02T10:00:00+25:00",
        20240102,
        None,
    ],
)
async def test_bad_datetime_variable_is_bad_user_input(api: Api, bad: object) -> None:
    alice = await api.user_token("alice")
    ecg = small_ecg("rec-1")
    ecg["date"] = bad
    body = await api.gql(UPLOAD, {"input": ecg}, token=alice)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body.get("data") is None, body
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 0


@pytest.mark.parametrize("literal", ['"yesterday"', '""', '"2024-13-01"', "20240102", "null"])
async def test_bad_datetime_literal_is_rejected(api: Api, literal: str) -> None:
    alice = await api.user_token("alice")
    query = (
        'mutation { uploadEcg(input: {id: "rec-1", date: '
        + literal
        + ', leads: [{name: "I", signal: [1, -1]}]}) { __typename } }'
    )
    body = await api.gql(query, token=alice)
    codes = error_codes(body)
    assert codes, body
    assert set(codes) <= {"GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"}, body
    assert body.get("data") is None, body
    assert await EcgDocument.get_pymongo_collection().count_documents({}) == 0


async def test_created_at_is_the_upload_time_with_offset(api: Api) -> None:
    alice = await api.user_token("alice")
    before = datetime.now(UTC)
    result = await api.uploaded(small_ecg("rec-1", "1999-01-01"), alice, query=UPLOAD)
    after = datetime.now(UTC)
    created = datetime.fromisoformat(result["createdAt"])
    assert created.utcoffset() == timedelta(0)
    # Stored at millisecond precision: allow for the truncation.
    assert before - timedelta(milliseconds=1) <= created <= after
    stored = await read(api, "rec-1", alice)
    assert stored is not None
    assert stored["createdAt"] == result["createdAt"]


async def test_upload_returns_what_was_sent(api: Api) -> None:
    alice = await api.user_token("alice")
    ecg = {
        "id": "full",
        "date": "2024-01-02T10:00:00Z",
        "samplingRate": 360.5,
        "leads": [
            {"name": "I", "numberOfSamples": 4, "signal": [1, -1, 0, 2]},
            {"name": "v2", "signal": [-5, 0, 0, -5, 5]},
        ],
    }
    result = await api.uploaded(ecg, alice, query=UPLOAD)
    assert result["id"] == "full"
    assert result["samplingRate"] == 360.5
    assert result["leads"] == [
        {"name": "I", "numberOfSamples": 4, "signal": [1, -1, 0, 2]},
        {"name": "V2", "numberOfSamples": 5, "signal": [-5, 0, 0, -5, 5]},
    ]
    assert result["insights"] == [
        {"lead": "I", "zeroCrossings": reference_zero_crossings([1, -1, 0, 2])},
        {"lead": "V2", "zeroCrossings": reference_zero_crossings([-5, 0, 0, -5, 5])},
    ]
