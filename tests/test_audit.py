"""The audit trail: one JSON line per request, with ids and outcome, never secrets or samples."""

from __future__ import annotations

import json
import logging

import pytest

from ecg_graphql.logs import JsonFormatter
from tests.harness import ADMIN_PASSWORD, Api

SIGNAL = [123457, -987651, 0, 555557, -111113]


async def test_login_and_upload_leave_audit_lines_without_secrets(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await api.login("root-admin", ADMIN_PASSWORD)
    token = await api.user_token("carol", "carol-password-9")
    result = await api.upload(
        {"id": "audit-1", "date": "2024-05-01", "leads": [{"name": "I", "signal": SIGNAL}]}, token
    )
    assert result["__typename"] == "Ecg"

    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    audit = [line for line in lines if line["logger"] == "ecg_graphql.audit"]
    logins = [line for line in audit if line.get("operation") == "Login"]
    assert logins[0]["outcome"] == "ok"
    assert logins[0]["user_id"] == admin["user"]["id"]
    assert logins[0]["status"] == 200
    (upload,) = [line for line in audit if line.get("operation") == "Upload"]
    assert upload["outcome"] == "ok"
    assert upload["results"] == ["Ecg"]
    assert upload["user_id"] is not None
    for line in audit:
        assert len(line["request_id"]) >= 16
        assert isinstance(line["duration_ms"], float)

    everything = "\n".join(formatter.format(r) for r in caplog.records)
    for secret in (
        ADMIN_PASSWORD,
        "carol-password-9",
        admin["accessToken"],
        admin["refreshToken"],
        token,
        *(str(v) for v in SIGNAL if v),
    ):
        assert secret not in everything


async def test_failed_login_is_audited_as_rejected(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = await api.gql(
        "mutation L { login(username: \"nobody\", password: \"wrong-pass-1\") { __typename } }"
    )
    assert body["data"]["login"]["__typename"] == "InvalidCredentialsError"
    audit = [r for r in caplog.records if r.name == "ecg_graphql.audit"]
    assert [getattr(r, "outcome", None) for r in audit] == ["rejected"]
    assert "wrong-pass-1" not in caplog.text


async def test_request_id_is_returned_and_accepted(api: Api) -> None:
    response = await api.post("{ __typename }", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    response = await api.post("{ __typename }", headers={"x-request-id": "bad id\nwith newline"})
    assert response.headers["x-request-id"] != "bad id\nwith newline"
