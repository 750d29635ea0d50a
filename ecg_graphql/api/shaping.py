"""The one place outgoing GraphQL errors are shaped: a code on each, no echoed values, no
internals, one log line each.

`ShapeErrors` (a schema extension, which knows the phase an error came from) shapes every
result; the router passes any result that never reached it (an exception inside another
extension's hook) through the same `shape_error`.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterator

from graphql import GraphQLError
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)
from strawberry.extensions import SchemaExtension

from ecg_graphql.api.errors import (
    BAD_USER_INPUT,
    GRAPHQL_VALIDATION_FAILED,
    INSUFFICIENT_STORAGE,
    INTERNAL_SERVER_ERROR,
    SERVICE_UNAVAILABLE,
    top_level_code,
)
from ecg_graphql.errors import RateLimited, StorageFull

logger = logging.getLogger("ecg_graphql.errors")

UNAVAILABLE_ERRORS: tuple[type[PyMongoError], ...] = (
    ConnectionFailure,
    AutoReconnect,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    ExecutionTimeout,
    WaitQueueTimeoutError,
)
# MongoDB's OutOfDiskSpace: a server elsewhere refusing a write for want of disk.
OUT_OF_DISK_SPACE = 14031
MAX_MESSAGE = 300
# graphql-core quotes the offending input in several ways; none of it may be echoed
# (it may be samples or a password): "...; found: <value>", "..., found <value>",
# "Found: <value>", "...non-integer value: <value>", "...got invalid value <value>".
_FOUND = re.compile(r"[;,.]?\s*\b[Ff]ound:?\s.*$", re.S)
_VALUE_COLON = re.compile(r"\bvalue:\s.*$", re.S)
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?", re.S)


def sanitise_message(message: str, *, hide_suggestions: bool) -> str:
    """The message without echoed input values (and without suggestions when asked)."""
    text = _FOUND.sub(".", message)
    text = _VALUE_COLON.sub("value.", text)
    if hide_suggestions:
        text = _SUGGESTION.sub("", text)
    text = text.strip()
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def error_code(error: GraphQLError) -> str | None:
    """The `extensions.code` of an error or of the GraphQLError it wraps."""
    code = (error.extensions or {}).get("code")
    original = error.original_error
    if code is None and isinstance(original, GraphQLError):
        code = (original.extensions or {}).get("code")
    return None if code is None else str(code)


def _frames(error: BaseException) -> str:
    # Where it failed, without the message (which may carry data): enough to debug.
    frames = traceback.extract_tb(error.__traceback__)[-6:]
    return " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in frames)


def shape_error(
    error: GraphQLError, *, executing: bool, hide_suggestions: bool, operation: str
) -> GraphQLError:
    """The error as the client sees it, logged once (one line, no traceback, no values)."""
    original = error.original_error
    code = error_code(error)
    domain_code = top_level_code(original)
    if domain_code is not None:  # an expected refusal of a domain service (never masked)
        logger.info("request refused op=%s code=%s", operation, domain_code)
        extensions: dict[str, object] = {"code": domain_code}
        if isinstance(original, RateLimited):
            extensions["retryAfter"] = original.retry_after
        return GraphQLError(
            str(original), nodes=error.nodes, path=error.path, extensions=extensions
        )
    if error.path is None and code is None and _is_request_error(original):
        # Never reached a resolver: a malformed or invalid document, or (once execution
        # started) a variable of the wrong type.
        code = BAD_USER_INPUT if executing else GRAPHQL_VALIDATION_FAILED
        logger.info("request rejected op=%s code=%s", operation, code)
        return GraphQLError(
            sanitise_message(error.message, hide_suggestions=hide_suggestions),
            nodes=error.nodes,
            extensions={"code": code},
        )
    if code is not None or not _is_unexpected(original):
        logger.info("request refused op=%s code=%s", operation, code)
        message = sanitise_message(error.message, hide_suggestions=hide_suggestions)
        return GraphQLError(
            message,
            nodes=error.nodes,
            path=error.path,
            extensions={**(error.extensions or {}), "code": code or GRAPHQL_VALIDATION_FAILED},
        )
    if isinstance(original, UNAVAILABLE_ERRORS):
        logger.warning("database unavailable op=%s error=%s", operation, type(original).__name__)
        return GraphQLError(
            "The database is unavailable; try again shortly.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": SERVICE_UNAVAILABLE},
        )
    if isinstance(original, OperationFailure) and original.code == OUT_OF_DISK_SPACE:
        # The database itself ran out of space (past our reserve check): same answer.
        logger.warning("storage full op=%s", operation)
        return GraphQLError(
            str(StorageFull()),
            nodes=error.nodes,
            path=error.path,
            extensions={"code": INSUFFICIENT_STORAGE},
        )
    error_id = uuid.uuid4().hex
    assert original is not None  # noqa: S101  (_is_unexpected is false for None)
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


def _is_unexpected(original: BaseException | None) -> bool:
    # Mask only errors whose cause is not a GraphQLError.
    return original is not None and not isinstance(original, GraphQLError)


def _is_request_error(original: BaseException | None) -> bool:
    # Parse and validation errors have no cause; a scalar that rejects a variable or
    # literal (DateTime) is reported with the ValueError that caused it.
    return original is None or isinstance(original, GraphQLError | ValueError)


class ShapeErrors(SchemaExtension):
    """Every error leaves with `extensions.code`; unexpected ones are masked with an id.

    Request errors (parse, validation, variable typing) get GRAPHQL_VALIDATION_FAILED or
    BAD_USER_INPUT; refusals of the domain services their code (TOP_LEVEL_CODES); database
    outages SERVICE_UNAVAILABLE; any error whose cause is not a GraphQLError becomes
    "Unexpected error." with an `errorId` that is also logged.
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
        retry_after = [
            (e.extensions or {}).get("retryAfter") for e in result.errors if e.extensions
        ]
        response = getattr(self.execution_context.context, "response", None)
        if response is not None and any(r is not None for r in retry_after):
            # Also as an HTTP header, for generic HTTP clients.
            response.headers["Retry-After"] = str(max(r for r in retry_after if r is not None))
