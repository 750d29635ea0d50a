"""The GraphQL protocol surface, as a GraphQL security scanner probes it.

GraphiQL, introspection and suggestions per setting, depth/alias/token limits, directive
overloading, fragment bombs, batching, GET and form posts (CSRF), WebSocket, body size and
error masking. Every check goes through the ASGI app, on the real embedded database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_client_schema,
    get_introspection_query,
    get_named_type,
    parse,
)
from graphql import build_schema as graphql_build_schema
from pymongo import AsyncMongoClient
from starlette.types import Message

from ecg_graphql.api.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, build_schema
from tests import harness
from tests.harness import Api, error_codes, messages

# Collections whose documents a rejected request must never add to.
SMALL_ECG = {
    "id": "rec-1",
    "date": "2020-01-01T00:00:00Z",
    "leads": [{"name": "I", "signal": [1, -1]}],
}
CREATE_MALLORY = (
    'mutation { createUser(input: {username: "mallory", password: "password-123"}) { __typename } }'
)
BROKEN_ECG_QUERY = '{ ecg(id: "rec-1") { id insights { lead zeroCrossings } } }'
LEAK_MARKERS = ("Traceback", 'File "', ".py", "KeyError", "zero_crossings")


# --- GraphiQL and introspection -------------------------------------------------------------


async def test_graphiql_is_served_to_browsers(served: Api) -> None:
    response = await served.http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


def _selection_depth(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode]
) -> int:
    # Nesting of fields, fragments expanded: what a depth limiter would count.
    if selection_set is None:
        return 0
    depths = [0]
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            depths.append(
                1 + _selection_depth(selection.selection_set, fragments)
                if selection.selection_set
                else 0
            )
        elif isinstance(selection, InlineFragmentNode):
            depths.append(_selection_depth(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            depths.append(
                _selection_depth(fragments[selection.name.value].selection_set, fragments)
            )
    return max(depths)


async def test_introspection_works_when_enabled_and_is_exempt_from_depth(
    served: Api,
) -> None:
    query = get_introspection_query()
    document = parse(query)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    # The standard introspection query nests deeper than MAX_DEPTH: it must still pass.
    assert _selection_depth(operation.selection_set, fragments) > MAX_DEPTH

    body = await served.gql(query)
    assert "errors" not in body, messages(body)
    schema = build_client_schema(body["data"])
    query_type, mutation_type = schema.query_type, schema.mutation_type
    assert query_type is not None
    assert mutation_type is not None
    assert {"me", "ecg", "ecgs", "users"} <= set(query_type.fields)
    assert {"login", "createUser", "uploadEcg", "deleteEcg"} <= set(mutation_type.fields)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(get_introspection_query(), id="full-introspection"),
        pytest.param("{ __schema { queryType { name } } }", id="schema"),
        pytest.param('{ __type(name: "User") { fields { name } } }', id="type"),
    ],
)
async def test_introspection_rejected_when_disabled(mongodb_url: str, query: str) -> None:
    async with harness.running_app(
        harness.test_settings(mongodb_url, introspection=False), crash_as_500=True
    ) as served:
        token = await served.user_token()
        body = await served.gql(query, token=token)
        assert body.get("data") is None
        assert error_codes(body)
        assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
        assert "introspection" in messages(body).lower()
        assert "Ecg" not in json.dumps(body)
        # __typename is not introspection: clients need it to tell union members apart.
        typename = await served.gql("{ __typename me { __typename } }", token=token)
        assert typename == {"data": {"__typename": "Query", "me": {"__typename": "User"}}}


MISSPELLINGS = [
    pytest.param("{ mee { id } }", id="field"),
    pytest.param("{ users(frist: 1) { totalCount } }", id="argument"),
    pytest.param("{ me { ... on Usr { id } } }", id="type-condition"),
    pytest.param("query($r: Rol) { me { id } }", id="variable-type"),
    pytest.param(
        'mutation { createUser(input: {username: "abc", password: "password-1", role: ADMN}) '
        "{ __typename } }",
        id="enum-value",
    ),
    pytest.param(
        'mutation { createUser(input: {username: "abc", password: "password-1", rol: USER}) '
        "{ __typename } }",
        id="input-field",
    ),
]


@pytest.mark.parametrize("query", MISSPELLINGS)
async def test_suggestions_offered_when_introspection_is_on(served: Api, query: str) -> None:
    body = await served.gql(query, token=await served.admin_token())
    assert "GRAPHQL_VALIDATION_FAILED" in error_codes(body)
    assert "Did you mean" in messages(body)


@pytest.mark.parametrize("query", MISSPELLINGS)
async def test_no_suggestions_when_introspection_is_off(mongodb_url: str, query: str) -> None:
    # A suggestion names a schema element: with introspection off it would let a scanner
    # rebuild the schema one guess at a time, whatever kind of name was misspelt.
    async with harness.running_app(
        harness.test_settings(mongodb_url, introspection=False), crash_as_500=True
    ) as served:
        body = await served.gql(query, token=await served.admin_token())
        assert body.get("data") is None
        assert "GRAPHQL_VALIDATION_FAILED" in error_codes(body)
        assert "Did you mean" not in messages(body)


# --- Depth, aliases, tokens, directives, fragments --------------------------------------------


def _schema_depth(output_type: GraphQLOutputType, path: frozenset[str]) -> int:
    # The deepest selection a valid query can make below a field of this type.
    named = get_named_type(output_type)
    if isinstance(named, GraphQLUnionType):
        members: list[GraphQLObjectType | GraphQLInterfaceType] = list(named.types)
    elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        members = [named]
    else:
        return 0
    assert named.name not in path, f"recursive type {named.name}: depth is unbounded"
    return 1 + max(
        _schema_depth(field.type, path | {named.name})
        for member in members
        for field in member.fields.values()
    )


def _root_depth(schema: GraphQLSchema) -> int:
    roots = [t for t in (schema.query_type, schema.mutation_type) if t is not None]
    return max(_schema_depth(f.type, frozenset()) for root in roots for f in root.fields.values())


async def test_depth_limit_leaves_room_for_every_valid_query(served: Api) -> None:
    assert _root_depth(graphql_build_schema(build_schema().as_str())) <= MAX_DEPTH
    token = await served.user_token()
    assert (await served.upload(SMALL_ECG, token))["__typename"] == "Ecg"
    deepest = "{ ecgs { edges { node { leads { name signal } insights { lead } } } } }"
    body = await served.gql(deepest, token=token)
    assert "errors" not in body, messages(body)
    assert body["data"]["ecgs"]["edges"][0]["node"]["leads"] == [{"name": "I", "signal": [1, -1]}]


def _nested_fields(levels: int) -> str:
    return "{ me " + "{ f " * (levels - 1) + "{ id }" + " }" * (levels - 1) + " }"


def _nested_fragments(levels: int) -> str:
    spreads = [f"fragment F{i} on User {{ f {{ ...F{i + 1} }} }}" for i in range(1, levels)]
    return "{ me { ...F1 } }\n" + "\n".join(spreads) + f"\nfragment F{levels} on User {{ id }}"


@pytest.mark.parametrize("build", [_nested_fields, _nested_fragments], ids=["fields", "fragments"])
async def test_depth_limit_rejects_deeper_queries(served: Api, build: Callable[[int], str]) -> None:
    # The schema has no recursive type, so no valid query can be this deep; the limiter must
    # still reject the depth itself (it runs with the other validation rules).
    token = await served.user_token()
    too_deep = await served.gql(build(MAX_DEPTH + 2), token=token)
    assert too_deep.get("data") is None
    assert set(error_codes(too_deep)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert f"exceeds maximum operation depth of {MAX_DEPTH}" in messages(too_deep)
    # At the limit, only the unknown fields are reported.
    at_limit = await served.gql(build(MAX_DEPTH), token=token)
    assert error_codes(at_limit)
    assert "maximum operation depth" not in messages(at_limit)


async def test_alias_overloading_rejected(served: Api) -> None:
    token = await served.user_token()
    overloaded = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(100)) + " }"
    body = await served.gql(overloaded, token=token)
    assert body.get("data") is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "aliases" in messages(body)
    allowed = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES)) + " }"
    body = await served.gql(allowed, token=token)
    assert "errors" not in body
    assert len(body["data"]) == MAX_ALIASES


@pytest.mark.parametrize(
    "directives",
    [
        pytest.param("@include(if: true) " * 200, id="repeated"),
        pytest.param(" ".join(f"@d{i}" for i in range(200)), id="unknown"),
        pytest.param("@skip(if: false) @include(if: true) " * 100, id="mixed"),
    ],
)
async def test_directive_overloading_rejected_quickly(served: Api, directives: str) -> None:
    token = await served.user_token()
    started = time.perf_counter()
    response = await served.post(f"{{ me {directives} {{ id }} }}", token=token)
    # Liveness bound, not a benchmark: a sane server answers in milliseconds.
    assert time.perf_counter() - started < 5
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    assert set(error_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}


async def test_token_limit_rejects_huge_documents(served: Api) -> None:
    token = await served.user_token()
    huge = "{ me { " + "id " * (MAX_TOKENS + 10) + "} }"
    body = await served.gql(huge, token=token)
    assert body.get("data") is None
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "tokens" in messages(body)


async def test_fragment_bomb_answered_quickly(served: Api) -> None:
    # A "wide" query in under 300 tokens: 21 fragments each spreading the previous one twice
    # stand for 2**21 copies of `me { id }`. Expanded naively (by a depth or alias counter,
    # or the executor) it blocks the event loop for minutes; the server must answer, valid
    # or not, without expanding it.
    token = await served.user_token()
    levels = 21
    fragments = ["fragment F0 on Query { me { id } }"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    bomb = f"query Bomb {{ ...F{levels} }}\n" + "\n".join(fragments)
    started = time.perf_counter()
    response = await served.post(bomb, token=token)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    # Valid GraphQL: the 2**21 identical selections merge into one `me { id }`.
    me = await served.gql("{ me { id } }", token=token)
    assert response.json() == me
    # Liveness bound, not a benchmark: the whole event loop waits while this runs.
    assert elapsed < 3, f"a 2**{levels} fragment bomb took {elapsed:.1f} s"


# --- Transport: batching, GET, forms, WebSocket ----------------------------------------------


async def test_batching_rejected_and_nothing_executed(served: Api) -> None:
    admin = await served.admin_token()
    before = await served.counts()
    response = await served.http.post(
        "/graphql",
        content=json.dumps([{"query": CREATE_MALLORY}, {"query": "{ me { id } }"}]),
        headers={"content-type": "application/json", "authorization": f"Bearer {admin}"},
    )
    assert 400 <= response.status_code < 500
    assert await served.counts() == before


async def test_get_mutation_rejected(served: Api) -> None:
    # GET is what a cross-site <img> or link can send: no mutation runs over it.
    admin = await served.admin_token()
    before = await served.counts()
    response = await served.http.get(
        "/graphql",
        params={"query": CREATE_MALLORY},
        headers={"accept": "application/json", "authorization": f"Bearer {admin}"},
    )
    assert 400 <= response.status_code < 500
    assert "mallory" not in response.text
    assert await served.counts() == before


async def test_get_query_needs_the_bearer_token(served: Api) -> None:
    # Queries may use GET (cacheable, read-only); the token is a header a cross-site
    # request cannot add, so GET carries no CSRF risk.
    admin = await served.admin_token()
    response = await served.http.get(
        "/graphql",
        params={"query": "{ me { role } }"},
        headers={"accept": "application/json", "authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"role": "ADMIN"}}}
    anonymous = await served.http.get(
        "/graphql", params={"query": "{ me { role } }"}, headers={"accept": "application/json"}
    )
    assert error_codes(anonymous.json()) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("kind", ["form-urlencoded", "multipart", "text-plain"])
async def test_simple_cross_site_posts_rejected(served: Api, kind: str) -> None:
    # A cross-site HTML form can POST these content types without a CORS preflight.
    admin = await served.admin_token()
    headers = {"authorization": f"Bearer {admin}"}
    before = await served.counts()
    if kind == "form-urlencoded":
        response = await served.http.post(
            "/graphql", data={"query": CREATE_MALLORY}, headers=headers
        )
    elif kind == "multipart":
        operations = json.dumps({"query": CREATE_MALLORY, "variables": {}})
        response = await served.http.post(
            "/graphql",
            files={"operations": (None, operations), "map": (None, "{}")},
            headers=headers,
        )
    else:
        response = await served.http.post(
            "/graphql",
            content=json.dumps({"query": CREATE_MALLORY}),
            headers={**headers, "content-type": "text/plain"},
        )
    assert 400 <= response.status_code < 500
    assert await served.counts() == before


async def _websocket_handshake(
    app: FastAPI, subprotocols: list[str]
) -> tuple[list[Message], BaseException | None]:
    # A raw ASGI WebSocket connection attempt: what a server hands the app on an upgrade.
    sent: list[Message] = []
    incoming: list[Message] = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [(b"host", b"test"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket")]
    if subprotocols:
        headers.append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "subprotocols": subprotocols,
        "client": ("203.0.113.7", 40000),
        "server": ("test", 80),
        "state": {},
    }
    try:
        await asyncio.wait_for(app(scope, receive, send), timeout=5)
    except Exception as error:  # judged by the caller: a crash is not a clean refusal
        return sent, error
    return sent, None


WS_PROTOCOLS = [
    pytest.param(["graphql-transport-ws"], id="graphql-transport-ws"),
    pytest.param(["graphql-ws"], id="graphql-ws"),
    pytest.param([], id="no-subprotocol"),
]


@pytest.mark.parametrize("subprotocols", WS_PROTOCOLS)
async def test_websocket_never_accepted(served: Api, subprotocols: list[str]) -> None:
    sent, _ = await _websocket_handshake(served.app, subprotocols)
    assert all(message["type"] != "websocket.accept" for message in sent), sent


@pytest.mark.parametrize("subprotocols", WS_PROTOCOLS)
async def test_websocket_refused_cleanly(served: Api, subprotocols: list[str]) -> None:
    # An exception here is what a server logs as "Exception in ASGI application" with a
    # traceback, once per attempt: refusing must be an orderly close or HTTP denial.
    sent, error = await _websocket_handshake(served.app, subprotocols)
    assert error is None, f"the app crashed on a WebSocket handshake: {error!r}"
    assert any(
        message["type"] in ("websocket.close", "websocket.http.response.start") for message in sent
    ), sent


# --- Body size ------------------------------------------------------------------------------

LIMIT = 2048


@pytest.fixture
async def small_limit(mongodb_url: str) -> AsyncIterator[Api]:
    """The app with ECG_MAX_BODY_BYTES=2048."""
    async with harness.running_app(
        harness.test_settings(mongodb_url, max_body_bytes=LIMIT), crash_as_500=True
    ) as served:
        yield served


def _padded(query: str, size: int) -> bytes:
    # Valid JSON of exactly `size` bytes: only the size can be the reason for a refusal.
    head = json.dumps({"query": query})[:-1].encode()
    return head + b" " * (size - len(head) - 1) + b"}"


async def test_body_over_limit_gets_413_by_content_length(small_limit: Api) -> None:
    api = small_limit
    admin = await api.admin_token()
    headers = {"content-type": "application/json", "authorization": f"Bearer {admin}"}
    before = await small_limit.counts()
    response = await api.http.post(
        "/graphql", content=_padded(CREATE_MALLORY, LIMIT + 1), headers=headers
    )
    assert response.status_code == 413
    assert await small_limit.counts() == before
    # Just under the limit, the same kind of body is served.
    response = await api.http.post(
        "/graphql", content=_padded("{ me { username } }", LIMIT), headers=headers
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"username": harness.ADMIN_USERNAME}}}


async def test_streamed_body_over_limit_gets_413_without_being_read(small_limit: Api) -> None:
    api = small_limit
    admin = await api.admin_token()
    before = await small_limit.counts()
    chunks = 1000
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        # No Content-Length (chunked): a valid JSON mutation padded to about 1 MB.
        nonlocal pulled
        pulled += 1
        yield json.dumps({"query": CREATE_MALLORY})[:-1].encode()
        for _ in range(chunks):
            pulled += 1
            yield b" " * 1024
        pulled += 1
        yield b"}"

    response = await api.http.post(
        "/graphql",
        content=body(),
        headers={"content-type": "application/json", "authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 413
    # 2048 bytes are passed by the third chunk: reading must stop about there.
    assert pulled <= 4, f"the server pulled {pulled} of {chunks + 2} chunks"
    assert await small_limit.counts() == before


async def test_streamed_body_under_limit_is_served(small_limit: Api) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b'{"query": '
        yield b'"{ __typename }"}'

    response = await small_limit.http.post(
        "/graphql", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


# --- Error masking and logging --------------------------------------------------------------


async def _break_stored_ecg(served: Api, token: str) -> None:
    # Upload a real ECG, then damage its stored lead metadata behind the service's back:
    # reading it now fails in a way no GraphQL error anticipates.
    assert (await served.upload(SMALL_ECG, token))["__typename"] == "Ecg"
    client: AsyncMongoClient[dict[str, Any]] = served.app.state.mongo_client
    result = await client[served.settings.database]["ecgs"].update_one(
        {"ecg_id": "rec-1"}, {"$set": {"leads": [{"name": "I"}]}}
    )
    assert result.modified_count == 1


def _assert_masked(response: httpx.Response) -> str:
    """The response carries exactly one masked error; returns its id."""
    assert response.status_code == 200
    for marker in LEAK_MARKERS:
        assert marker not in response.text, response.text
    [error] = response.json()["errors"]
    assert error["message"] == "Unexpected error."
    assert set(error["extensions"]) == {"code", "errorId"}
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    error_id = error["extensions"]["errorId"]
    assert isinstance(error_id, str)
    assert error_id
    return error_id


def _logged(caplog: pytest.LogCaptureFixture, error_id: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "ecg_graphql.errors" and error_id in r.getMessage()
    ]


async def test_unexpected_error_masked_with_id_that_is_logged(
    served: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token = await served.user_token()
    await _break_stored_ecg(served, token)
    caplog.set_level(logging.INFO)
    caplog.clear()
    response = await served.post(BROKEN_ECG_QUERY, token=token)
    error_id = _assert_masked(response)
    [record] = _logged(caplog, error_id)
    assert record.levelno >= logging.ERROR
    assert record.exc_info is None
    assert record.exc_text is None
    assert "\n" not in record.getMessage()


async def test_masking_holds_under_200_concurrent_failures(
    served: Api, caplog: pytest.LogCaptureFixture
) -> None:
    token = await served.user_token()
    await _break_stored_ecg(served, token)
    caplog.set_level(logging.INFO)
    caplog.clear()
    responses = await asyncio.gather(
        *(served.post(BROKEN_ECG_QUERY, token=token) for _ in range(200))
    )
    unmasked = 0
    ids: set[str] = set()
    for response in responses:
        errors = response.json().get("errors") or []
        for error in errors:
            extensions = error.get("extensions") or {}
            if (
                error.get("message") != "Unexpected error."
                or extensions.get("code") != "INTERNAL_SERVER_ERROR"
                or not extensions.get("errorId")
            ):
                unmasked += 1
            else:
                ids.add(extensions["errorId"])
        assert response.status_code == 200
        assert len(errors) == 1
    assert unmasked == 0
    assert len(ids) == 200
    assert all(len(_logged(caplog, error_id)) == 1 for error_id in ids)


@pytest.mark.parametrize(
    ("query", "role", "code"),
    [
        pytest.param("{ me { id } }", None, "UNAUTHENTICATED", id="unauthenticated"),
        pytest.param("{ ecgs { totalCount } }", "ADMIN", "FORBIDDEN", id="forbidden"),
        pytest.param("{ ecgs(first: 500) { totalCount } }", "USER", "BAD_USER_INPUT", id="input"),
        pytest.param("{ me { nope } }", "USER", "GRAPHQL_VALIDATION_FAILED", id="invalid"),
    ],
)
async def test_expected_errors_logged_as_one_line_without_traceback(
    served: Api, caplog: pytest.LogCaptureFixture, query: str, role: str | None, code: str
) -> None:
    token = None
    if role == "ADMIN":
        token = await served.admin_token()
    elif role == "USER":
        token = await served.user_token()
    caplog.set_level(logging.INFO)
    caplog.clear()
    body = await served.gql(query, token=token)
    assert error_codes(body) == [code]
    assert any(code in record.getMessage() for record in caplog.records), caplog.text
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert record.exc_text is None, record.getMessage()
        assert "\n" not in record.getMessage()
        assert "Traceback" not in record.getMessage()
