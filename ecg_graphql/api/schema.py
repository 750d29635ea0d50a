"""The schema: types, limits and error handling assembled; `build_schema` per settings."""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from ecg_graphql.api.ecgs.importing import EcgImportMutations
from ecg_graphql.api.ecgs.mutations import EcgMutations
from ecg_graphql.api.ecgs.queries import EcgQueries
from ecg_graphql.api.execution import PlainLeafExecutionContext
from ecg_graphql.api.extensions import AuditOperation, CachedParse, OneOperation, QueryLimits
from ecg_graphql.api.query_limits import MAX_ALIASES, MAX_DEPTH
from ecg_graphql.api.scalars import SCALAR_MAP
from ecg_graphql.api.shaping import ShapeErrors
from ecg_graphql.api.uploads.mutations import UploadMutations
from ecg_graphql.api.uploads.queries import UploadQueries
from ecg_graphql.api.users.mutations import UserMutations
from ecg_graphql.api.users.queries import UserQueries

# Room for a small ECG typed inline in GraphiQL; real uploads pass signals as variables.
MAX_TOKENS = 20_000
CACHED_DOCUMENTS = 256
__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "build_schema"]

# One class per domain of the schema (api/<domain>/), merged into the root types.
Query = merge_types("Query", (UserQueries, EcgQueries, UploadQueries))
Mutation = merge_types(
    "Mutation", (UserMutations, EcgMutations, EcgImportMutations, UploadMutations)
)


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
        OneOperation,
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
