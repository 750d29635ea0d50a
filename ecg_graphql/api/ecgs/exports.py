"""`Ecg.exportUrl`: a relative URL of one of the ECG's files, carrying a link token so that an
`<img src>` or a download link works without headers (routes in web/exports.py)."""

from __future__ import annotations

from enum import Enum
from urllib.parse import urlencode

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.auth import tokens
from ecg_graphql.formats.paper import Layout
from ecg_graphql.formats.registry import FORMATS
from ecg_graphql.web.exports import IMAGES, export_path

PlotLayout = strawberry.enum(
    Layout,
    name="PlotLayout",
    description="STANDARD: 3 rows x 4 columns of 2.5 s, plus a 10 s lead II rhythm strip; "
    "SIX_BY_TWO: 6 rows x 2 columns of 5 s; TWELVE_BY_ONE: 12 rows of 10 s.",
)


@strawberry.enum(name="ExportFormat", description="The files an ECG is exported to.")
class ExportFormatName(Enum):
    """One member per format of the registry (formats/registry.py), by the same name."""

    SVG = "SVG"
    PDF = "PDF"
    FHIR = "FHIR"
    WFDB = "WFDB"


async def export_url(
    info: Info, *, ecg_id: str, export_format: ExportFormatName, layout: Layout
) -> str:
    """`/ecgs/{id}/export.<suffix>?layout=...&token=...` for the caller's ECG `ecg_id`; the
    token is good for 5 minutes, for any file of this ECG and nothing else. `layout` is in the
    URL of the images only (the other formats have none)."""
    _, owner_id = await info.context.require_user()
    token = tokens.issue_link_token(
        user_id=str(owner_id), ecg_id=ecg_id, secret=info.context.services.auth.jwt_secret
    )
    query = {"layout": layout.value} if export_format.value in IMAGES else {}
    query["token"] = token
    return f"{export_path(ecg_id, FORMATS[export_format.value])}?{urlencode(query)}"
