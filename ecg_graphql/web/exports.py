"""`GET /ecgs/{id}/export.svg|pdf|fhir.json|wfdb.zip`: an ECG's plots and files over plain HTTP,
so an `<img src>` or a download link works (DESIGN.md, "Files: plots and exports").

Authorised by `Authorization: Bearer <access token>` or `?token=<link token>` (from
`Ecg.exportUrl`); every credential presented must be valid. What the answers reveal:
- no credentials at all: 401, whether or not the ECG exists;
- an ADMIN: 403 (admins never read ECGs), whether or not the ECG exists;
- a missing ECG, another user's ECG, a bad, expired or tampered token, a link token for another
  ECG, an access token in `?token=` or a link token as Bearer: 404 with one identical body
  (Starlette's own 404, so an unknown path looks the same), so nothing tells them apart.
- a malformed query (repeated `layout` or `token`, unknown layout): 400; a query string over
  `MAX_QUERY_BYTES`: 414. Parameters other than `layout` and `token` are ignored.

`{id}` is the ECG id percent-encoded (a `/` in an id as `%2F`): the route takes everything
between `/ecgs/` and the last `/export.<suffix>`. Each route has its own audit line (operation
`export.<suffix>`, the user, the format and layout, the outcome); tokens never appear in it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote

import orjson
from bson import ObjectId
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from ecg_graphql import audit
from ecg_graphql.api.context import bearer_token
from ecg_graphql.auth import service as auth
from ecg_graphql.auth import tokens
from ecg_graphql.auth.roles import Role
from ecg_graphql.db.documents import UserDocument
from ecg_graphql.ecgs.exports import export_ecg
from ecg_graphql.formats.errors import SamplingRateRequired, TooLongToExport
from ecg_graphql.formats.fhir import operation_outcome
from ecg_graphql.formats.paper import Layout
from ecg_graphql.formats.registry import FORMATS, ExportFormat

# A link token is about 300 characters; nothing legitimate comes near this.
MAX_QUERY_BYTES = 2048
MAX_QUERY_FIELDS = 16
NOT_FOUND_BODY = b'{"detail":"Not Found"}'
IMAGES = frozenset({"SVG", "PDF"})

# The files are medical data behind a token in the URL: never cached, never referred onwards.
_COMMON_HEADERS = {
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
# An SVG opened on its own is a document: it may style itself, never run or fetch anything.
_SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def export_path(ecg_id: str, export_format: ExportFormat) -> str:
    """The route's path for one ECG's file, the id percent-encoded (every reserved character)."""
    return f"/ecgs/{quote(ecg_id, safe='')}/export.{export_format.suffix}"


def router(*, jwt_secret: str) -> APIRouter:
    """One route per format of the registry, each checking credentials with `jwt_secret`."""
    routes = APIRouter()
    for export_format in FORMATS.values():
        routes.add_api_route(
            f"/ecgs/{{ecg_id:path}}/export.{export_format.suffix}",
            _endpoint(export_format, jwt_secret),
            methods=["GET"],
            name=f"export_{export_format.name.lower()}",
            include_in_schema=False,
        )
    return routes


class _Refused(Exception):
    """An answer other than the file, decided before anything is read."""

    def __init__(self, response: Response, outcome: str) -> None:
        super().__init__(outcome)
        self.response = response
        self.outcome = outcome


def _endpoint(
    export_format: ExportFormat, jwt_secret: str
) -> Callable[[Request], Awaitable[Response]]:
    operation = f"export.{export_format.suffix}"

    async def export(request: Request) -> Response:
        audit.annotate(operation=operation, format=export_format.name)
        try:
            layout, link = _query(request)
            audit.annotate(layout=layout.value)
            owner_id = await _owner(request, request.path_params["ecg_id"], link, jwt_secret)
            response = await _file(export_format, owner_id, request.path_params["ecg_id"], layout)
        except _Refused as refused:
            audit.annotate(outcome=refused.outcome)
            return refused.response
        audit.annotate(outcome="ok")
        return response

    export.__name__ = f"export_{export_format.name.lower()}"
    return export


def _query(request: Request) -> tuple[Layout, str | None]:
    """The layout (default STANDARD) and the link token, or 400/414."""
    raw: bytes = request.scope.get("query_string", b"")
    if len(raw) > MAX_QUERY_BYTES:
        raise _Refused(_error(414, "Query string too long."), "rejected")
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"),
            keep_blank_values=True,
            max_num_fields=MAX_QUERY_FIELDS,
            errors="replace",
        )
    except ValueError:
        raise _Refused(_error(400, "Too many query parameters."), "rejected") from None
    values: dict[str, str] = {}
    for key, value in pairs:
        if key in ("layout", "token"):
            if key in values:
                raise _Refused(_error(400, f"Repeated query parameter: {key}."), "rejected")
            values[key] = value
    layout_name = values.get("layout", Layout.STANDARD.value)
    if layout_name not in Layout.__members__:
        names = ", ".join(Layout.__members__)
        raise _Refused(_error(400, f"layout must be one of {names}."), "rejected")
    return Layout[layout_name], values.get("token")


async def _owner(request: Request, ecg_id: str, link: str | None, secret: str) -> ObjectId:
    """The owner whose ECG `ecg_id` the credentials may read (401, 403 or 404 otherwise)."""
    bearer = bearer_token(request.headers.get("authorization"))
    if bearer is None and link is None:
        raise _Refused(
            _error(401, "Authentication required.", {"www-authenticate": "Bearer"}),
            "unauthenticated",
        )
    user: UserDocument | None = None
    if bearer is not None:
        user = await auth.authenticate(bearer, secret=secret)
        if user is None:
            raise _not_found()
    if link is not None:
        claims = tokens.decode_link_token(link, secret=secret)
        if claims is None or claims.ecg_id != ecg_id:
            raise _not_found()
        if user is None:
            user = await auth.get_user(claims.user_id)
        if user is None or str(user.id) != claims.user_id:
            raise _not_found()
    if user is None or user.id is None:  # pragma: no cover - every branch above set it
        raise _not_found()
    audit.annotate(user_id=str(user.id))
    if user.role != Role.USER:
        raise _Refused(_error(403, "Only a USER reads ECGs."), "forbidden")
    return user.id


async def _file(
    export_format: ExportFormat, owner_id: ObjectId, ecg_id: str, layout: Layout
) -> Response:
    try:
        exported = await export_ecg(
            owner_id=owner_id, ecg_id=ecg_id, format_name=export_format.name, layout=layout
        )
    except (SamplingRateRequired, TooLongToExport) as refusal:
        if export_format.name == "FHIR":
            body = operation_outcome(str(refusal))
            raise _Refused(
                Response(body, 409, media_type=export_format.media_type, headers=_COMMON_HEADERS),
                "rejected",
            ) from None
        raise _Refused(_error(409, str(refusal)), "rejected") from None
    if exported is None:
        raise _not_found()
    disposition = "inline" if export_format.name in IMAGES else "attachment"
    headers = {
        **_COMMON_HEADERS,
        "content-disposition": f'{disposition}; filename="{exported.filename}"',
    }
    if export_format.name == "SVG":
        headers["content-security-policy"] = _SVG_POLICY
    return Response(exported.content, 200, media_type=exported.media_type, headers=headers)


def _not_found() -> _Refused:
    response = Response(
        NOT_FOUND_BODY, 404, media_type="application/json", headers=_COMMON_HEADERS
    )
    return _Refused(response, "not_found")


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail}),
        status,
        media_type="application/json",
        headers={**_COMMON_HEADERS, **(headers or {})},
    )
