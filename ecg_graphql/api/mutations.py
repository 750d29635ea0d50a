"""Mutation resolvers: expected outcomes become members of each result union."""

from __future__ import annotations

import strawberry

from ecg_graphql.api.context import Info
from ecg_graphql.api.errors import rate_limited
from ecg_graphql.api.extensions import AuditResult
from ecg_graphql.api.permissions import IsAdmin, IsUser
from ecg_graphql.api.types import (
    AuthPayload,
    CreateUserInput,
    CreateUserResult,
    Ecg,
    EcgAlreadyExistsError,
    EcgInput,
    InvalidCredentialsError,
    InvalidTokenError,
    LoginResult,
    RefreshResult,
    UploadEcgResult,
    User,
    UsernameTakenError,
    ValidationError,
)
from ecg_graphql.auth import service as auth
from ecg_graphql.auth.errors import InvalidCredentials, InvalidToken, UsernameTaken
from ecg_graphql.ecgs import service as ecgs
from ecg_graphql.ecgs.errors import EcgAlreadyExists
from ecg_graphql.ecgs.validation import EcgUpload, LeadUpload
from ecg_graphql.errors import RateLimited, ValidationFailed


def _to_upload(data: EcgInput) -> EcgUpload:
    return EcgUpload(
        id=None if data.id is None else str(data.id),
        date=data.date,
        sampling_rate=data.sampling_rate,
        leads=[
            LeadUpload(name=lead.name, number_of_samples=lead.number_of_samples, signal=lead.signal)
            for lead in data.leads
        ],
    )


@strawberry.type
class Mutation:
    """Writes."""

    @strawberry.mutation(
        extensions=[AuditResult()], description="Exchange a username and password for a token pair."
    )
    async def login(self, info: Info, username: str, password: str) -> LoginResult:
        try:
            session = await auth.login(
                username=username,
                password=password,
                address=info.context.client_address,
                config=info.context.services.auth,
            )
        except ValidationFailed as error:
            return ValidationError.from_issues(error.issues)
        except InvalidCredentials as error:
            return InvalidCredentialsError(message=str(error))
        except RateLimited as error:
            response = info.context.response
            if response is not None:  # also as an HTTP header, for generic HTTP clients
                response.headers["Retry-After"] = str(error.retry_after)
            raise rate_limited(error) from None
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        extensions=[AuditResult()],
        description="Exchange a refresh token for a new pair; the old one stops working.",
    )
    async def refresh_token(self, info: Info, refresh_token: str) -> RefreshResult:
        try:
            session = await auth.refresh(
                refresh_token=refresh_token, config=info.context.services.auth
            )
        except InvalidToken as error:
            return InvalidTokenError(message=str(error))
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        extensions=[AuditResult()],
        description="Revoke a refresh token and its family. Always true.",
    )
    async def logout(self, info: Info, refresh_token: str) -> bool:
        await auth.logout(refresh_token=refresh_token)
        return True

    @strawberry.mutation(
        extensions=[AuditResult()],
        permission_classes=[IsAdmin],
        description="Register a user (ADMIN).",
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserResult:
        try:
            user = await auth.create_user(
                username=input.username,
                password=input.password,
                role=input.role.value,
                bcrypt_rounds=info.context.services.settings.bcrypt_rounds,
            )
        except ValidationFailed as error:
            return ValidationError.from_issues(error.issues)
        except UsernameTaken as error:
            return UsernameTakenError(message=str(error), username=error.username)
        return User.from_document(user)

    @strawberry.mutation(
        extensions=[AuditResult()], permission_classes=[IsUser], description="Upload an ECG (USER)."
    )
    async def upload_ecg(self, info: Info, input: EcgInput) -> UploadEcgResult:
        _, owner_id = await info.context.require_user()
        try:
            doc = await ecgs.upload_ecg(owner_id=owner_id, upload=_to_upload(input))
        except ValidationFailed as error:
            return ValidationError.from_issues(error.issues)
        except EcgAlreadyExists as error:
            return EcgAlreadyExistsError(message=str(error), id=strawberry.ID(error.ecg_id))
        return Ecg.from_document(doc)

    @strawberry.mutation(
        extensions=[AuditResult()],
        permission_classes=[IsUser],
        description="Delete your ECG; false when it does not exist or is not yours.",
    )
    async def delete_ecg(self, info: Info, id: strawberry.ID) -> bool:
        _, owner_id = await info.context.require_user()
        return await ecgs.delete_ecg(owner_id=owner_id, ecg_id=str(id))
