"""The README walk-through, run as a frontend would: its own GraphQL documents, in order, sent by a
real GraphQL client (gql over its httpx transport, validating each document against the schema it
fetched) to a served instance, each answer compared with the README's; then its export link
downloaded without headers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.observation import Observation
from gql import Client, GraphQLRequest
from gql.client import SyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from ecg_graphql.db.embedded import EmbeddedDatabase
from tests.browser import live_server
from tests.harness import test_settings

README = Path(__file__).resolve().parents[2] / "README.md"
ADMIN_PASSWORD = "walk-through-admin-1"


def _walkthrough() -> list[tuple[str, str | None]]:
    """Each GraphQL block of the walk-through, with the JSON answer printed after it (if any)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Walk-through in GraphiQL", 1)[1].split("\n## ", 1)[0]
    steps: list[tuple[str, str | None]] = []
    for language, body in re.findall(r"```(graphql|json)\n(.*?)```", section, re.S):
        if language == "graphql":
            steps.append((body, None))
        elif steps and steps[-1][1] is None and body.lstrip().startswith('{\n  "data"'):
            steps[-1] = (steps[-1][0], body)
    return steps


def _matches(expected: Any, actual: Any) -> bool:
    """The README's answer, where "..." stands for any value and "x..." for a value starting
    with x."""
    if isinstance(expected, str) and expected.endswith("..."):
        return isinstance(actual, str) and actual.startswith(expected[:-3])
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(_matches(value, actual[key]) for key, value in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(_matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


@contextmanager
def _session(origin: str, token: str | None = None) -> Iterator[SyncClientSession]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    transport = HTTPXTransport(url=f"{origin}/graphql", headers=headers)
    client = Client(transport=transport, fetch_schema_from_transport=True)
    with client as session:
        yield session


def _run(session: SyncClientSession, document: str) -> dict[str, Any]:
    result: dict[str, Any] = session.execute(GraphQLRequest(document))
    return result


def test_readme_walkthrough_with_a_graphql_client(embedded_db: EmbeddedDatabase) -> None:
    steps = _walkthrough()
    assert len(steps) == 10, [document.split("{")[1][:40] for document, _ in steps]
    (
        admin_login,
        create_user,
        admin_ecgs,
        user_login,
        upload,
        read_one,
        read_all,
        slice_,
        refresh,
        export_url,
    ) = steps
    settings = test_settings(embedded_db.url, admin_username="admin", admin_password=ADMIN_PASSWORD)
    with live_server(settings) as server:
        origin = server.origin

        def check(session: SyncClientSession, step: tuple[str, str | None]) -> dict[str, Any]:
            document, answer = step
            data = _run(session, document)
            if answer is not None:
                assert _matches(json.loads(answer)["data"], data), (document, data)
            return data

        with _session(origin) as anonymous:
            document = admin_login[0].replace("PASTE-THE-PRINTED-PASSWORD", ADMIN_PASSWORD)
            admin_token = check(anonymous, (document, admin_login[1]))["login"]["accessToken"]

        with _session(origin, admin_token) as admin:
            check(admin, create_user)
            assert _run(admin, create_user[0])["createUser"]["__typename"] == "UsernameTakenError"
            with pytest.raises(TransportQueryError) as forbidden:
                _run(admin, admin_ecgs[0])
            assert forbidden.value.errors is not None
            assert forbidden.value.errors[0]["extensions"]["code"] == "FORBIDDEN"

        with _session(origin) as anonymous:
            login = check(anonymous, user_login)["login"]
            assert login["user"] == {"username": "alice", "role": "USER"}

        with _session(origin, login["accessToken"]) as alice:
            check(alice, upload)
            again = _run(alice, upload[0])["uploadEcg"]
            assert again["__typename"] == "EcgAlreadyExistsError"
            check(alice, read_one)
            check(alice, read_all)
            check(alice, slice_)

        with _session(origin) as anonymous:
            document = refresh[0].replace("PASTE-THE-REFRESH-TOKEN", login["refreshToken"])
            fresh = _run(anonymous, document)["refreshToken"]
            assert fresh["__typename"] == "AuthPayload"
            reused = _run(anonymous, document)["refreshToken"]
            assert reused["__typename"] == "InvalidTokenError"

        with _session(origin, fresh["accessToken"]) as alice:
            url = check(alice, export_url)["ecg"]["exportUrl"]
            fhir_url = _run(
                alice, 'query { ecg(id: "first-ecg") { exportUrl(format: FHIR) } }'
            )["ecg"]["exportUrl"]

        # The link works with no header at all, as from a browser tab or an <img>.
        plot = httpx.get(origin + url)
        assert plot.status_code == 200
        assert plot.headers["content-type"] == "image/svg+xml"
        assert b'width="297mm"' in plot.content
        assert "ECG first-ecg" in plot.text
        fhir = httpx.get(origin + fhir_url)
        assert fhir.status_code == 200
        observation = Observation.model_validate_json(fhir.content)
        values = [
            str(c.valueSampledData.data).split()
            for c in observation.component or []
            if c.valueSampledData is not None
        ]
        assert values == [
            ["12", "-4", "-9", "0", "7", "15", "-3", "2"],
            ["0", "0", "5", "-5", "0", "5"],
        ]
        # The link token is for these files only: GraphQL does not take it.
        token = httpx.URL(origin + url).params["token"]
        with _session(origin, token) as link, pytest.raises(TransportQueryError) as refused:
            _run(link, "{ me { username } }")
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
