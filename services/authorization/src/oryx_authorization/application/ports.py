"""Ports: what the use cases need from the outside world, in their own words."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from oryx_authorization.domain.login import LoginThrottle
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    """One page of a list, newest first. ``next_cursor`` is None on the last page."""

    items: Sequence[T]
    total: int
    next_cursor: str | None


class UserRepository(Protocol):
    def add(self, user: User) -> None: ...
    async def get(self, user_id: str) -> User | None: ...
    async def get_by_username(self, username: str) -> User | None: ...
    async def page(self, *, limit: int, cursor: str | None, search: str | None) -> Page[User]: ...
    async def get_many(self, user_ids: Sequence[str]) -> list[User]: ...
    async def count(self) -> int: ...
    async def count_admins(self) -> int: ...
    async def clear_current_project(
        self, *, project_id: str, user_id: str | None = None
    ) -> None: ...
    async def remove(self, user: User) -> None: ...


class ProjectRepository(Protocol):
    def add(self, project: Project) -> None: ...
    async def get(self, project_id: str) -> Project | None: ...
    async def get_by_name(self, name: str) -> Project | None: ...
    async def page(
        self, *, member_id: str | None, limit: int, cursor: str | None
    ) -> Page[Project]: ...
    async def list_for_member(self, user_id: str) -> list[Project]: ...
    async def remove(self, project: Project) -> None: ...


class TokenRepository(Protocol):
    def add(self, token: AccessToken) -> None: ...
    async def get(self, token_id: str) -> AccessToken | None: ...
    async def get_by_hash(self, token_hash: str) -> AccessToken | None: ...
    async def list_for_user(
        self, *, user_id: str, kind: TokenKind, limit: int, cursor: str | None
    ) -> Page[AccessToken]: ...
    async def revoke_all_for_user(self, *, user_id: str, at: datetime) -> int: ...


class LoginThrottleRepository(Protocol):
    async def get(self, key: str) -> LoginThrottle | None: ...
    def add(self, throttle: LoginThrottle) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Commit writes the aggregates and their events (to the outbox) at once."""

    users: UserRepository
    projects: ProjectRepository
    tokens: TokenRepository
    login_throttles: LoginThrottleRepository

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool:
        """Constant-time check; False on mismatch or on a malformed hash."""
        ...

    def dummy_verify(self, password: str) -> None:
        """Spend the time of a real verification, so unknown users answer as slowly."""
        ...


class TokenGenerator(Protocol):
    def new(self, kind: TokenKind) -> str:
        """A fresh random token, shown once to its owner."""
        ...

    def digest(self, token: str) -> str:
        """The stored form of a token."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self) -> str: ...


class EventNotifier(Protocol):
    """Wakes the outbox relay after a commit so events leave without waiting for a poll."""

    def notify(self) -> None: ...
