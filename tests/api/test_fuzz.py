"""Property-based fuzzing of the GraphQL API from the committed schema.graphql.

hypothesis-graphql generates queries and mutations (valid ones, and ones with exactly one
schema violation); each is sent over HTTP as a USER and as an ADMIN. Whatever the operation,
the server answers without a 5xx, without a stack trace, with `extensions.code` on every
error, and without an unexpected (masked) error.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from tests import harness
from tests.harness import Api

SCHEMA = graphql.build_schema(
    (Path(__file__).resolve().parents[2] / "schema.graphql").read_text(encoding="utf-8")
)
INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def _int_list(values: list[int]) -> graphql.ValueNode:
    return nodes.List([nodes.Int(v) for v in values])


# Custom scalars need value strategies. Valid operations get well-formed DateTimes, so that
# mutations reach the service, and Samples of every shape (the scalar accepts anything and
# validation must report it); operations with a schema violation get rough values too.
DATETIMES: st.SearchStrategy[graphql.ValueNode] = st.one_of(
    st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: nodes.String(d.isoformat())),
    st.dates().map(nodes.String),
)
SAMPLES: st.SearchStrategy[graphql.ValueNode] = st.one_of(
    st.lists(INT32, min_size=1, max_size=64).map(_int_list),
    st.lists(st.integers(), max_size=8).map(_int_list),
    st.lists(st.lists(INT32, max_size=3).map(_int_list), max_size=3).map(nodes.List),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
    st.text(max_size=20).map(nodes.String),
    st.booleans().map(nodes.Boolean),
)
WELL_FORMED = {"DateTime": DATETIMES, "Samples": SAMPLES}
ROUGH = {
    "DateTime": DATETIMES | st.text(max_size=40).map(nodes.String) | st.integers().map(nodes.Int),
    "Samples": SAMPLES | st.just(nodes.Null),
}
# Root fields each role may use: operations made only of them get past the permission checks
# (a mutation is all-or-nothing: one FORBIDDEN field nulls the whole result).
ALLOWED = {
    "USER": (["me", "ecg", "ecgs"], ["login", "refreshToken", "logout", "uploadEcg", "deleteEcg"]),
    "ADMIN": (["me", "users"], ["login", "refreshToken", "logout", "createUser"]),
}


def _operations(role: str) -> st.SearchStrategy[str]:
    query_fields, mutation_fields = ALLOWED[role]
    return st.one_of(
        queries(SCHEMA, custom_scalars=WELL_FORMED, fields=query_fields),
        mutations(SCHEMA, custom_scalars=WELL_FORMED, fields=mutation_fields),
        queries(SCHEMA, custom_scalars=WELL_FORMED),
        mutations(SCHEMA, custom_scalars=WELL_FORMED),
        queries(SCHEMA, custom_scalars=ROUGH, mode=Mode.NEGATIVE),
        mutations(SCHEMA, custom_scalars=ROUGH, mode=Mode.NEGATIVE),
    )


OPERATIONS = {role: _operations(role) for role in ALLOWED}
EXAMPLES_PER_ROLE = 200
# Requests sent and failing, per role (printed at teardown: run with -s to see them).
TRIED: collections.Counter[str] = collections.Counter()
FAILED: collections.Counter[str] = collections.Counter()


@dataclass
class Target:
    """The app under fuzzing and a token per role."""

    served: Api
    tokens: dict[str, str]


@pytest.fixture
async def target(mongodb_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    """One app and database for all examples of a test, with a USER who has two ECGs (so
    generated reads of ECGs, leads and signals find data) and an ADMIN."""
    async with harness.running_app(harness.test_settings(mongodb_url), crash_as_500=True) as served:
        user = await served.user_token()
        for number in range(2):
            ecg = {
                "id": f"rec-{number}",
                "date": f"202{number}-01-01",
                "samplingRate": 500.0,
                "leads": [{"name": "I", "signal": [1, -2, 0, 3]}, {"name": "V1", "signal": [0]}],
            }
            assert (await served.upload(ecg, user))["__typename"] == "Ecg"
        yield Target(served, {"USER": user, "ADMIN": await served.admin_token()})
    role = request.node.callspec.params["role"]
    print(f"\nfuzz {role}: {TRIED[role]} requests, {FAILED[role]} failures")


def _problems(status: int, text: str, body: object) -> list[str]:
    problems = []
    if status >= 500:
        problems.append(f"HTTP {status}")
    if "Traceback" in text or 'File "' in text:
        problems.append("stack trace in the response")
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or []:
        code = (error.get("extensions") or {}).get("code")
        if not isinstance(code, str):
            problems.append(f"error without extensions.code: {error.get('message')!r}")
        elif code == "INTERNAL_SERVER_ERROR":
            problems.append(f"unexpected error at {error.get('path')}")
    return problems


# pytest-asyncio runs a Hypothesis test whose body is a coroutine by wrapping
# `test.hypothesis.inner_test`: each example's coroutine is run to completion on the session
# event loop, where the async fixtures live. The fixture is function-scoped, so it is set up
# once per test (per role) and shared by all its examples; that is intended (one app and one
# database, examples pile up users and failed logins like real traffic does), hence the
# function_scoped_fixture health check is suppressed. Seeded (derandomize) and bounded, with
# no example database, so CI runs the same examples every time and writes nothing.
@pytest.mark.parametrize("role", ["USER", "ADMIN"])
@settings(
    max_examples=EXAMPLES_PER_ROLE,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_fuzzed_operations_never_crash(
    target: Target, role: str, data: st.DataObject
) -> None:
    operation = data.draw(OPERATIONS[role], label="operation")
    response = await target.served.post(operation, token=target.tokens[role])
    try:
        body = response.json()
    except ValueError:
        body = None
    TRIED[role] += 1
    problems = _problems(response.status_code, response.text, body)
    if problems:
        FAILED[role] += 1
    assert not problems, (problems, operation, response.text[:1000])
