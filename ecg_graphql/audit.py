"""Audit trail: one JSON log line per HTTP request with request id, user, operation, outcome
and duration. Never tokens, passwords or samples: only ids, names and codes are recorded."""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("ecg_graphql.audit")

_record: ContextVar[dict[str, Any] | None] = ContextVar("audit_record", default=None)
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def current() -> dict[str, Any] | None:
    """The audit record of the request being served (None outside a request)."""
    return _record.get()


def annotate(**fields: Any) -> None:
    """Add fields to the current request's audit line."""
    record = _record.get()
    if record is not None:
        record.update(fields)


class RequestIdFilter(logging.Filter):
    """Stamps every log record with the id of the request it belongs to."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record; adds `request_id` when inside a request."""
        current_record = _record.get()
        if current_record is not None and not hasattr(record, "request_id"):
            record.request_id = current_record["request_id"]
        return True


class AuditMiddleware:
    """Assigns a request id (echoed in X-Request-ID) and logs one line when the response ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then log its audit line."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        record: dict[str, Any] = {
            "request_id": request_id,
            "method": scope.get("method"),
            "path": scope.get("path"),
        }
        token = _record.set(record)
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record["status"] = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            record["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
            record.setdefault("status", 500)
            logger.info("request", extra=dict(record))
            _record.reset(token)
