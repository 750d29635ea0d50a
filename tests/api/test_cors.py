"""CORS: browser frontends on the configured origins may call the API; others may not."""

from __future__ import annotations

from tests.harness import running_app
from tests.harness import test_settings as make_settings

PREFLIGHT = {
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
}


async def test_configured_origin_may_call_and_others_may_not(mongodb_url: str) -> None:
    settings = make_settings(mongodb_url, cors_origins="https://app.example, https://b.example")
    async with running_app(settings) as api:
        allowed = await api.http.options(
            "/graphql", headers={"origin": "https://app.example", **PREFLIGHT}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers

        other = await api.http.options(
            "/graphql", headers={"origin": "https://evil.example", **PREFLIGHT}
        )
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers

        response = await api.post("{ __typename }", headers={"origin": "https://b.example"})
        assert response.headers["access-control-allow-origin"] == "https://b.example"


async def test_no_cors_headers_by_default(mongodb_url: str) -> None:
    async with running_app(make_settings(mongodb_url)) as api:
        response = await api.post("{ __typename }", headers={"origin": "https://app.example"})
        assert response.status_code == 200
        assert "access-control-allow-origin" not in response.headers
