"""DESIGN.md's plots-and-exports contract, kept by the committed schema and by the code."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    print_ast,
)

from ecg_graphql.api.schema import build_schema as build_code_schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

# DESIGN.md, "Files: plots and exports", with the minimum of the types it refers to.
EXPORT_SDL = """
enum PlotLayout { STANDARD SIX_BY_TWO TWELVE_BY_ONE }
enum ExportFormat { SVG PDF FHIR WFDB }
type Ecg { id: ID! exportUrl(format: ExportFormat!, layout: PlotLayout! = STANDARD): String! }
type Query { ecg(id: ID!): Ecg }
"""


def _enum(schema: GraphQLSchema, name: str) -> set[str]:
    kind = schema.type_map[name]
    assert isinstance(kind, GraphQLEnumType)
    return set(kind.values)


@pytest.mark.parametrize("source", ["committed", "code"])
def test_schema_offers_the_export_contract(source: str) -> None:
    sdl = (
        SCHEMA_FILE.read_text(encoding="utf-8")
        if source == "committed"
        else build_code_schema().as_str()
    )
    ours, design = build_schema(sdl), build_schema(EXPORT_SDL)
    assert [c.description for c in find_breaking_changes(design, ours)] == []
    # Exactly the contract's members, and the default layout (which graphql-core does not compare).
    for name in ("PlotLayout", "ExportFormat"):
        assert _enum(ours, name) == _enum(design, name)
    ecg = ours.type_map["Ecg"]
    assert isinstance(ecg, GraphQLObjectType)
    default = ecg.fields["exportUrl"].args["layout"].default
    assert default is not None
    assert default.literal is not None
    assert print_ast(default.literal) == "STANDARD"
