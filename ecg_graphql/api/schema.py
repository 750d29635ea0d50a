"""The schema: types, limits and error handling assembled; `build_schema` per settings."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from ecg_graphql.api.execution import PlainLeafExecutionContext
from ecg_graphql.api.extensions import AuditOperation, ShapeErrors
from ecg_graphql.api.mutations import Mutation
from ecg_graphql.api.queries import Query
from ecg_graphql.api.scalars import SCALAR_MAP

MAX_DEPTH = 10
MAX_ALIASES = 30
# Room for a small ECG typed inline in GraphiQL; real uploads pass signals as variables.
MAX_TOKENS = 20_000
CACHED_DOCUMENTS = 256


# One rule class each, built once: the validation cache keys on the rules, so a new class
# per request (what QueryDepthLimiter(...) and MaxAliasesLimiter(...) build) never hits it.
_DEPTH_RULE = depth_validator(MAX_DEPTH, None)
_ALIASES_RULE = aliases_validator(MAX_ALIASES)


class QueryLimits(AddValidationRules):
    """Depth (introspection exempt) and alias limits as validation rules."""

    def __init__(self) -> None:
        super().__init__([_DEPTH_RULE, _ALIASES_RULE])


class EcgSchema(strawberry.Schema):
    """Strawberry's schema, with errors logged by ShapeErrors (once, without tracebacks)."""

    def process_errors(
        self,
        errors: list[GraphQLError],
        execution_context: ExecutionContext | None = None,
    ) -> None:
        """Logging happens in ShapeErrors, where the error id is known."""


def build_schema(
    *,
    introspection: bool = True,
    execution_context_class: type[StrawberryGraphQLCoreExecutionContext] = (
        PlainLeafExecutionContext
    ),
) -> strawberry.Schema:
    """The schema; with `introspection` off, introspection and field suggestions are disabled."""
    # Classes or factories, never shared instances: extensions hold per-request state.
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        # Frontends repeat the same documents: parse and validate each distinct one once.
        lambda: ParserCache(maxsize=CACHED_DOCUMENTS),
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
        QueryLimits,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        ShapeErrors,
        AuditOperation,
    ]
    if not introspection:
        extensions.insert(0, DisableIntrospection)
    config = StrawberryConfig(
        scalar_map=SCALAR_MAP,
        disable_field_suggestions=not introspection,
    )
    return EcgSchema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=config,
        execution_context_class=execution_context_class,
    )
