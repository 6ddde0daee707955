"""Roles and the permission table: the one place that says who may do what.

A user has a platform role (``admin``, ``developer`` or ``user``) and, in each project they
belong to, a project role. Platform admins may do everything everywhere. Everyone else gets
the permissions of their role *in the project concerned*.
"""

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    DEVELOPER = "developer"
    USER = "user"


class Permission(StrEnum):
    """Named permissions, checked by every service through ``GET /authorization/authorize``."""

    # project
    PROJECT_READ = "project:read"
    PROJECT_UPDATE = "project:update"
    PROJECT_MEMBERS_MANAGE = "project:members:manage"
    # repository: git sources and their actions
    SOURCE_READ = "source:read"
    SOURCE_WRITE = "source:write"
    ACTION_BUILD = "action:build"
    # studio: action library, workflows, variables
    ACTION_READ = "action:read"
    ACTION_DELETE = "action:delete"
    WORKFLOW_READ = "workflow:read"
    WORKFLOW_WRITE = "workflow:write"
    WORKFLOW_DEPLOY = "workflow:deploy"
    VARIABLE_READ = "variable:read"
    VARIABLE_WRITE = "variable:write"
    # runner: deployments, runs, results, user API keys
    DEPLOYMENT_READ = "deployment:read"
    RUN_READ = "run:read"
    RUN_CREATE = "run:create"
    RUN_CANCEL = "run:cancel"
    RUN_DELETE = "run:delete"
    API_KEY_MANAGE = "api_key:manage"


_USER = frozenset(
    {
        Permission.PROJECT_READ,
        Permission.SOURCE_READ,
        Permission.ACTION_READ,
        Permission.WORKFLOW_READ,
        Permission.VARIABLE_READ,
        Permission.DEPLOYMENT_READ,
        Permission.RUN_READ,
        Permission.RUN_CREATE,
        Permission.RUN_CANCEL,
    }
)
_DEVELOPER = _USER | {
    Permission.SOURCE_WRITE,
    Permission.ACTION_BUILD,
    Permission.ACTION_DELETE,
    Permission.WORKFLOW_WRITE,
    Permission.WORKFLOW_DEPLOY,
    Permission.VARIABLE_WRITE,
    Permission.RUN_DELETE,
    Permission.API_KEY_MANAGE,
}
_ADMIN = frozenset(Permission)

PERMISSIONS_BY_PROJECT_ROLE: dict[Role, frozenset[Permission]] = {
    Role.USER: _USER,
    Role.DEVELOPER: frozenset(_DEVELOPER),
    Role.ADMIN: _ADMIN,
}


def is_allowed(*, platform_role: Role, project_role: Role | None, permission: Permission) -> bool:
    """Whether a user with these roles holds ``permission`` in a project.

    ``project_role`` is None when the user is not a member of the project.
    """
    if platform_role is Role.ADMIN:
        return True
    if project_role is None:
        return False
    return permission in PERMISSIONS_BY_PROJECT_ROLE[project_role]
