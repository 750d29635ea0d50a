"""Import of standard ECG files: decode the files, read them in the capped sandbox, and store
the ECG through the same `upload_ecg` as a JSON upload (same validation, analyses, storage and
id rules). Every problem is a ValidationFailed naming the file (`files.N`), nothing stored."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from ecg_graphql.ecgs.service import StoredEcg, upload_ecg
from ecg_graphql.ecgs.validation import MAX_LEADS, EcgUpload, LeadUpload
from ecg_graphql.errors import FieldIssue, ValidationFailed
from ecg_graphql.formats.readers.base import InputFile, ParsedEcg, UnreadableFile
from ecg_graphql.formats.readers.sandbox import Sandbox, default_sandbox

MAX_FILES = 64
MAX_NAME_LENGTH = 255
# Fields of a JSON upload that, in an import, come from the file that holds the record.
_FROM_FILE = ("leads", "samplingRate", "unitsPerMillivolt")


@dataclass(frozen=True, slots=True)
class EcgFile:
    """One file as received: its name and its bytes in base64 (not yet trusted)."""

    name: str
    content: str


def decode_files(files: Sequence[EcgFile], *, max_bytes: int) -> list[InputFile]:
    """The files' bytes; ValidationFailed for every bad name or base64, or past `max_bytes`
    (checked on the encoded length before anything is decoded)."""
    issues: list[FieldIssue] = []
    if not 1 <= len(files) <= MAX_FILES:
        raise ValidationFailed([FieldIssue("files", f"An import has 1 to {MAX_FILES} files.")])
    if sum(len(f.content) for f in files) // 4 * 3 > max_bytes:
        raise ValidationFailed(
            [FieldIssue("files", f"The files exceed the {max_bytes}-byte limit.")]
        )
    decoded: list[InputFile] = []
    for index, file in enumerate(files):
        if not 1 <= len(file.name) <= MAX_NAME_LENGTH:
            issues.append(
                FieldIssue(
                    f"files.{index}.name", f"Name must be 1 to {MAX_NAME_LENGTH} characters."
                )
            )
        try:
            data = base64.b64decode(file.content, validate=True)
        except (binascii.Error, ValueError):
            issues.append(FieldIssue(f"files.{index}", "Content is not valid base64."))
            continue
        decoded.append(InputFile(index, file.name, data))
    if issues:
        raise ValidationFailed(issues)
    return decoded


def to_upload(parsed: ParsedEcg, *, ecg_id: str | None, date: datetime | None) -> EcgUpload:
    """The upload the file stands for; the input's id and date win over the file's."""
    field = f"files.{parsed.index}"
    issues: list[FieldIssue] = []
    if len(parsed.leads) > MAX_LEADS:
        issues.append(
            FieldIssue(field, f"The file holds {len(parsed.leads)} ECG leads; at most {MAX_LEADS}.")
        )
    when = date if date is not None else parsed.date
    if when is None:
        issues.append(FieldIssue("date", "The file states no date: give one in `date`."))
    if issues or when is None:
        raise ValidationFailed(issues)
    return EcgUpload(
        id=ecg_id,
        date=when,
        sampling_rate=parsed.sampling_rate,
        leads=[
            LeadUpload(
                name=lead.name,
                number_of_samples=None,
                signal=lead.samples,  # checked by the upload rules, as a JSON signal is
                units_per_mv=lead.units_per_mv,
            )
            for lead in parsed.leads
        ],
    )


def _from_file(issue: FieldIssue, parsed: ParsedEcg) -> FieldIssue:
    """An upload rule broken by what the file holds, named after the file."""
    if not issue.field.startswith(_FROM_FILE):
        return issue
    parts = issue.field.split(".")
    where = issue.field
    if parts[0] == "leads" and len(parts) > 1 and parts[1].isdigit():
        lead_index = int(parts[1])
        if lead_index < len(parsed.leads):
            where = f"lead {parsed.leads[lead_index].name}"
    return FieldIssue(f"files.{parsed.index}", f"{parsed.format} ({where}): {issue.message}")


async def import_ecg(
    *,
    owner_id: ObjectId,
    files: Sequence[EcgFile],
    ecg_id: str | None = None,
    date: datetime | None = None,
    max_bytes: int,
    sandbox: Sandbox | None = None,
) -> StoredEcg:
    """Store the ECG the files hold for `owner_id`, exactly as `upload_ecg` would store it.

    Raises ValidationFailed (nothing stored) or EcgAlreadyExists (nothing overwritten).
    """
    # Base64 of up to ECG_MAX_BODY_BYTES: CPU work, off the event loop.
    decoded = await asyncio.to_thread(decode_files, files, max_bytes=max_bytes)
    try:
        parsed = await (sandbox or default_sandbox()).read(decoded, max_bytes)
    except UnreadableFile as error:
        raise ValidationFailed(
            [FieldIssue(f"files.{index}", message) for index, message in error.problems]
        ) from None
    upload = to_upload(parsed, ecg_id=ecg_id, date=date)
    try:
        return await upload_ecg(owner_id=owner_id, upload=upload)
    except ValidationFailed as error:
        raise ValidationFailed([_from_file(issue, parsed) for issue in error.issues]) from None
