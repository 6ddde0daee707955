"""FastAPI dependencies: the use cases of the running app, and the authenticated caller."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from oryx_authorization.application.access import Principal
from oryx_authorization.application.authentication import Authentication
from oryx_authorization.application.projects import Projects
from oryx_authorization.application.tokens import PersonalTokens
from oryx_authorization.application.users import Users
from oryx_authorization.infrastructure.api.errors import ApiError


@dataclass(frozen=True, kw_only=True)
class UseCases:
    """What the routes may call; built by the container, stored on ``app.state``."""

    authentication: Authentication
    users: Users
    projects: Projects
    tokens: PersonalTokens


async def use_cases(request: Request) -> UseCases:
    services: UseCases = request.app.state.use_cases
    return services


async def principal(
    services: Annotated[UseCases, Depends(use_cases)],
    authorization: Annotated[
        str | None,
        Header(description="`Bearer <token>`: a login token or a personal API token"),
    ] = None,
) -> Principal:
    if not authorization:
        raise ApiError(401, "missing Authorization header; send `Authorization: Bearer <token>`")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "malformed Authorization header; expected `Bearer <token>`")
    return await services.authentication.authenticate(token.strip())


Caller = Annotated[Principal, Depends(principal)]
Services = Annotated[UseCases, Depends(use_cases)]
