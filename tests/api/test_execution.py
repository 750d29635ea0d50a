"""The plain-leaf fast path gives exactly what graphql-core's standard execution gives."""

from __future__ import annotations

from typing import Any

import pytest
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from ecg_graphql.api.context import AppServices, Context
from ecg_graphql.api.execution import PlainLeafExecutionContext
from ecg_graphql.api.schema import build_schema
from ecg_graphql.main import build_services
from tests.harness import Api

QUERIES = [
    # Lists of plain leaf objects, aliases, __typename, fragments, directives.
    """{ ecgs(first: 10) { totalCount edges { cursor node { id date createdAt samplingRate
         insights { lead zeroCrossings __typename } leads { name numberOfSamples } } }
         pageInfo { hasNextPage endCursor } } }""",
    """query($skip: Boolean!) { ecgs(first: 3) { edges { node {
         a: id b: id
         insights { l: lead z: zeroCrossings lead @skip(if: $skip) t: __typename }
         leads { ...L } } } } }
       fragment L on Lead { name n: numberOfSamples @include(if: true) }""",
    # A resolver field with arguments beside plain ones: never takes the fast path.
    """{ ecg(id: "e1") { leads { name signal(offset: 1, limit: 3) numberOfSamples } } }""",
    """{ ecg(id: "missing") { id } me { id username role createdAt __typename } }""",
    # Errors: a negative limit inside a list of leads (located error, nullable parents).
    """{ ecg(id: "e1") { id leads { name signal(offset: -1) } } }""",
]


@pytest.mark.parametrize("query", QUERIES)
async def test_fast_path_matches_standard_execution(api: Api, query: str) -> None:
    token = await api.user_token()
    for i, rate in enumerate([500.0, None, 250.5]):
        ecg: dict[str, Any] = {
            "id": f"e{i}",
            "date": f"2024-02-0{i + 1}T10:00:00+01:00",
            "leads": [
                {"name": "I", "signal": [1, -2, 0, 3, -4]},
                {"name": "avf", "signal": [0, 0, 70000, -1]},
            ],
        }
        if rate is not None:
            ecg["samplingRate"] = rate
        assert (await api.upload(ecg, token))["__typename"] == "Ecg"

    services: AppServices = build_services(api.settings)
    fast = build_schema()
    standard = build_schema(execution_context_class=StrawberryGraphQLCoreExecutionContext)

    def context() -> Context:
        return Context(services=services, token=token, client_address="198.51.100.1")

    variables = {"skip": True}
    fast_result = await fast.execute(query, variable_values=variables, context_value=context())
    standard_result = await standard.execute(
        query, variable_values=variables, context_value=context()
    )
    assert fast_result.data == standard_result.data
    assert [(e.message, e.path) for e in fast_result.errors or []] == [
        (e.message, e.path) for e in standard_result.errors or []
    ]
    assert fast_result.data is not None or fast_result.errors


async def test_fast_path_actually_serves_plain_selections(api: Api) -> None:
    token = await api.user_token()
    leads = [{"name": name, "signal": [1, -1, 2]} for name in ("I", "II", "III")]
    for i in range(4):
        ecg = {"id": f"e{i}", "date": "2024-02-01", "leads": leads}
        assert (await api.upload(ecg, token))["__typename"] == "Ecg"
    resolved: list[str] = []

    class Recording(PlainLeafExecutionContext):
        def execute_field(self, parent_type: Any, *args: Any, **kwargs: Any) -> Any:
            resolved.append(parent_type.name)
            return super().execute_field(parent_type, *args, **kwargs)

    schema = build_schema(execution_context_class=Recording)
    context = Context(services=build_services(api.settings), token=token, client_address="x")
    result = await schema.execute(
        "{ ecgs(first: 10) { edges { node { id insights { lead zeroCrossings } } } "
        "pageInfo { endCursor } } }",
        context_value=context,
    )
    assert result.errors is None
    assert result.data is not None
    assert len(result.data["ecgs"]["edges"]) == 4
    # Only the root field ran through graphql-core's field machinery: the connection, its
    # edges, the ECGs and their 12 insight rows were all read by the fast path.
    assert resolved == ["Query"]
    # With a resolver field inside (totalCount), its object takes the standard path while
    # the plain lists below it are still read directly.
    resolved.clear()
    result = await schema.execute(
        "{ ecgs(first: 10) { totalCount edges { node { id insights { lead } } } } }",
        context_value=context,
    )
    assert result.errors is None
    assert sorted(resolved) == ["EcgConnection", "EcgConnection", "Query"]
