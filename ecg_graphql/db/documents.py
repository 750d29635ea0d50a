"""Beanie documents: the collections and their indexes. GraphQL types are separate (api/)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import pymongo
from beanie import Document, Indexed
from bson import ObjectId
from pydantic import Field
from pymongo import IndexModel


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds as MongoDB stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class UserDocument(Document):
    """A registered user. `username_key` is the case-folded name that must be unique."""

    username: str
    username_key: Annotated[str, Indexed(unique=True)]
    password_hash: bytes
    role: str
    created_at: datetime = Field(default_factory=utcnow)

    class Settings:
        name = "users"


@dataclass(frozen=True, slots=True)
class LeadMeta:
    """Where one lead's samples live: `dtype` is "<i2" or "<i4"; window `chunk_samples` long."""

    name: str
    number_of_samples: int
    dtype: str
    chunk_samples: int
    units_per_mv: float | None = None  # the lead's gain, else the ECG's; None when unknown


class EcgDocument(Document):
    """ECG metadata and insights; stays small whatever the signal length (samples live apart)."""

    owner_id: ObjectId
    ecg_id: str
    date: datetime
    created_at: datetime = Field(default_factory=utcnow)
    sampling_rate: float | None = None
    signal_id: ObjectId
    leads: list[LeadMeta]
    # Analysis records (insights/runner.py): per lead {name: {version, values}} and per ECG
    # {name: {version, value}}; a failed one has `error` instead of its result.
    insights: dict[str, dict[str, Any]]
    analyses: dict[str, dict[str, Any]] = Field(default_factory=dict)

    model_config = {"arbitrary_types_allowed": True}  # noqa: RUF012  (pydantic config)

    class Settings:
        name = "ecgs"
        indexes = [  # noqa: RUF012  (Beanie reads this class attribute)
            IndexModel(
                [("owner_id", pymongo.ASCENDING), ("ecg_id", pymongo.ASCENDING)],
                name="owner_ecg_id",
                unique=True,
            ),
            IndexModel(
                [
                    ("owner_id", pymongo.ASCENDING),
                    ("date", pymongo.DESCENDING),
                    ("created_at", pymongo.DESCENDING),
                    ("_id", pymongo.DESCENDING),
                ],
                name="owner_newest",
            ),
        ]


class SignalChunkDocument(Document):
    """One window of an ECG's samples: [seq*W, (seq+1)*W) of every lead, packed little-endian.

    `data` maps the lead index (as a string) to its bytes, so a projection on `data.N`
    reads one lead without transferring the others.
    """

    signal_id: ObjectId
    seq: int
    data: dict[str, bytes]

    model_config = {"arbitrary_types_allowed": True}  # noqa: RUF012  (pydantic config)

    class Settings:
        name = "signal_chunks"
        indexes = [  # noqa: RUF012
            IndexModel(
                [("signal_id", pymongo.ASCENDING), ("seq", pymongo.ASCENDING)],
                name="signal_seq",
                unique=True,
            ),
        ]


class EcgCountDocument(Document):
    """Per owner (`_id` is the owner's id): how many ECGs they have, and bounds of their
    dates. Kept in step with uploads and deletes by db/ecg_listing.py; `gc` repairs it."""

    total: int = 0
    min_date: datetime | None = None  # never above the oldest date (deletes leave it)
    max_date: datetime | None = None  # never below the newest date

    class Settings:
        name = "ecg_counts"


class EcgUploadDocument(Document):
    """An open chunked upload (ecgs/large.py): the ECG it will become, and which chunks
    arrived (with a digest of each, so a resend can be told from a different chunk). Its
    samples are written straight into the signal windows of `signal_id`; the ECG document
    that makes them visible is written by `finishEcgUpload`."""

    owner_id: ObjectId
    ecg_id: str
    date: datetime
    sampling_rate: float | None = None
    units_per_mv: float | None = None
    signal_id: ObjectId
    leads: list[dict[str, Any]]  # name, number_of_samples, units_per_mv
    chunk_samples: int
    chunk_count: int
    received: list[int] = Field(default_factory=list)
    digests: dict[str, str] = Field(default_factory=dict)  # seq -> sha256 of the chunk
    wide: list[int] = Field(default_factory=list)  # leads with a chunk that needed int32
    state: str = "open"  # open | finishing
    finishing_since: datetime | None = None
    expires_at: datetime  # 24 h after the last chunk (or the start)

    model_config = {"arbitrary_types_allowed": True}  # noqa: RUF012  (pydantic config)

    class Settings:
        name = "ecg_uploads"
        indexes = [  # noqa: RUF012
            IndexModel([("owner_id", pymongo.ASCENDING)], name="owner"),
            IndexModel([("expires_at", pymongo.ASCENDING)], name="expires"),
        ]


class AnalysisJobDocument(Document):
    """The background analysis of one ECG (insights/jobs.py): `_id` is the ECG document's
    id. A worker claims it by setting `lease_until` in the future; it renews the lease while
    working (heartbeats), and another worker takes it over once the lease has run out."""

    state: str = "queued"  # queued | running | done | failed
    attempts: int = 0
    worker: str | None = None
    lease_until: datetime | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    class Settings:
        name = "analysis_jobs"
        indexes = [  # noqa: RUF012
            IndexModel(
                [("state", pymongo.ASCENDING), ("lease_until", pymongo.ASCENDING)], name="claim"
            ),
        ]


class RefreshTokenDocument(Document):
    """A refresh token, stored only as its SHA-256; single use, grouped in a family."""

    token_hash: Annotated[str, Indexed(unique=True)]
    family_id: Annotated[str, Indexed()]
    user_id: ObjectId
    expires_at: datetime
    used_at: datetime | None = None
    revoked: bool = False

    model_config = {"arbitrary_types_allowed": True}  # noqa: RUF012  (pydantic config)

    class Settings:
        name = "refresh_tokens"
        indexes = [  # noqa: RUF012
            IndexModel([("expires_at", pymongo.ASCENDING)], expireAfterSeconds=0, name="ttl"),
        ]


class LoginFailureDocument(Document):
    """One failed login, counted per username key and per client address; expires by TTL."""

    key: str
    at: datetime
    expires_at: datetime

    class Settings:
        name = "login_failures"
        indexes = [  # noqa: RUF012
            IndexModel([("key", pymongo.ASCENDING), ("at", pymongo.ASCENDING)], name="key_at"),
            IndexModel([("expires_at", pymongo.ASCENDING)], expireAfterSeconds=0, name="ttl"),
        ]


DOCUMENT_MODELS: tuple[type[Document], ...] = (
    UserDocument,
    EcgDocument,
    SignalChunkDocument,
    EcgCountDocument,
    EcgUploadDocument,
    AnalysisJobDocument,
    RefreshTokenDocument,
    LoginFailureDocument,
)


def as_object_id(value: Any) -> ObjectId | None:
    """An ObjectId from a string, or None when the value is not one (never raises)."""
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    return None
