"""GraphQL types of the public contract, built from documents with `from_document`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from bson import ObjectId

from ecg_graphql.api.context import Info
from ecg_graphql.api.errors import bad_input
from ecg_graphql.api.scalars import Samples
from ecg_graphql.auth.service import count_users
from ecg_graphql.db.documents import UserDocument
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.ecgs.service import StoredEcg
from ecg_graphql.errors import FieldIssue, InvalidArgument

if TYPE_CHECKING:
    from ecg_graphql.auth.service import Session


@strawberry.enum
class Role(Enum):
    """What a user may do: ADMIN registers users; USER sends and reads their own ECGs."""

    ADMIN = "ADMIN"
    USER = "USER"


@strawberry.interface
class Error:
    """An expected failure of a mutation."""

    message: str


@strawberry.type
class FieldError:
    """One broken rule; `field` is the dotted input path, e.g. "leads.2.numberOfSamples"."""

    field: str
    message: str


@strawberry.type
class ValidationError(Error):
    """The input broke one or more rules; all are listed and nothing was changed."""

    fields: list[FieldError]

    @classmethod
    def from_issues(cls, issues: list[FieldIssue]) -> ValidationError:
        """The GraphQL form of a service's ValidationFailed."""
        return cls(
            message="Input is invalid.",
            fields=[FieldError(field=i.field, message=i.message) for i in issues],
        )


@strawberry.type
class InvalidCredentialsError(Error):
    """Unknown username or wrong password (deliberately not told apart)."""


@strawberry.type
class InvalidTokenError(Error):
    """The refresh token is unknown, expired, already used or revoked."""


@strawberry.type
class UsernameTakenError(Error):
    """The username exists already (compared case-insensitively)."""

    username: str


@strawberry.type
class EcgAlreadyExistsError(Error):
    """You already have an ECG with this id; nothing was overwritten."""

    id: strawberry.ID


@strawberry.type
class User:
    """A registered user."""

    id: strawberry.ID
    username: str
    role: Role
    created_at: datetime

    @classmethod
    def from_document(cls, doc: UserDocument) -> User:
        """The GraphQL view of a stored user."""
        return cls(
            id=strawberry.ID(str(doc.id)),
            username=doc.username,
            role=Role(doc.role),
            created_at=doc.created_at,
        )


@strawberry.type
class AuthPayload:
    """A new token pair; send `accessToken` as `Authorization: Bearer <token>`."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: User

    @classmethod
    def from_session(cls, session: Session) -> AuthPayload:
        """The GraphQL view of an issued session."""
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            token_type="Bearer",  # noqa: S106  (a token type, not a secret)
            expires_in=session.expires_in,
            user=User.from_document(session.user),
        )


@strawberry.type
class Lead:
    """One lead of an ECG."""

    name: str
    number_of_samples: int
    _document: strawberry.Private[StoredEcg]
    _index: strawberry.Private[int]

    @strawberry.field(
        description="Samples [offset, offset+limit); limit defaults to the rest, at most 1,000,000."
    )
    async def signal(self, info: Info, offset: int = 0, limit: int | None = None) -> Samples:
        try:
            ecgs.check_slice(offset, limit)
        except InvalidArgument as error:
            raise bad_input(error) from None
        samples = await info.context.slices.load(
            ecgs.SliceRequest(self._document, self._index, offset, limit)
        )
        return Samples(samples.tolist())


@strawberry.type
class LeadInsight:
    """What the analyses found in one lead."""

    lead: str
    zero_crossings: int


@strawberry.type
class Ecg:
    """An uploaded ECG."""

    id: strawberry.ID
    date: datetime
    created_at: datetime
    sampling_rate: float | None
    leads: list[Lead]
    insights: list[LeadInsight]

    @classmethod
    def from_document(cls, doc: StoredEcg) -> Ecg:
        """The GraphQL view of a stored ECG."""
        crossings = doc.insights["zero_crossings"]
        return cls(
            id=strawberry.ID(doc.ecg_id),
            date=doc.date,
            created_at=doc.created_at,
            sampling_rate=doc.sampling_rate,
            leads=[
                Lead(name=m.name, number_of_samples=m.number_of_samples, _document=doc, _index=i)
                for i, m in enumerate(doc.leads)
            ],
            insights=[
                LeadInsight(lead=m.name, zero_crossings=int(crossings[i]))
                for i, m in enumerate(doc.leads)
            ],
        )


@strawberry.type
class PageInfo:
    """Where a page ends and whether more follow."""

    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class EcgEdge:
    """An ECG in a page."""

    cursor: str
    node: Ecg


@strawberry.type
class EcgConnection:
    """A page of the caller's ECGs, newest date first."""

    edges: list[EcgEdge]
    page_info: PageInfo
    _owner_id: strawberry.Private[ObjectId]

    @strawberry.field(description="How many ECGs the caller has in all.")
    async def total_count(self, info: Info) -> int:
        return await ecgs.count_ecgs(owner_id=self._owner_id)


@strawberry.type
class UserEdge:
    """A user in a page."""

    cursor: str
    node: User


@strawberry.type
class UserConnection:
    """A page of users, in registration order."""

    edges: list[UserEdge]
    page_info: PageInfo

    @strawberry.field(description="How many users exist.")
    async def total_count(self, info: Info) -> int:
        return await count_users()


@strawberry.input
class LeadInput:
    """One lead of an upload."""

    name: str
    number_of_samples: int | None = None
    signal: Samples


@strawberry.input
class EcgInput:
    """An ECG to upload; `id` is generated when absent."""

    id: strawberry.ID | None = None
    date: datetime
    sampling_rate: float | None = None
    leads: list[LeadInput]


@strawberry.input
class CreateUserInput:
    """A user to register."""

    username: str
    password: str
    role: Role = Role.USER


LoginResult = Annotated[
    AuthPayload | InvalidCredentialsError | ValidationError, strawberry.union("LoginResult")
]
RefreshResult = Annotated[AuthPayload | InvalidTokenError, strawberry.union("RefreshResult")]
CreateUserResult = Annotated[
    User | UsernameTakenError | ValidationError, strawberry.union("CreateUserResult")
]
UploadEcgResult = Annotated[
    Ecg | EcgAlreadyExistsError | ValidationError, strawberry.union("UploadEcgResult")
]
