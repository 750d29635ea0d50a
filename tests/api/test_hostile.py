"""Malformed and hostile requests, table-driven.

Each request must be refused as the client's fault (HTTP 4xx, a top-level GraphQL error with
`extensions.code`, or an `Error` member of the result union), never with a 5xx or a stack
trace, never echoing what was sent, and must leave the database as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import harness
from tests.harness import CREATE_USER, LOGIN, UPLOAD, error_codes

Expectation = Callable[[httpx.Response], None]

ECG_BY_ID = "query($id: ID!) { ecg(id: $id) { id } }"
DELETE_ECG = "mutation($id: ID!) { deleteEcg(id: $id) }"
ECGS_FIRST = "query($f: Int!) { ecgs(first: $f) { totalCount } }"
ECGS_AFTER = "query($a: String) { ecgs(after: $a) { totalCount } }"
REFRESH = "mutation($t: String!) { refreshToken(refreshToken: $t) { __typename } }"
ME = "{ me { id } }"
MAX_RESPONSE_BYTES = 64 * 1024
BIG_INT = 2**70
# Past Python's 4300-digit limit on int <-> str conversion (a ValueError, not a JSON error).
HUGE_DIGITS = "1" + "0" * 5000
MEGABYTE = "a" * 1_000_000


@dataclass(frozen=True)
class Hostile:
    """One request: raw body, content type, who sends it, what must come back."""

    body: bytes
    expect: Expectation
    content_type: str | None = "application/json"
    role: str | None = None  # "USER", "ADMIN" or anonymous


def body(query: str, variables: dict[str, Any] | None = None, **extra: Any) -> bytes:
    """A JSON GraphQL request (NaN and Infinity written as Python's json does)."""
    payload: dict[str, Any] = {"query": query, **extra}
    if variables is not None:
        payload["variables"] = variables
    return json.dumps(payload).encode()


def upload_body(leads: Any = None, **fields: Any) -> bytes:
    """An uploadEcg request; fields override a valid one-lead ECG."""
    ecg = {"date": "2020-01-01T00:00:00Z", "leads": leads or [{"name": "I", "signal": [1, -1]}]}
    return body(UPLOAD, {"input": {**ecg, **fields}})


def with_raw(request: bytes, placeholder: str, raw: str) -> bytes:
    """Put text json.dumps cannot write (a 5000-digit integer, deep nesting) in a body."""
    quoted = json.dumps(placeholder).encode()
    assert quoted in request
    return request.replace(quoted, raw.encode())


# --- Expectations ---------------------------------------------------------------------------


def client_error(response: httpx.Response) -> None:
    """An HTTP 4xx."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])


def top_level(*codes: str) -> Expectation:
    """HTTP 200 with top-level errors, all with one of `codes`."""

    def check(response: httpx.Response) -> None:
        assert response.status_code == 200, (response.status_code, response.text[:300])
        found = error_codes(response.json())
        assert found, response.text[:300]
        assert set(found) <= set(codes), found

    return check


def _result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text[:300])
    reply = response.json()
    assert "errors" not in reply, reply["errors"]
    [result] = reply["data"].values()
    assert isinstance(result, dict)
    return result


def validation(field: str) -> Expectation:
    """A ValidationError result naming `field`."""

    def check(response: httpx.Response) -> None:
        result = _result(response)
        assert result["__typename"] == "ValidationError", result
        assert field in [f["field"] for f in result["fields"]], result

    return check


def login_refused(response: httpx.Response) -> None:
    """A ValidationError or InvalidCredentialsError login result."""
    result = _result(response)
    assert result["__typename"] in ("ValidationError", "InvalidCredentialsError"), result


def data(expected: dict[str, Any]) -> Expectation:
    """Exactly this data, without errors."""

    def check(response: httpx.Response) -> None:
        assert response.status_code == 200, (response.status_code, response.text[:300])
        assert response.json() == {"data": expected}

    return check


def any_of(*expectations: Expectation) -> Expectation:
    """At least one of `expectations` holds."""

    def check(response: httpx.Response) -> None:
        failures = []
        for expectation in expectations:
            try:
                expectation(response)
            except AssertionError as failure:
                failures.append(str(failure))
            else:
                return
        raise AssertionError(" / ".join(failures))

    return check


def harmless(response: httpx.Response) -> None:
    """Anything but a server failure (the checks common to every case)."""


def not_echoed(secret: str, expectation: Expectation) -> Expectation:
    """`expectation`, and `secret` appears nowhere in the response."""

    def check(response: httpx.Response) -> None:
        expectation(response)
        assert secret not in response.text, response.text[:500]

    return check


# --- The table ------------------------------------------------------------------------------

BAD_INPUT = top_level("BAD_USER_INPUT")
INVALID = top_level("GRAPHQL_VALIDATION_FAILED")
REJECTED = any_of(client_error, top_level("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"))
SIGNAL = validation("leads.0.signal")

STRANGE_NAMES = {
    "nul": "ali\x00ce",
    "rtl-override": "ali\u202ece",
    "zero-width-joiner": "ali\u200dce",
    "emoji": "alice\U0001f600",
    "lone-surrogate": "ali\ud800ce",
    "fullwidth": "\uff41\uff4c\uff49\uff43\uff45",
    "combining-accent": "alice\u0301",
    "one-megabyte": MEGABYTE,
}
STRANGE_IDS = {
    "nul": "rec\x001",
    "lone-surrogate": "rec\ud8001",
    "one-megabyte": MEGABYTE,
}


def _cases() -> list[Any]:
    cases: list[Any] = []

    def add(case_id: str, case: Hostile) -> None:
        cases.append(pytest.param(case, id=case_id))

    # HTTP: not a GraphQL request at all.
    for case_id, raw in {
        "invalid-json": b'{"query": ',
        "empty-body": b"",
        "json-string": b'"{ me { id } }"',
        "json-number": b"42",
        "json-null": b"null",
        "json-true": b"true",
        "json-empty-array": b"[]",
        "invalid-utf8": b'{"query": "{ me { id } }\xff\xfe"}',
        "missing-query": b"{}",
        "query-null": b'{"query": null}',
        "query-number": b'{"query": 1}',
        "query-operator": b'{"query": {"$ne": ""}}',
        "variables-number": b'{"query": "{ me { id } }", "variables": 5}',
        "variables-list": b'{"query": "{ me { id } }", "variables": [1]}',
        "variables-string": b'{"query": "{ me { id } }", "variables": "{}"}',
        "operation-name-object": b'{"query": "query Q { me { id } }", "operationName": {"a": 1}}',
        "extensions-number": b'{"query": "{ me { id } }", "extensions": 5}',
    }.items():
        add(case_id, Hostile(raw, client_error))
    add(
        "operation-name-lone-surrogate",
        Hostile(body("query Q { me { id } }", operationName="\ud800"), client_error),
    )
    for content_type in ("text/plain", "application/xml", None, "application/graphql"):
        add(
            f"content-type-{content_type}",
            Hostile(
                body(CREATE_USER, {"input": {"username": "mallory", "password": "pass-word-1"}}),
                client_error,
                content_type=content_type,
                role="ADMIN",
            ),
        )

    # GraphQL documents that cannot be run.
    add("syntax-error", Hostile(body("{ me { id "), INVALID, role="USER"))
    add("unknown-fragment", Hostile(body("{ ...Missing }"), INVALID, role="USER"))
    add(
        "cyclic-fragments",
        Hostile(
            body("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A me { id } }"),
            INVALID,
            role="USER",
        ),
    )
    nested_literal = "[" * 1000 + "1" + "]" * 1000
    add(
        "nested-literal-1000",
        Hostile(
            body(
                f'mutation {{ uploadEcg(input: {{date: "2020-01-01", leads: '
                f'[{{name: "I", signal: {nested_literal}}}]}}) {{ __typename }} }}'
            ),
            any_of(INVALID, SIGNAL),
            role="USER",
        ),
    )

    # Huge and deeply nested variables.
    add(
        "samples-100k-nested-lists",
        Hostile(upload_body([{"name": "I", "signal": [[0]] * 100_000}]), SIGNAL, role="USER"),
    )
    add(
        "leads-100k",
        Hostile(
            upload_body([{"name": "I", "signal": [1]}] * 100_000), validation("leads"), role="USER"
        ),
    )
    add(
        "first-100k-nested-lists",
        Hostile(body(ECGS_FIRST, {"f": [[0]] * 100_000}), BAD_INPUT, role="USER"),
    )
    add(
        "unknown-variable-100k-nested-lists",
        Hostile(body(ME, {"zz": [[0]] * 100_000}), harmless, role="USER"),
    )
    deep = "[" * 1000 + "]" * 1000
    add(
        "samples-nested-1000",
        Hostile(
            with_raw(upload_body([{"name": "I", "signal": "DEEP"}]), "DEEP", deep),
            any_of(client_error, SIGNAL),
            role="USER",
        ),
    )
    add(
        "unknown-variable-nested-1000",
        Hostile(with_raw(body(ME, {"zz": "DEEP"}), "DEEP", deep), harmless, role="USER"),
    )
    deeper = "[" * 100_000 + "]" * 100_000
    add(
        "unknown-variable-nested-100000",
        Hostile(with_raw(body(ME, {"zz": "DEEP"}), "DEEP", deeper), harmless, role="USER"),
    )

    # Operator objects where ids and strings are expected (NoSQL injection).
    add("ecg-id-operator", Hostile(body(ECG_BY_ID, {"id": {"$gt": ""}}), BAD_INPUT, role="USER"))
    add(
        "delete-id-operator",
        Hostile(body(DELETE_ECG, {"id": {"$ne": None}}), BAD_INPUT, role="USER"),
    )
    add(
        "login-username-operator",
        Hostile(body(LOGIN, {"u": {"$ne": None}, "p": "password-123"}), BAD_INPUT),
    )
    add(
        "login-password-operator", Hostile(body(LOGIN, {"u": "alice", "p": {"$gt": ""}}), BAD_INPUT)
    )
    add(
        "create-username-operator",
        Hostile(
            body(CREATE_USER, {"input": {"username": {"$ne": None}, "password": "password-123"}}),
            BAD_INPUT,
            role="ADMIN",
        ),
    )
    add("refresh-token-operator", Hostile(body(REFRESH, {"t": {"$ne": None}}), BAD_INPUT))
    add(
        "ecgs-after-operator", Hostile(body(ECGS_AFTER, {"a": {"$gt": ""}}), BAD_INPUT, role="USER")
    )
    add("upload-id-operator", Hostile(upload_body(id={"$gt": ""}), BAD_INPUT, role="USER"))
    add(
        "samples-operator",
        Hostile(upload_body([{"name": "I", "signal": {"$gt": 0}}]), SIGNAL, role="USER"),
    )
    add(
        "ecg-id-literal-object", Hostile(body('{ ecg(id: {gt: ""}) { id } }'), INVALID, role="USER")
    )

    # NUL and unusual Unicode in names.
    for name_id, name in STRANGE_NAMES.items():
        add(
            f"create-username-{name_id}",
            Hostile(
                body(CREATE_USER, {"input": {"username": name, "password": "password-123"}}),
                validation("username"),
                role="ADMIN",
            ),
        )
        add(
            f"login-username-{name_id}",
            Hostile(body(LOGIN, {"u": name, "p": "password-123"}), login_refused),
        )
        add(
            f"lead-name-{name_id}",
            Hostile(
                upload_body([{"name": name, "signal": [1]}]),
                validation("leads.0.name"),
                role="USER",
            ),
        )
    for id_id, ecg_id in STRANGE_IDS.items():
        # No stored ECG can have such an id: it is simply not found.
        add(
            f"ecg-id-{id_id}",
            Hostile(body(ECG_BY_ID, {"id": ecg_id}), data({"ecg": None}), role="USER"),
        )
        add(
            f"delete-id-{id_id}",
            Hostile(body(DELETE_ECG, {"id": ecg_id}), data({"deleteEcg": False}), role="USER"),
        )
        add(f"upload-id-{id_id}", Hostile(upload_body(id=ecg_id), validation("id"), role="USER"))
    for password_id, password in {
        "lone-surrogate": "\ud800password",
        "one-megabyte": MEGABYTE,
    }.items():
        add(
            f"create-password-{password_id}",
            Hostile(
                body(CREATE_USER, {"input": {"username": "mallory", "password": password}}),
                validation("password"),
                role="ADMIN",
            ),
        )
        add(
            f"login-password-{password_id}",
            Hostile(body(LOGIN, {"u": "alice", "p": password}), login_refused, role="USER"),
        )

    # Integers beyond 64 bits.
    add("first-variable-2**70", Hostile(body(ECGS_FIRST, {"f": BIG_INT}), BAD_INPUT, role="USER"))
    add(
        "first-literal-2**70",
        Hostile(body(f"{{ ecgs(first: {BIG_INT}) {{ totalCount }} }}"), INVALID, role="USER"),
    )
    add(
        "first-variable-5000-digits",
        Hostile(
            with_raw(body(ECGS_FIRST, {"f": "HUGE"}), "HUGE", HUGE_DIGITS),
            any_of(client_error, BAD_INPUT),
            role="USER",
        ),
    )
    add(
        "samples-2**70",
        Hostile(upload_body([{"name": "I", "signal": [1, BIG_INT]}]), SIGNAL, role="USER"),
    )
    add(
        "samples-minus-2**70",
        Hostile(upload_body([{"name": "I", "signal": [-BIG_INT]}]), SIGNAL, role="USER"),
    )
    add(
        "samples-5000-digits",
        Hostile(
            with_raw(upload_body([{"name": "I", "signal": ["HUGE"]}]), "HUGE", HUGE_DIGITS),
            any_of(client_error, SIGNAL),
            role="USER",
        ),
    )
    add(
        "samples-literal-2**70",
        Hostile(
            body(
                f'mutation {{ uploadEcg(input: {{date: "2020-01-01", leads: '
                f'[{{name: "I", signal: [1, {BIG_INT}]}}]}}) '
                "{ __typename ... on ValidationError { fields { field } } } }"
            ),
            SIGNAL,
            role="USER",
        ),
    )
    add(
        "number-of-samples-2**70",
        Hostile(
            upload_body([{"name": "I", "signal": [1], "numberOfSamples": BIG_INT}]),
            BAD_INPUT,
            role="USER",
        ),
    )
    add(
        "signal-offset-literal-2**70",
        Hostile(
            body(f"{{ ecgs {{ edges {{ node {{ leads {{ signal(offset: {BIG_INT}) }} }} }} }} }}"),
            INVALID,
            role="USER",
        ),
    )

    # NaN and infinities (Python's json reads them; JSON has no such numbers).
    for value_id, value in {
        "nan": float("nan"),
        "infinity": float("inf"),
        "minus-infinity": float("-inf"),
    }.items():
        add(
            f"sampling-rate-{value_id}",
            Hostile(upload_body(samplingRate=value), BAD_INPUT, role="USER"),
        )
        add(
            f"samples-{value_id}",
            Hostile(upload_body([{"name": "I", "signal": [1, value]}]), SIGNAL, role="USER"),
        )
    add(
        "sampling-rate-1e400",
        Hostile(
            with_raw(upload_body(samplingRate="RATE"), "RATE", "1e400"), BAD_INPUT, role="USER"
        ),
    )

    # What was sent is not repeated back (samples and passwords typed inline in GraphiQL).
    add(
        "inline-samples-not-echoed",
        Hostile(
            body(
                'mutation { uploadEcg(input: {leads: [{name: "I", '
                "signal: [123456789, 987654321]}]}) { __typename } }"
            ),
            not_echoed("123456789", INVALID),
            role="USER",
        ),
    )
    add(
        "inline-password-not-echoed",
        Hostile(
            body(
                'mutation { createUser(input: {usernam: "mallory", password: "S3cret-pass-word"}) '
                "{ __typename } }"
            ),
            not_echoed("S3cret-pass-word", INVALID),
            role="ADMIN",
        ),
    )
    add(
        "variable-password-not-echoed",
        Hostile(
            body(CREATE_USER, {"input": {"password": "S3cret-pass-word", "role": "ROOT"}}),
            not_echoed("S3cret-pass-word", BAD_INPUT),
            role="ADMIN",
        ),
    )
    add(
        "variable-samples-not-echoed",
        Hostile(
            upload_body([{"name": "I", "signal": [123456789, 987654321]}], date="not a date"),
            not_echoed("123456789", BAD_INPUT),
            role="USER",
        ),
    )
    return cases


@pytest.mark.parametrize("case", _cases())
async def test_hostile_request_refused_safely(mongodb_url: str, case: Hostile) -> None:
    async with harness.running_app(harness.test_settings(mongodb_url), crash_as_500=True) as served:
        headers = {} if case.content_type is None else {"content-type": case.content_type}
        if case.role == "USER":
            headers["authorization"] = f"Bearer {await served.user_token()}"
        elif case.role == "ADMIN":
            headers["authorization"] = f"Bearer {await served.admin_token()}"
        before = await served.counts()

        response = await served.http.post("/graphql", content=case.body, headers=headers)

        assert response.status_code < 500, (response.status_code, response.text[:300])
        for marker in ("Traceback", 'File "'):
            assert marker not in response.text, response.text[:2000]
        assert len(response.content) < MAX_RESPONSE_BYTES, "the response echoes the request"
        if response.headers.get("content-type", "").startswith("application/json"):
            error_codes(response.json())
        case.expect(response)
        assert await served.counts() == before
