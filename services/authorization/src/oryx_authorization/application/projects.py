"""Projects and their members."""

import builtins
from dataclasses import dataclass

from oryx_authorization.application.access import (
    Principal,
    require_admin,
    require_permission,
    visible_project,
)
from oryx_authorization.application.ports import Clock, IdGenerator, Page, UnitOfWorkFactory
from oryx_authorization.domain.errors import Conflict, NotFound
from oryx_authorization.domain.permissions import Permission, Role
from oryx_authorization.domain.projects import Membership, Project, validate_project_name


@dataclass(frozen=True, kw_only=True)
class CreateProject:
    name: str
    description: str = ""


@dataclass(frozen=True, kw_only=True)
class UpdateProject:
    name: str | None = None
    description: str | None = None


class Projects:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, cmd: CreateProject) -> Project:
        require_admin(principal, doing="create projects")
        name = validate_project_name(cmd.name)
        async with self._uow() as uow:
            if await uow.projects.get_by_name(name) is not None:
                raise Conflict(f"a project named {name!r} already exists", field="name")
            project = Project.create(
                id=self._ids.new(), name=name, description=cmd.description, at=self._clock.now()
            )
            uow.projects.add(project)
            await uow.commit()
        return project

    async def list(self, principal: Principal, *, limit: int, cursor: str | None) -> Page[Project]:
        """Admins see every project; others the projects they belong to."""
        async with self._uow() as uow:
            member_id = None if principal.is_admin else principal.user_id
            return await uow.projects.page(member_id=member_id, limit=limit, cursor=cursor)

    async def get(self, principal: Principal, project_id: str) -> Project:
        async with self._uow() as uow:
            return await visible_project(uow, principal, project_id)

    async def update(self, principal: Principal, project_id: str, cmd: UpdateProject) -> Project:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            require_permission(principal, project, Permission.PROJECT_UPDATE)
            if cmd.name is not None:
                name = validate_project_name(cmd.name)
                other = await uow.projects.get_by_name(name)
                if other is not None and other.id != project.id:
                    raise Conflict(f"a project named {name!r} already exists", field="name")
            project.rename(name=cmd.name, description=cmd.description, at=self._clock.now())
            await uow.commit()
        return project

    async def delete(self, principal: Principal, project_id: str) -> None:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            require_admin(principal, doing="delete projects")
            project.delete(at=self._clock.now())
            await uow.users.clear_current_project(project_id=project.id)
            await uow.projects.remove(project)
            await uow.commit()

    async def members(self, principal: Principal, project_id: str) -> builtins.list[Membership]:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            return sorted(project.members.values(), key=lambda m: m.added_at)

    async def add_member(
        self, principal: Principal, project_id: str, *, user_id: str, role: Role
    ) -> Membership:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            require_permission(principal, project, Permission.PROJECT_MEMBERS_MANAGE)
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found", field="user_id")
            now = self._clock.now()
            membership = project.add_member(user_id=user.id, role=role, at=now)
            if user.current_project_id is None:
                user.switch_project(project_id=project.id, at=now)
            await uow.commit()
        return membership

    async def change_member_role(
        self, principal: Principal, project_id: str, *, user_id: str, role: Role
    ) -> Membership:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            require_permission(principal, project, Permission.PROJECT_MEMBERS_MANAGE)
            membership = project.change_member_role(
                user_id=user_id, role=role, at=self._clock.now()
            )
            await uow.commit()
        return membership

    async def remove_member(self, principal: Principal, project_id: str, *, user_id: str) -> None:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            require_permission(principal, project, Permission.PROJECT_MEMBERS_MANAGE)
            project.remove_member(user_id=user_id, at=self._clock.now())
            await uow.users.clear_current_project(project_id=project.id, user_id=user_id)
            await uow.commit()

    async def make_current(self, principal: Principal, project_id: str) -> Project:
        async with self._uow() as uow:
            project = await visible_project(uow, principal, project_id)
            user = await uow.users.get(principal.user_id)
            if user is None:  # deleted in the meantime
                raise NotFound(f"user {principal.user_id} not found")
            user.switch_project(project_id=project.id, at=self._clock.now())
            await uow.commit()
        return project
