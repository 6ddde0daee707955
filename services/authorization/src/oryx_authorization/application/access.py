"""Who is calling, and the checks every use case makes before it acts."""

from dataclasses import dataclass

from oryx_authorization.application.ports import UnitOfWork
from oryx_authorization.domain.errors import NotFound, PermissionDenied
from oryx_authorization.domain.permissions import Permission, Role, is_allowed
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import TokenKind


@dataclass(frozen=True, kw_only=True)
class Principal:
    """The authenticated caller of a request."""

    user_id: str
    username: str
    role: Role
    token_id: str
    token_kind: TokenKind
    current_project_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def require_admin(principal: Principal, *, doing: str) -> None:
    if not principal.is_admin:
        raise PermissionDenied(f"only platform admins may {doing}")


async def visible_project(uow: UnitOfWork, principal: Principal, project_id: str) -> Project:
    """The project, if the caller may see it; otherwise NotFound, as if it did not exist."""
    project = await uow.projects.get(project_id)
    if project is None or not (principal.is_admin or principal.user_id in project.members):
        raise NotFound(f"project {project_id} not found", field="project_id")
    return project


def require_permission(principal: Principal, project: Project, permission: Permission) -> None:
    allowed = is_allowed(
        platform_role=principal.role,
        project_role=project.role_of(principal.user_id),
        permission=permission,
    )
    if not allowed:
        raise PermissionDenied(
            f"your role in project {project.name!r} does not grant {permission.value}"
        )
