"""Edges of the contract found by an outside audit: each pins one exact behaviour."""

from __future__ import annotations

from tests.harness import UPLOAD, Api


async def test_several_operations_without_a_name_are_refused(api: Api) -> None:
    token = await api.admin_token()
    body = await api.gql(
        'query A { me { id } } mutation B { logout(refreshToken: "x") }', token=token
    )
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    named = await api.http.post(
        "/graphql",
        json={"query": "query A { me { id } } query B { me { role } }", "operationName": "B"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert named.json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_zero_samples_declared_for_an_empty_signal_is_one_violation(api: Api) -> None:
    token = await api.user_token()
    result = await api.upload(
        {"date": "2024-01-01", "leads": [{"name": "I", "numberOfSamples": 0, "signal": []}]},
        token,
    )
    assert result["__typename"] == "ValidationError"
    assert [f["field"] for f in result["fields"]] == ["leads.0.signal"]


async def test_upload_answer_and_later_reads_agree_on_the_date(api: Api) -> None:
    token = await api.user_token()
    dates = {"a": "2024-01-01T00:00:00.000002Z", "b": "2024-01-01T00:00:00.999999+00:00"}
    answered = {}
    for ecg_id, date in dates.items():
        body = await api.gql(
            UPLOAD,
            {"input": {"id": ecg_id, "date": date, "leads": [{"name": "I", "signal": [1]}]}},
            token=token,
        )
        answered[ecg_id] = body["data"]["uploadEcg"]["date"]
    listed = await api.gql("{ ecgs { edges { node { id date } } } }", token=token)
    read = {e["node"]["id"]: e["node"]["date"] for e in listed["data"]["ecgs"]["edges"]}
    assert read == answered
    assert read == {"a": "2024-01-01T00:00:00+00:00", "b": "2024-01-01T00:00:00.999000+00:00"}
    # Newest date first: b (999 ms) before a (0 ms), though a was uploaded first.
    assert [e["node"]["id"] for e in listed["data"]["ecgs"]["edges"]] == ["b", "a"]
