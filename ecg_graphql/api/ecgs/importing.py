"""`importEcg`: an ECG from standard files (DICOM, HL7 aECG, GE MUSE, Philips, SCP-ECG, EDF,
WFDB, our FHIR Observation); the result is the same union as `uploadEcg`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.ecgs.types import Ecg, UploadEcgResult
from ecg_graphql.api.extensions import MutationResult
from ecg_graphql.api.permissions import IsUser
from ecg_graphql.ecgs import importing


@strawberry.input(description="One file of an import.")
class EcgFileInput:
    name: str
    content: str = strawberry.field(description="The file's bytes in base64.")


@strawberry.input(description="Files that hold one ECG; `id` and `date` override the file's.")
class ImportEcgInput:
    id: strawberry.ID | None = None
    date: datetime | None = None
    files: list[EcgFileInput]


@strawberry.type
class EcgImportMutations:
    """Import of ECG files."""

    @strawberry.mutation(
        extensions=[MutationResult()],
        permission_classes=[IsUser],
        description=(
            "Import an ECG from its files (USER); the format is detected from the content. "
            "Stored exactly as uploadEcg would store the same leads."
        ),
    )
    async def import_ecg(self, info: Info, input: ImportEcgInput) -> UploadEcgResult:
        _, owner_id = await info.context.require_user()
        doc = await importing.import_ecg(
            owner_id=owner_id,
            files=[importing.EcgFile(f.name, f.content) for f in input.files],
            ecg_id=None if input.id is None else str(input.id),
            date=input.date,
            max_bytes=info.context.services.settings.max_body_bytes,
        )
        return Ecg.from_document(doc)
