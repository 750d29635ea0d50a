"""The HTTP transport: Strawberry's FastAPI router with a faster JSON codec, strict
request-body checks, and a last check that every error leaves with a code."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from ecg_graphql.api.context import Context
from ecg_graphql.api.shaping import error_code, shape_error
from ecg_graphql.web import graphiql

_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,127}")


class EcgGraphQLRouter(GraphQLRouter[Context, None]):
    """GraphQLRouter using orjson (bodies are mostly integer samples, which orjson parses and
    prints several times faster), answering 400 to any body that is not a GraphQL request."""

    def __init__(self, *args: Any, hide_suggestions: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hide_suggestions = hide_suggestions

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from the service's own files, under a same-origin Content-Security-Policy."""
        return graphiql.page_response()

    def decode_json(self, data: str | bytes) -> object:
        """Parse a request body; the standard library takes what orjson refuses (integers
        past 64 bits, NaN), so such values reach validation instead of failing here."""
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            try:
                parsed = json.loads(data)
            except (ValueError, RecursionError):  # bad JSON or UTF-8, absurd nesting or digits
                raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object.")
        if isinstance(parsed, dict):
            name = parsed.get("operationName")
            if name is not None and not (
                isinstance(name, str) and _OPERATION_NAME.fullmatch(name)
            ):
                raise HTTPException(400, "operationName must be a GraphQL name.")
        return parsed

    def encode_json(self, data: object) -> bytes:
        """Serialise a response; the standard library takes what orjson refuses."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Safety net: an error that escaped the schema's shaping still gets a code."""
        if result.errors:
            result.errors = [
                error
                if error_code(error) is not None
                else shape_error(
                    error,
                    executing=False,
                    hide_suggestions=self.hide_suggestions,
                    operation="-",
                )
                for error in result.errors
            ]
        return await super().process_result(request, result)
