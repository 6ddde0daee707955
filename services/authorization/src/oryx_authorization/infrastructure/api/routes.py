"""Routes of the authorization API, under /authorization (see shared API contract)."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from oryx_authorization.application.access import Principal
from oryx_authorization.application.projects import CreateProject, UpdateProject
from oryx_authorization.application.users import CreateUser, UpdateMe, UpdateUser
from oryx_authorization.domain.projects import Membership, Project
from oryx_authorization.domain.tokens import AccessToken
from oryx_authorization.domain.users import User
from oryx_authorization.infrastructure.api import schemas as s
from oryx_authorization.infrastructure.api.deps import Caller, Services
from oryx_authorization.infrastructure.api.errors import error_body

PREFIX = "/authorization"

Responses = dict[int | str, dict[str, Any]]

ERRORS: Responses = {
    401: {"description": "Missing, malformed, expired or revoked token"},
    422: {"description": "Invalid input; `field` names the culprit"},
}
NOT_FOUND: Responses = {404: {"description": "Unknown id, or not visible to the caller"}}
FORBIDDEN: Responses = {403: {"description": "The caller's role does not allow this"}}

Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]
ProjectHeader = Annotated[
    str | None,
    Header(
        alias="X-Oryx-Project",
        max_length=64,
        description="Project to check in; defaults to the caller's current project",
    ),
    s.NoNul,
]
# Ids in paths follow the rules of ids in bodies: PostgreSQL cannot even compare a NUL.
PathId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]

router = APIRouter(prefix=PREFIX, responses=ERRORS)


def user_out(user: User) -> s.UserOut:
    return s.UserOut(
        id=user.id,
        username=user.username,
        role=user.role,
        email=user.email,
        full_name=user.full_name,
        current_project_id=user.current_project_id,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def project_out(project: Project, caller: Principal) -> s.ProjectOut:
    return s.ProjectOut(
        id=project.id,
        name=project.name,
        description=project.description,
        created_at=project.created_at,
        updated_at=project.updated_at,
        member_count=len(project.members),
        my_role=project.role_of(caller.user_id),
    )


def token_out(token: AccessToken) -> s.PersonalTokenOut:
    return s.PersonalTokenOut(
        id=token.id,
        name=token.name,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        active=token.is_active(at=datetime.now(UTC)),
    )


# health -------------------------------------------------------------------------------------


@router.get("/healthz", summary="Liveness", tags=["health"], responses={})
async def healthz() -> s.HealthOut:
    """Answers 200 as soon as the service serves requests."""
    return s.HealthOut(status="ok", service="authorization")


# login --------------------------------------------------------------------------------------


@router.post(
    "/login",
    summary="Log in",
    tags=["login"],
    responses={429: {"description": "Too many failed attempts; see Retry-After"}},
)
async def login(body: s.LoginIn, services: Services) -> s.TokenOut:
    """Exchange a username and password for a bearer token that expires.

    A wrong password and an unknown user get the same 401. Repeated failures for one username
    lock it for a growing delay (429 with `Retry-After`).
    """
    issued = await services.authentication.login(username=body.username, password=body.password)
    return s.TokenOut(access_token=issued.token, expires_at=issued.record.expires_at)


@router.post("/logout", status_code=204, summary="Log out", tags=["login"])
async def logout(caller: Caller, services: Services) -> Response:
    """Revoke the token used for this request."""
    await services.authentication.logout(caller)
    return Response(status_code=204)


# me -----------------------------------------------------------------------------------------


@router.get("/me", summary="My profile", tags=["me"])
async def get_me(caller: Caller, services: Services) -> s.UserOut:
    """The caller's own profile, with their current project."""
    return user_out(await services.users.me(caller))


