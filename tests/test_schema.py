"""The committed schema.graphql matches the code, and keeps the public contract of DESIGN.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
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


def _default(value: GraphQLArgument | GraphQLInputField) -> str | None:
    # The default as written in SDL; `= null` on a nullable value is the same as no default
    # (Strawberry prints `after: String = null`, DESIGN.md writes `after: String`).
    node = value.ast_node.default_value if value.ast_node is not None else None
    if node is None:
        return None
    printed = print_ast(node)
    return None if printed == "null" else printed


def _is_required(value: GraphQLArgument | GraphQLInputField) -> bool:
    return isinstance(value.type, GraphQLNonNull) and _default(value) is None


def _value_problems(
    where: str,
    mine: GraphQLArgument | GraphQLInputField | None,
    wanted: GraphQLArgument | GraphQLInputField,
) -> list[str]:
    # An argument or input field: same type, same default.
    if mine is None:
        return [f"{where} is missing"]
    if str(mine.type) != str(wanted.type):
        return [f"{where} is {mine.type}, not {wanted.type}"]
    if _default(mine) != _default(wanted):
        return [f"{where} defaults to {_default(mine)}, not {_default(wanted)}"]
    return []


def _new_required(
    where: str,
    mine: Mapping[str, GraphQLArgument] | Mapping[str, GraphQLInputField],
    wanted: Mapping[str, object],
) -> list[str]:
    # Additions are fine unless an existing client would now have to send them.
    return [
        f"{where}.{name} is a new required value"
        for name, value in mine.items()
        if name not in wanted and _is_required(value)
    ]


def _type_problems(name: str, wanted: GraphQLNamedType, have: GraphQLNamedType) -> list[str]:
    if type(have) is not type(wanted):
        return [f"{name} is a {type(have).__name__}, not {type(wanted).__name__}"]
    problems: list[str] = []
    if isinstance(wanted, GraphQLObjectType | GraphQLInterfaceType):
        assert isinstance(have, GraphQLObjectType | GraphQLInterfaceType)
        missing = {i.name for i in wanted.interfaces} - {i.name for i in have.interfaces}
        problems += [f"{name} does not implement {i}" for i in sorted(missing)]
        for field_name, field in wanted.fields.items():
            got = have.fields.get(field_name)
            if got is None:
                problems.append(f"{name}.{field_name} is missing")
                continue
            if str(got.type) != str(field.type):
                problems.append(f"{name}.{field_name} is {got.type}, not {field.type}")
            for arg_name, arg in field.args.items():
                where = f"{name}.{field_name}({arg_name})"
                problems += _value_problems(where, got.args.get(arg_name), arg)
            problems += _new_required(f"{name}.{field_name}", got.args, field.args)
    elif isinstance(wanted, GraphQLInputObjectType):
        assert isinstance(have, GraphQLInputObjectType)
        for field_name, input_field in wanted.fields.items():
            where = f"{name}.{field_name}"
            problems += _value_problems(where, have.fields.get(field_name), input_field)
        problems += _new_required(name, have.fields, wanted.fields)
    elif isinstance(wanted, GraphQLUnionType):
        assert isinstance(have, GraphQLUnionType)
        missing = {t.name for t in wanted.types} - {t.name for t in have.types}
        problems += [f"union {name} lacks {t}" for t in sorted(missing)]
    elif isinstance(wanted, GraphQLEnumType):
        assert isinstance(have, GraphQLEnumType)
        missing = set(wanted.values) - set(have.values)
        problems += [f"enum {name} lacks {v}" for v in sorted(missing)]
    return problems


def _contract_violations(design: GraphQLSchema, ours: GraphQLSchema) -> list[str]:
    """Every way `ours` fails to offer what `design` promises."""
    problems: list[str] = []
    for name, wanted in design.type_map.items():
        if name.startswith("__"):
            continue
        have = ours.type_map.get(name)
        if have is None:
            problems.append(f"type {name} is missing")
        else:
            problems += _type_problems(name, wanted, have)
    for root in ("query_type", "mutation_type"):
        wanted_root, have_root = getattr(design, root), getattr(ours, root)
        if have_root is None or wanted_root.name != have_root.name:
            problems.append(f"the {root} root is not {wanted_root.name}")
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
            "LeadInsight.zeroCrossings is Float!, not Int!",
            "Query.ecgs(first) defaults to 50, not 20",
            "CreateUserInput.role defaults to None, not USER",
            "union RefreshResult lacks InvalidTokenError",
            "Mutation.deleteEcg.hard is a new required value",
            "InvalidCredentialsError does not implement Error",
            "enum Role lacks USER",
            "EcgInput.owner is a new required value",
        ]
    )
    assert _contract_violations(build_schema(DESIGN_SDL), build_schema(DESIGN_SDL)) == []
