"""Mappers between domain objects and table rows (both directions, nothing else)."""

from collections.abc import Iterable, Mapping
from typing import Any

from oryx_authorization.domain.login import LoginThrottle
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import Membership, Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User

Row = Mapping[Any, Any]


def user_to_row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "password_hash": user.password_hash,
        "email": user.email,
        "full_name": user.full_name,
        "current_project_id": user.current_project_id,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def row_to_user(row: Row) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        email=row["email"],
        full_name=row["full_name"],
        current_project_id=row["current_project_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def project_to_row(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "created_at": project.created_at,
        "updated_at": project.updated_at,
    }


def members_to_rows(project: Project) -> list[dict[str, Any]]:
    return [
        {
            "project_id": project.id,
            "user_id": m.user_id,
            "role": m.role.value,
            "added_at": m.added_at,
        }
        for m in sorted(project.members.values(), key=lambda m: m.user_id)
    ]


def row_to_project(row: Row, member_rows: Iterable[Row]) -> Project:
    return Project(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        members={
            m["user_id"]: Membership(
                user_id=m["user_id"], role=Role(m["role"]), added_at=m["added_at"]
            )
            for m in member_rows
        },
    )


def token_to_row(token: AccessToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "kind": token.kind.value,
        "name": token.name,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def row_to_token(row: Row) -> AccessToken:
    return AccessToken(
        id=row["id"],
        user_id=row["user_id"],
        kind=TokenKind(row["kind"]),
        name=row["name"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


def throttle_to_row(throttle: LoginThrottle) -> dict[str, Any]:
    return {
        "key": throttle.key,
        "failures": throttle.failures,
        "locked_until": throttle.locked_until,
        "last_failure_at": throttle.last_failure_at,
    }


def row_to_throttle(row: Row) -> LoginThrottle:
    return LoginThrottle(
        key=row["key"],
        failures=row["failures"],
        locked_until=row["locked_until"],
        last_failure_at=row["last_failure_at"],
    )
