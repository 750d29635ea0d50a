"""The committed schema.graphql matches the code, and keeps the public contract of DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    DangerousChangeType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    print_ast,
)

from ecg_graphql.__main__ import main
from ecg_graphql.api.schema import build_schema as build_code_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"

# The contract block of DESIGN.md, verbatim: the minimum the API must offer. Fields may be
# added; none renamed, retyped or removed.
DESIGN_SDL = """
scalar DateTime            # ISO-8601; without offset means UTC; a bare date means midnight UTC; returned with offset
scalar Samples             # one lead's samples: a JSON array of integers in the int32 range

enum Role { ADMIN USER }

interface Error { message: String! }
type FieldError { field: String! message: String! }     # field: dotted input path, e.g. "leads.2.numberOfSamples"
type ValidationError implements Error { message: String! fields: [FieldError!]! }
type InvalidCredentialsError implements Error { message: String! }
type InvalidTokenError implements Error { message: String! }
type UsernameTakenError implements Error { message: String! username: String! }
type EcgAlreadyExistsError implements Error { message: String! id: ID! }

type User { id: ID! username: String! role: Role! createdAt: DateTime! }
type AuthPayload { accessToken: String! refreshToken: String! tokenType: String! expiresIn: Int! user: User! }

type Lead { name: String! numberOfSamples: Int! signal(offset: Int! = 0, limit: Int): Samples! }
type LeadInsight { lead: String! zeroCrossings: Int! }
type Ecg { id: ID! date: DateTime! createdAt: DateTime! samplingRate: Float leads: [Lead!]! insights: [LeadInsight!]! }

type PageInfo { hasNextPage: Boolean! endCursor: String }
type EcgEdge { cursor: String! node: Ecg! }
type EcgConnection { edges: [EcgEdge!]! pageInfo: PageInfo! totalCount: Int! }
type UserEdge { cursor: String! node: User! }
type UserConnection { edges: [UserEdge!]! pageInfo: PageInfo! totalCount: Int! }

input LeadInput { name: String! numberOfSamples: Int signal: Samples! }
input EcgInput { id: ID date: DateTime! samplingRate: Float leads: [LeadInput!]! }
input CreateUserInput { username: String! password: String! role: Role! = USER }

union LoginResult = AuthPayload | InvalidCredentialsError | ValidationError
union RefreshResult = AuthPayload | InvalidTokenError
union CreateUserResult = User | UsernameTakenError | ValidationError
union UploadEcgResult = Ecg | EcgAlreadyExistsError | ValidationError

type Query {
  me: User!                                                      # any signed-in user
  ecg(id: ID!): Ecg                                              # USER: null unless it exists AND is the caller's
  ecgs(first: Int! = 20, after: String): EcgConnection!          # USER: own ECGs, newest `date` first
  users(first: Int! = 20, after: String): UserConnection!        # ADMIN
}
type Mutation {
  login(username: String!, password: String!): LoginResult!
  refreshToken(refreshToken: String!): RefreshResult!            # rotates: the old refresh token stops working
  logout(refreshToken: String!): Boolean!
  createUser(input: CreateUserInput!): CreateUserResult!         # ADMIN
  uploadEcg(input: EcgInput!): UploadEcgResult!                  # USER
  deleteEcg(id: ID!): Boolean!                                   # USER, own ECGs; false when not found
}
"""  # noqa: E501  (a verbatim copy: its comment columns pass 100 characters)


def test_committed_schema_matches_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-schema"]) == 0
    exported = capsys.readouterr().out
    assert exported == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "schema.graphql differs from the schema in code: run `make schema` and commit it"
    )


def _default(field: GraphQLInputField) -> str | None:
    # As written in SDL (graphql-core keeps it as a literal); `= null` on a nullable field is
    # the same as no default (Strawberry prints `numberOfSamples: Int = null`).
    literal = field.default.literal if field.default is not None else None
    printed = None if literal is None else print_ast(literal)
    return None if printed == "null" else printed


def _contract_violations(design: GraphQLSchema, ours: GraphQLSchema) -> list[str]:
    """Every way `ours` fails to offer what `design` promises: graphql-core's breaking changes,
    changed argument defaults, and changed input-field defaults (which it does not compare)."""
    problems = [change.description for change in find_breaking_changes(design, ours)]
    problems += [
        change.description
        for change in find_dangerous_changes(design, ours)
        if change.type is DangerousChangeType.ARG_DEFAULT_VALUE_CHANGE
    ]
    for name, wanted in design.type_map.items():
        have = ours.type_map.get(name)
        if isinstance(wanted, GraphQLInputObjectType) and isinstance(have, GraphQLInputObjectType):
            for field_name, field in wanted.fields.items():
                mine = have.fields.get(field_name)
                if mine is not None and _default(mine) != _default(field):
                    problems.append(f"{name}.{field_name} changed its default value.")
    return problems


@pytest.mark.parametrize("source", ["committed", "code"])
def test_schema_keeps_the_design_contract(source: str) -> None:
    sdl = (
        SCHEMA_FILE.read_text(encoding="utf-8")
        if source == "committed"
        else (build_code_schema().as_str())
    )
    problems = _contract_violations(build_schema(DESIGN_SDL), build_schema(sdl))
    assert problems == []


def test_contract_check_catches_drift() -> None:
    # The checker itself: each kind of break in a copy of the contract is reported.
    broken = (
        DESIGN_SDL.replace("zeroCrossings: Int!", "zeroCrossings: Float!")
        .replace("ecgs(first: Int! = 20,", "ecgs(first: Int! = 50,")
        .replace("role: Role! = USER", "role: Role!")
        .replace("| InvalidTokenError", "")
        .replace("  deleteEcg(id: ID!): Boolean!", "  deleteEcg(id: ID!, hard: Boolean!): Boolean!")
        .replace("type InvalidCredentialsError implements Error", "type InvalidCredentialsError")
        .replace("enum Role { ADMIN USER }", "enum Role { ADMIN }")
        .replace("input EcgInput { id: ID", "input EcgInput { owner: ID! id: ID")
    )
    problems = _contract_violations(build_schema(DESIGN_SDL), build_schema(broken))
    assert sorted(problems) == sorted(
        [
            "Enum value Role.USER was removed.",
            "InvalidCredentialsError no longer implements interface Error.",
            "Field LeadInsight.zeroCrossings changed type from Int! to Float!.",
            "A required field EcgInput.owner was added.",
            "InvalidTokenError was removed from union type RefreshResult.",
            "A required argument Mutation.deleteEcg(hard:) was added.",
            "Query.ecgs(first:) has changed defaultValue from 20 to 50.",
            "CreateUserInput.role changed its default value.",
        ]
    )
    assert _contract_violations(build_schema(DESIGN_SDL), build_schema(DESIGN_SDL)) == []
