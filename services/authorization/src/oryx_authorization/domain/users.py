"""Users: accounts with a platform role, a profile, a password and a current project."""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from oryx_authorization.domain.errors import InvalidValue
from oryx_authorization.domain.events import Event, UserDeleted
from oryx_authorization.domain.permissions import Role

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_FULL_NAME_LENGTH = 200
MAX_EMAIL_LENGTH = 254


def validate_username(username: str) -> str:
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidValue(
            "username must be 2 to 63 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or a digit",
            field="username",
        )
    return username


def validate_password(password: str, *, field_name: str = "password") -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters long", field=field_name
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidValue(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters long", field=field_name
        )
    return password


def validate_full_name(full_name: str) -> str:
    full_name = full_name.strip()
    if len(full_name) > MAX_FULL_NAME_LENGTH:
        raise InvalidValue(
            f"full_name must be at most {MAX_FULL_NAME_LENGTH} characters", field="full_name"
        )
    if any(unicodedata.category(c) == "Cc" for c in full_name):
        raise InvalidValue("full_name must not contain control characters", field="full_name")
    return full_name


@dataclass(kw_only=True)
class User:
    id: str
    username: str
    role: Role
    password_hash: str
    email: str | None
    full_name: str
    created_at: datetime
    updated_at: datetime
    current_project_id: str | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def register(
        cls,
        *,
        id: str,
        username: str,
        role: Role,
        password_hash: str,
        email: str | None,
        full_name: str,
        at: datetime,
    ) -> "User":
        return cls(
            id=id,
            username=validate_username(username),
            role=role,
            password_hash=password_hash,
            email=email,
            full_name=validate_full_name(full_name),
            created_at=at,
            updated_at=at,
        )

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def update_profile(
        self, *, email: str | None = None, full_name: str | None = None, at: datetime
    ) -> None:
        if email is not None:
            self.email = email or None
        if full_name is not None:
            self.full_name = validate_full_name(full_name)
        self.updated_at = at

    def change_role(self, *, role: Role, at: datetime) -> None:
        self.role = role
        self.updated_at = at

    def change_password(self, *, password_hash: str, at: datetime) -> None:
        self.password_hash = password_hash
        self.updated_at = at

    def switch_project(self, *, project_id: str | None, at: datetime) -> None:
        self.current_project_id = project_id
        self.updated_at = at

    def delete(self, *, at: datetime) -> None:
        self.events.append(UserDeleted(user_id=self.id, username=self.username, occurred_at=at))
