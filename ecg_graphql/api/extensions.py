"""Schema and field extensions: caching, request rules, mutation outcomes and the audit trail.
(Error shaping has its own module, api/shaping.py.)"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import AddValidationRules, FieldExtension, ParserCache, SchemaExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info

from ecg_graphql import audit
from ecg_graphql.api.context import Context
from ecg_graphql.api.errors import union_member
from ecg_graphql.api.query_limits import QueryLimitsRule
from ecg_graphql.errors import DomainError


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
        yield


class OneOperation(SchemaExtension):
    """A document with several operations needs `operationName` (the GraphQL spec: a request
    error, never "run the first one"). Listed after ValidationCache, whose cached errors it
    extends without changing them."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # Not `operation_name`: it falls back to the first operation's name.
        if document is not None and context._provided_operation_name is None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                context.pre_execution_errors = [
                    *(context.pre_execution_errors or []),
                    GraphQLError(
                        "Must provide operation name if query contains multiple operations."
                    ),
                ]
        yield


class MutationResult(FieldExtension):
    """On every mutation: an expected domain outcome becomes its result-union member (the
    map is api/errors.py), and the result's type is noted for the audit line."""

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        """Run the mutation; translate an expected failure; record what it returned."""
        try:
            result = await next_(source, info, **kwargs)
        except DomainError as error:
            result = union_member(error)
            if result is None:
                raise  # a top-level error (e.g. RATE_LIMITED), shaped with its code
        context = info.context
        name = type(result).__name__
        context.audit_results.append(name)
        if name == "AuthPayload":
            context.audit_user_id = str(result.user.id)
        return result


class AuditOperation(SchemaExtension):
    """Adds the operation, the caller, the root result types and the outcome to the audit line.

    Mutation results are noted by `MutationResult` (a field extension on mutations only): a
    schema-wide `resolve` hook would wrap every field and slow large lists several-fold.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if not isinstance(context, Context):
            return
        results = context.audit_results
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        failed = any(r.endswith("Error") for r in results)
        audit.annotate(
            operation=self.execution_context.operation_name,
            operation_type=_operation_type(self.execution_context),
            user_id=context.audit_user(),
            results=results,
            codes=codes,
            outcome="error" if errors else ("rejected" if failed else "ok"),
        )


def _operation_type(execution_context: Any) -> str | None:
    try:
        return str(execution_context.operation_type.value)
    except (RuntimeError, AttributeError):
        return None
