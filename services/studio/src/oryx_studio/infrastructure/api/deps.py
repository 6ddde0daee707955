"""FastAPI dependencies: the use cases, and the caller checked by the authorization service."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request

from oryx_studio.application.deployments import Deployments
from oryx_studio.application.documents import Documents
from oryx_studio.application.library import Library
from oryx_studio.application.variables import Variables
from oryx_studio.application.workflows import Workflows
from oryx_studio.infrastructure.api.errors import ApiError
from oryx_studio.infrastructure.api.schemas import NoNul
from oryx_studio.infrastructure.authorization.client import (
    AuthorizationUnavailable,
    Caller,
    HttpAuthorizer,
    NotAuthenticated,
)


@dataclass(frozen=True, kw_only=True)
class UseCases:
    library: Library
    workflows: Workflows
    documents: Documents
    deployments: Deployments
    variables: Variables
    authorizer: HttpAuthorizer
    max_file_bytes: int


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


ActionReader = Annotated[ProjectCaller, Depends(require("action:read"))]
ActionDeleter = Annotated[ProjectCaller, Depends(require("action:delete"))]
WorkflowReader = Annotated[ProjectCaller, Depends(require("workflow:read"))]
WorkflowWriter = Annotated[ProjectCaller, Depends(require("workflow:write"))]
WorkflowDeployer = Annotated[ProjectCaller, Depends(require("workflow:deploy"))]
VariableReader = Annotated[ProjectCaller, Depends(require("variable:read"))]
VariableWriter = Annotated[ProjectCaller, Depends(require("variable:write"))]