@router.put("/me", summary="Update my profile or password", tags=["me"])
async def update_me(body: s.MeUpdateIn, caller: Caller, services: Services) -> s.UserOut:
    """Change email and full name. A new password needs `current_password` and ends every
    session and token of the caller: log in again afterwards."""
    cmd = UpdateMe(
        email=body.email,
        full_name=body.full_name,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return user_out(await services.users.update_me(caller, cmd))


# users --------------------------------------------------------------------------------------


@router.get("/users", summary="List users (admin)", tags=["users"], responses=FORBIDDEN)
async def list_users(
    caller: Caller,
    services: Services,
    limit: Limit = 50,
    cursor: Cursor = None,
    search: Annotated[
        str | None,
        Query(max_length=100, description="Part of username, name or email"),
        s.NoNul,
    ] = None,
) -> s.PageOut[s.UserOut]:
    """Every user, newest first."""
    page = await services.users.list(caller, limit=limit, cursor=cursor, search=search)
    return s.PageOut[s.UserOut](
        items=[user_out(u) for u in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post(
    "/users",
    status_code=201,
    summary="Create a user (admin)",
    tags=["users"],
    responses={**FORBIDDEN, 409: {"description": "Username taken"}},
)
async def create_user(body: s.UserCreateIn, caller: Caller, services: Services) -> s.UserOut:
    """Create an account. Roles: `admin` (everything), `developer` (builds and edits),
    `user` (views and runs)."""
    cmd = CreateUser(
        username=body.username,
        password=body.password,
        role=body.role,
        email=body.email,
        full_name=body.full_name,
    )
    return user_out(await services.users.create(caller, cmd))


@router.get("/users/{user_id}", summary="Get a user (admin)", tags=["users"], responses=NOT_FOUND)
async def get_user(user_id: PathId, caller: Caller, services: Services) -> s.UserOut:
    """One user by id."""
    return user_out(await services.users.get(caller, user_id))


@router.put(
    "/users/{user_id}",
    summary="Update a user (admin)",
    tags=["users"],
    responses={**NOT_FOUND, **FORBIDDEN, 409: {"description": "Would remove the last admin"}},
)
async def update_user(
    user_id: PathId, body: s.UserUpdateIn, caller: Caller, services: Services
) -> s.UserOut:
    """Change role, profile or password. A new password revokes the user's tokens."""
    cmd = UpdateUser(
        role=body.role, email=body.email, full_name=body.full_name, password=body.password
    )
    return user_out(await services.users.update(caller, user_id, cmd))


@router.delete(
    "/users/{user_id}",
    status_code=204,
    summary="Delete a user (admin)",
    tags=["users"],
    responses={**NOT_FOUND, **FORBIDDEN, 409: {"description": "The last admin"}},
)
async def delete_user(user_id: PathId, caller: Caller, services: Services) -> Response:
    """Delete the account, its memberships and tokens; emits `UserDeleted`."""
    await services.users.delete(caller, user_id)
    return Response(status_code=204)


# projects -----------------------------------------------------------------------------------


@router.get("/projects", summary="List projects", tags=["projects"])
async def list_projects(
    caller: Caller, services: Services, limit: Limit = 50, cursor: Cursor = None
) -> s.PageOut[s.ProjectOut]:
    """Admins see every project; other users the projects they are members of."""
    page = await services.projects.list(caller, limit=limit, cursor=cursor)
    return s.PageOut[s.ProjectOut](
        items=[project_out(p, caller) for p in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@router.post(
    "/projects",
    status_code=201,
    summary="Create a project (admin)",
    tags=["projects"],
    responses={**FORBIDDEN, 409: {"description": "Name taken"}},
)
async def create_project(
    body: s.ProjectCreateIn, caller: Caller, services: Services
) -> s.ProjectOut:
    """Create an empty project; add members next."""
    cmd = CreateProject(name=body.name, description=body.description)
    return project_out(await services.projects.create(caller, cmd), caller)


@router.get(
    "/projects/{project_id}", summary="Get a project", tags=["projects"], responses=NOT_FOUND
)
async def get_project(project_id: PathId, caller: Caller, services: Services) -> s.ProjectOut:
    """A project the caller belongs to (any project for admins)."""
    return project_out(await services.projects.get(caller, project_id), caller)


@router.put(
    "/projects/{project_id}",
    summary="Rename or describe a project",
    tags=["projects"],
    responses={**NOT_FOUND, **FORBIDDEN, 409: {"description": "Name taken"}},
)
async def update_project(
    project_id: PathId, body: s.ProjectUpdateIn, caller: Caller, services: Services
) -> s.ProjectOut:
    """Needs the `project:update` permission (project admins)."""
    cmd = UpdateProject(name=body.name, description=body.description)
    return project_out(await services.projects.update(caller, project_id, cmd), caller)


@router.delete(
    "/projects/{project_id}",
    status_code=204,
    summary="Delete a project (admin)",
    tags=["projects"],
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def delete_project(project_id: PathId, caller: Caller, services: Services) -> Response:
    """Delete the project; emits `ProjectDeleted` so every service drops its data."""
    await services.projects.delete(caller, project_id)
    return Response(status_code=204)


async def _members_out(services: Services, members: list[Membership]) -> list[s.MemberOut]:
    names = {u.id: u.username for u in await services.users.get_many([m.user_id for m in members])}
    return [
        s.MemberOut(
            user_id=m.user_id, username=names.get(m.user_id), role=m.role, added_at=m.added_at
        )
        for m in members
    ]


@router.get(
    "/projects/{project_id}/members",
    summary="List members",
    tags=["projects"],
    responses=NOT_FOUND,
)
async def list_members(project_id: PathId, caller: Caller, services: Services) -> list[s.MemberOut]:
    """The project's members with their role in it."""
    return await _members_out(services, await services.projects.members(caller, project_id))


@router.post(
    "/projects/{project_id}/members",
    status_code=201,
    summary="Add a member",
    tags=["projects"],
    responses={**NOT_FOUND, **FORBIDDEN, 409: {"description": "Already a member"}},
)
async def add_member(
    project_id: PathId, body: s.MemberAddIn, caller: Caller, services: Services
) -> s.MemberOut:
    """Give a user a role in the project (`project:members:manage`)."""
    membership = await services.projects.add_member(
        caller, project_id, user_id=body.user_id, role=body.role
    )
    return (await _members_out(services, [membership]))[0]


@router.put(
    "/projects/{project_id}/members/{user_id}",
    summary="Change a member's role",
    tags=["projects"],
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def change_member(
    project_id: PathId, user_id: PathId, body: s.MemberUpdateIn, caller: Caller, services: Services
) -> s.MemberOut:
    """Set the member's role in the project."""
    membership = await services.projects.change_member_role(
        caller, project_id, user_id=user_id, role=body.role
    )
    return (await _members_out(services, [membership]))[0]


@router.delete(
    "/projects/{project_id}/members/{user_id}",
    status_code=204,
    summary="Remove a member",
    tags=["projects"],
    responses={**NOT_FOUND, **FORBIDDEN},
)
async def remove_member(
    project_id: PathId, user_id: PathId, caller: Caller, services: Services
) -> Response:
    """Remove the user from the project; emits `ProjectMemberRemoved`."""
    await services.projects.remove_member(caller, project_id, user_id=user_id)
    return Response(status_code=204)


@router.post(
    "/projects/{project_id}/current",
    summary="Make a project my current one",
    tags=["projects"],
    responses=NOT_FOUND,
)
async def make_current(project_id: PathId, caller: Caller, services: Services) -> s.ProjectOut:
    """Project-scoped routes of every service use it when no `X-Oryx-Project` is sent."""
    return project_out(await services.projects.make_current(caller, project_id), caller)


# personal tokens ----------------------------------------------------------------------------


@router.get("/tokens", summary="List my API tokens", tags=["tokens"])
async def list_tokens(
    caller: Caller, services: Services, limit: Limit = 50, cursor: Cursor = None
) -> s.PageOut[s.PersonalTokenOut]:
    """The caller's personal API tokens (never the tokens themselves)."""
    page = await services.tokens.list(caller, limit=limit, cursor=cursor)
    return s.PageOut[s.PersonalTokenOut](
        items=[token_out(t) for t in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post("/tokens", status_code=201, summary="Create an API token", tags=["tokens"])
async def create_token(
    body: s.PersonalTokenCreateIn, caller: Caller, services: Services
) -> s.PersonalTokenCreatedOut:
    """A named token for the CLI or automation. The token is in this answer only."""
    issued = await services.tokens.create(
        caller, name=body.name, expires_in_days=body.expires_in_days
    )
    return s.PersonalTokenCreatedOut(**token_out(issued.record).model_dump(), token=issued.token)


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    summary="Revoke an API token",
    tags=["tokens"],
    responses=NOT_FOUND,
)
async def revoke_token(token_id: PathId, caller: Caller, services: Services) -> Response:
    """The token stops working at once."""
    await services.tokens.revoke(caller, token_id)
    return Response(status_code=204)


# authorize ----------------------------------------------------------------------------------


@router.get("/authorize", summary="May the caller do this here?", tags=["authorize"])
async def authorize(
    caller: Caller,
    services: Services,
    project: ProjectHeader = None,
    permission: Annotated[
        str | None,
        Query(max_length=64, description="A permission name, e.g. `workflow:write`"),
    ] = None,
) -> s.AuthorizeOut:
    """Who the caller is and whether `permission` is allowed in the project (the
    `X-Oryx-Project` header, else the caller's current project). Other services call this
    for each user request and may cache the answer for 5 s at most. Without `permission` it
    only checks identity and project visibility. A project the caller cannot see is answered
    with `project_id: null` and `allowed: false`."""
    decision = await services.authentication.authorize(
        caller, permission=permission, project_id=project
    )
    return s.AuthorizeOut(
        user_id=decision.user_id,
        username=decision.username,
        role=decision.role,
        project_id=decision.project_id,
        project_role=decision.project_role,
        permission=decision.permission.value if decision.permission else None,
        allowed=decision.allowed,
    )


__all__ = ["PREFIX", "error_body", "router"]
