"""First start: an empty database gets an admin and a default project."""

from collections.abc import Callable
from dataclasses import dataclass

from oryx_authorization.application.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    UnitOfWorkFactory,
)
from oryx_authorization.domain.errors import Conflict
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.users import User, validate_password

ADMIN_USERNAME = "admin"
DEFAULT_PROJECT_NAME = "default"


@dataclass(frozen=True, kw_only=True)
class BootstrapResult:
    created: bool
    username: str = ADMIN_USERNAME
    generated_password: str | None = None
    """Set only when the password was generated: it is shown once, then never again."""


async def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    hasher: PasswordHasher,
    clock: Clock,
    ids: IdGenerator,
    admin_password: str | None,
    generate_password: Callable[[], str],
) -> BootstrapResult:
    async with uow() as tx:
        if await tx.users.count() > 0:
            return BootstrapResult(created=False)
        generated = None
        if admin_password:
            validate_password(admin_password, field_name="ORYX_ADMIN_PASSWORD")
            password = admin_password
        else:
            password = generated = generate_password()
        now = clock.now()
        admin = User.register(
            id=ids.new(),
            username=ADMIN_USERNAME,
            role=Role.ADMIN,
            password_hash=hasher.hash(password),
            email=None,
            full_name="Administrator",
            at=now,
        )
        project = Project.create(
            id=ids.new(), name=DEFAULT_PROJECT_NAME, description="Created at first start", at=now
        )
        project.add_member(user_id=admin.id, role=Role.ADMIN, at=now)
        admin.switch_project(project_id=project.id, at=now)
        tx.users.add(admin)
        tx.projects.add(project)
        try:
            await tx.commit()
        except Conflict:
            # Another replica bootstrapped the same empty database first.
            return BootstrapResult(created=False)
    return BootstrapResult(created=True, generated_password=generated)
