"""The schema: types, limits and error handling assembled; `build_schema` per settings."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext

from ecg_graphql.api.errors import GRAPHQL_VALIDATION_FAILED, coded_error
from ecg_graphql.api.execution import PlainLeafExecutionContext
from ecg_graphql.api.extensions import AuditOperation, ShapeErrors
from ecg_graphql.api.mutations import Mutation
from ecg_graphql.api.queries import Query
from ecg_graphql.api.query_limits import MAX_ALIASES, MAX_DEPTH, QueryLimitsRule
from ecg_graphql.api.scalars import SCALAR_MAP

# Room for a small ECG typed inline in GraphiQL; real uploads pass signals as variables.
MAX_TOKENS = 20_000
CACHED_DOCUMENTS = 256
__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "build_schema"]


class QueryLimits(AddValidationRules):
    """Depth (introspection exempt) and alias limits; one rule class, so cached validations
    of a document are reused."""

    def __init__(self) -> None:
        super().__init__([QueryLimitsRule])


class CachedParse(ParserCache):
    """Strawberry's parser cache, except that a document that fails to parse is left to
    Strawberry's own parse step, which reports the error as a result (ParserCache raises
    it out of the extension hook, past the error shaping)."""

    def on_parse(self) -> Iterator[None]:
        """Parse through the cache; on a syntax error, leave the document unparsed."""
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        document = context.graphql_document
        # Not `operation_name`: it falls back to the first operation's name.
        if document is not None and context._provided_operation_name is None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                # The GraphQL spec: a request error, never "run the first one".
                raise coded_error(
                    "Must provide operation name if query contains multiple operations.",
                    GRAPHQL_VALIDATION_FAILED,
                )
        yield


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
        lambda: CachedParse(maxsize=CACHED_DOCUMENTS),
        lambda: ValidationCache(maxsize=CACHED_DOCUMENTS),
        QueryLimits,
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ShapeErrors(hide_suggestions=not introspection),
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
