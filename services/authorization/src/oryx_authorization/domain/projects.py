"""Projects: the unit of tenancy. Every resource of the platform belongs to one project."""

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from oryx_authorization.domain.errors import Conflict, InvalidValue, NotFound
from oryx_authorization.domain.events import Event, ProjectDeleted, ProjectMemberRemoved
from oryx_authorization.domain.permissions import Role

MAX_PROJECT_NAME_LENGTH = 100
MAX_DESCRIPTION_LENGTH = 2000


def validate_project_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidValue("name must not be empty", field="name")
    if len(name) > MAX_PROJECT_NAME_LENGTH:
        raise InvalidValue(
            f"name must be at most {MAX_PROJECT_NAME_LENGTH} characters", field="name"
        )
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue("name must not contain control characters", field="name")
    return name


def validate_description(description: str) -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidValue(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    return description


@dataclass(frozen=True, kw_only=True)
class Membership:
    user_id: str
    role: Role
    added_at: datetime


@dataclass(kw_only=True)
class Project:
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    members: dict[str, Membership] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(cls, *, id: str, name: str, description: str, at: datetime) -> "Project":
        return cls(
            id=id,
            name=validate_project_name(name),
            description=validate_description(description),
            created_at=at,
            updated_at=at,
        )

    def rename(self, *, name: str | None, description: str | None, at: datetime) -> None:
        if name is not None:
            self.name = validate_project_name(name)
        if description is not None:
            self.description = validate_description(description)
        self.updated_at = at

    def role_of(self, user_id: str) -> Role | None:
        membership = self.members.get(user_id)
        return membership.role if membership else None

    def add_member(self, *, user_id: str, role: Role, at: datetime) -> Membership:
        if user_id in self.members:
            raise Conflict(
                f"user {user_id} is already a member of project {self.name!r}; "
                "change their role with PUT instead",
                field="user_id",
            )
        membership = Membership(user_id=user_id, role=role, added_at=at)
        self.members[user_id] = membership
        self.updated_at = at
        return membership

    def change_member_role(self, *, user_id: str, role: Role, at: datetime) -> Membership:
        current = self._membership(user_id)
        membership = Membership(user_id=user_id, role=role, added_at=current.added_at)
        self.members[user_id] = membership
        self.updated_at = at
        return membership

    def remove_member(self, *, user_id: str, at: datetime) -> None:
        self._membership(user_id)
        del self.members[user_id]
        self.updated_at = at
        self.events.append(
            ProjectMemberRemoved(project_id=self.id, user_id=user_id, occurred_at=at)
        )

    def forget_user(self, *, user_id: str, at: datetime) -> None:
        """Drop a deleted user's membership; their deletion event already tells the others."""
        if self.members.pop(user_id, None) is not None:
            self.updated_at = at

    def delete(self, *, at: datetime) -> None:
        self.events.append(ProjectDeleted(project_id=self.id, name=self.name, occurred_at=at))

    def _membership(self, user_id: str) -> Membership:
        membership = self.members.get(user_id)
        if membership is None:
            raise NotFound(
                f"user {user_id} is not a member of project {self.name!r}", field="user_id"
            )
        return membership
