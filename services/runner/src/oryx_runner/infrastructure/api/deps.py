"""FastAPI dependencies: the use cases, and the caller checked by the authorization service."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from oryx_runner.application.api_keys import ApiAccess, ApiKeys
from oryx_runner.application.deployments import Deployments
from oryx_runner.application.http_api import HttpApi
from oryx_runner.application.runs import Runs
from oryx_runner.infrastructure.api.errors import ApiError
from oryx_runner.infrastructure.api.schemas import NoNul
from oryx_runner.infrastructure.authorization.client import (
    AuthorizationUnavailable,
    Caller,
    HttpAuthorizer,
    NotAuthenticated,
)
from oryx_runner.infrastructure.signals import LocalSignals


@dataclass(frozen=True, kw_only=True)
class UseCases:
    runs: Runs
    deployments: Deployments
    authorizer: HttpAuthorizer
    signals: LocalSignals
    api_keys: ApiKeys
    access: ApiAccess
    http_api: HttpApi
    max_upload_bytes: int = 100 * 1024 * 1024


async def use_cases(request: Request) -> UseCases:
    services: UseCases = request.app.state.use_cases
    return services


Services = Annotated[UseCases, Depends(use_cases)]


@dataclass(frozen=True, kw_only=True)
class ProjectCaller:
    """A caller allowed to act in ``project_id``."""

    user_id: str
    username: str
    project_id: str


def require(permission: str) -> Callable[..., Awaitable[ProjectCaller]]:
    """A dependency: the caller must hold ``permission`` in the request's project."""

    async def check(
        services: Services,
        authorization: Annotated[
            str | None,
            Header(description="`Bearer <token>`: a login token or a personal API token"),
        ] = None,
        project: Annotated[
            str | None,
            Header(
                alias="X-Oryx-Project",
                max_length=64,
                description="The project to act in; default: the caller's current project",
            ),
            NoNul,
        ] = None,
    ) -> ProjectCaller:
        if not authorization:
            raise ApiError(
                401, "missing Authorization header; send `Authorization: Bearer <token>`"
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip() or len(token) > 1024:
            raise ApiError(401, "malformed Authorization header; expected `Bearer <token>`")
        try:
            caller: Caller = await services.authorizer.authorize(
                token=token.strip(), permission=permission, project=project
            )
        except NotAuthenticated as exc:
            raise ApiError(401, str(exc)) from exc
        except AuthorizationUnavailable as exc:
            raise ApiError(503, str(exc), code="authorization_unavailable") from exc
        if caller.project_id is None:
            if project:
                raise ApiError(404, f"project {project} not found", field="X-Oryx-Project")
            raise ApiError(
                404,
                "no project chosen: send X-Oryx-Project, or choose a current project with "
                "POST /authorization/projects/{id}/current",
                code="project_required",
                field="X-Oryx-Project",
            )
        if not caller.allowed:
            raise ApiError(
                403, f"your role in this project does not grant {permission}", field=None
            )
        return ProjectCaller(
            user_id=caller.user_id, username=caller.username, project_id=caller.project_id
        )

    return check


DeploymentReader = Annotated[ProjectCaller, Depends(require("deployment:read"))]
RunReader = Annotated[ProjectCaller, Depends(require("run:read"))]
RunCreator = Annotated[ProjectCaller, Depends(require("run:create"))]
RunCanceller = Annotated[ProjectCaller, Depends(require("run:cancel"))]
RunDeleter = Annotated[ProjectCaller, Depends(require("run:delete"))]
ApiKeyManager = Annotated[ProjectCaller, Depends(require("api_key:manage"))]
