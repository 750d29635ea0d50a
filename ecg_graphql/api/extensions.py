"""Schema extensions: give every error a code, mask the unexpected ones, log each once."""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)
from strawberry.extensions import FieldExtension, SchemaExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info

from ecg_graphql import audit
from ecg_graphql.api.errors import (
    BAD_USER_INPUT,
    GRAPHQL_VALIDATION_FAILED,
    INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE,
)

logger = logging.getLogger("ecg_graphql.errors")

UNAVAILABLE_ERRORS: tuple[type[PyMongoError], ...] = (
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    ExecutionTimeout,
    WaitQueueTimeoutError,
)
_VARIABLE = re.compile(r"^(?P<head>Variable '\$\w+' has invalid value[^:]*): (?P<why>.*)$", re.S)
_FOUND = re.compile(r";\s*found:.*$", re.S)
_ECHOED_VALUE = re.compile(r"\s*value:\s.*$", re.S)


def _sanitise_variable_message(message: str) -> str:
    """A variable error without the offending value (it may be a signal or a password)."""
    match = _VARIABLE.match(message)
    if match is None:
        head, why = message.split(":", 1)[0], ""
    else:
        head, why = match["head"], _FOUND.sub(".", match["why"])
        why = _ECHOED_VALUE.sub(" value.", why)
    text = f"{head}: {why}" if why else f"{head}."
    return text[:300]


def _frames(error: BaseException) -> str:
    # Where it failed, without the message (which may carry data): enough to debug.
    frames = traceback.extract_tb(error.__traceback__)[-6:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames)


class ShapeErrors(SchemaExtension):
    """Every error leaves with `extensions.code`; unexpected ones are masked with an id.

    Request errors (parse, validation, variable typing) get GRAPHQL_VALIDATION_FAILED or
    BAD_USER_INPUT; database outages SERVICE_UNAVAILABLE; any error whose cause is not a
    GraphQLError becomes "Unexpected error." with an `errorId` that is also logged.
    """

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
        result.errors = [self._shape(error, operation) for error in errors]

    def _shape(self, error: GraphQLError, operation: str) -> GraphQLError:
        original = error.original_error
        code = (error.extensions or {}).get("code")
        if code is None and isinstance(original, GraphQLError):
            code = (original.extensions or {}).get("code")
        if error.path is None and code is None:
            # Never reached a resolver: a malformed, invalid or wrongly typed request.
            if self._executing:
                shaped = GraphQLError(
                    _sanitise_variable_message(error.message),
                    nodes=error.nodes,
                    extensions={"code": BAD_USER_INPUT},
                )
            else:
                shaped = GraphQLError(
                    error.message[:500],
                    nodes=error.nodes,
                    extensions={"code": GRAPHQL_VALIDATION_FAILED},
                )
            code = (shaped.extensions or {})["code"]
            logger.info("request rejected op=%s code=%s", operation, code)
            return shaped
        if code is not None or (original is None or isinstance(original, GraphQLError)):
            if code is None:
                error.extensions = {**(error.extensions or {}), "code": GRAPHQL_VALIDATION_FAILED}
            logger.info("request refused op=%s code=%s", operation, code)
            return error
        if isinstance(original, UNAVAILABLE_ERRORS):
            logger.warning(
                "database unavailable op=%s error=%s", operation, type(original).__name__
            )
            return GraphQLError(
                "The database is unavailable; try again shortly.",
                nodes=error.nodes,
                path=error.path,
                extensions={"code": SERVICE_UNAVAILABLE},
            )
        error_id = uuid.uuid4().hex
        logger.error(
            "unexpected error id=%s op=%s type=%s at %s",
            error_id,
            operation,
            type(original).__name__,
            _frames(original),
        )
        return GraphQLError(
            "Unexpected error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": INTERNAL_SERVER_ERROR, "errorId": error_id},
        )


class AuditOperation(SchemaExtension):
    """Adds the operation, the caller, the root result types and the outcome to the audit line.

    Mutation results are noted by `AuditResult` (a field extension on mutations only): a
    schema-wide `resolve` hook would wrap every field and slow large lists several-fold.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        user = getattr(context, "_user", None)
        results: list[str] = getattr(context, "audit_results", [])
        user_id = str(user.id) if user is not None else getattr(context, "audit_user_id", None)
        result = self.execution_context.result
        errors = getattr(result, "errors", None) or []
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        failed = any(r.endswith("Error") for r in results)
        audit.annotate(
            operation=self.execution_context.operation_name,
            operation_type=_operation_type(self.execution_context),
            user_id=user_id,
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
