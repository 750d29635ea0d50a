"""Backfill: ECGs stored before an analysis existed (or at an older version) get it."""

from __future__ import annotations

from ecg_graphql.db.documents import EcgDocument
from ecg_graphql.ecgs.service import backfill_insights
from tests.harness import Api
from tests.reference import reference_zero_crossings


async def test_backfill_recomputes_missing_and_outdated_insights(api: Api) -> None:
    token = await api.user_token()
    signals = {"I": [3, -1, 0, 0, 2, -7, 9], "II": [0, 0, 5, 0, -5]}
    leads = [{"name": name, "signal": signal} for name, signal in signals.items()]
    for ecg_id in ("old-1", "old-2"):
        result = await api.upload({"id": ecg_id, "date": "2023-03-03", "leads": leads}, token)
        assert result["__typename"] == "Ecg"
    collection = EcgDocument.get_pymongo_collection()
    # Simulate an ECG stored before the analysis existed, and one at an older version.
    await collection.update_one({"ecg_id": "old-1"}, {"$unset": {"insights.zero_crossings": ""}})
    await collection.update_one(
        {"ecg_id": "old-2"},
        {"$set": {"insights.zero_crossings": {"version": 0, "values": [99, 99]}}},
    )

    assert await backfill_insights() == 2
    assert await backfill_insights() == 0  # idempotent: nothing is stale any more

    body = await api.gql(
        "{ a: ecg(id: \"old-1\") { insights { lead zeroCrossings } }"
        "  b: ecg(id: \"old-2\") { insights { lead zeroCrossings } } }",
        token=token,
    )
    expected = [
        {"lead": name, "zeroCrossings": reference_zero_crossings(signal)}
        for name, signal in signals.items()
    ]
    assert body["data"]["a"]["insights"] == expected
    assert body["data"]["b"]["insights"] == expected
