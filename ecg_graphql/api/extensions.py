"""Schema extensions: error shaping and the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info

from ecg_graphql import audit
from ecg_graphql.api.context import Context
from ecg_graphql.api.errors_shaping import shape_error


class ShapeErrors(SchemaExtension):
    """Every error leaves with `extensions.code`; unexpected ones are masked with an id.

    Request errors (parse, validation, variable typing) get GRAPHQL_VALIDATION_FAILED or
    BAD_USER_INPUT; database outages SERVICE_UNAVAILABLE; any error whose cause is not a
    GraphQLError becomes "Unexpected error." with an `errorId` that is also logged.
    """

    def __init__(self, *, hide_suggestions: bool = False) -> None:
        self.hide_suggestions = hide_suggestions
        self._executing = False

    def on_execute(self) -> Iterator[None]:
        # Errors without a path raised from here on come from variable coercion.
        self._executing = True
        yield

    def on_operation(self) -> Iterator[None]:
        self._executing = False
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        operation = self.execution_context.operation_name or "-"
        result.errors = [
            shape_error(
                error,
                executing=self._executing,
                hide_suggestions=self.hide_suggestions,
                operation=operation,
            )
            for error in errors
        ]


class AuditOperation(SchemaExtension):
    """Adds the operation, the caller, the root result types and the outcome to the audit line.

    Mutation results are noted by `AuditResult` (a field extension on mutations only): a
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


class AuditResult(FieldExtension):
    """Notes the type of a mutation's result (e.g. InvalidCredentialsError) for the audit line."""

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        """Run the mutation, then record what it returned."""
        result = await next_(source, info, **kwargs)
        context = info.context
        name = type(result).__name__
        context.audit_results.append(name)
        if name == "AuthPayload":
            context.audit_user_id = str(result.user.id)
        return result
