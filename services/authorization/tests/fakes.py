"""In-memory fakes of the ports, for use-case tests. They keep state; tests assert on it."""

import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from oryx_authorization.application.ports import Page
from oryx_authorization.domain.events import Event
from oryx_authorization.domain.login import LoginThrottle
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User


def _page(items: list, limit: int, cursor: str | None) -> Page:
    items = sorted(items, key=lambda x: (x.created_at, x.id), reverse=True)
    start = int(cursor) if cursor else 0
    chunk = items[start : start + limit]
    nxt = str(start + limit) if start + limit < len(items) else None
    return Page(items=chunk, total=len(items), next_cursor=nxt)


class InMemoryUsers:
    def __init__(self, store: dict[str, User]) -> None:
        self.store = store
        self.seen: list[User] = []

    def add(self, user: User) -> None:
        self.store[user.id] = user
        self.seen.append(user)

    async def get(self, user_id: str) -> User | None:
        user = self.store.get(user_id)
        if user:
            self.seen.append(user)
        return user

    async def get_by_username(self, username: str) -> User | None:
        return next((u for u in self.store.values() if u.username == username), None)

    async def page(self, *, limit: int, cursor: str | None, search: str | None) -> Page[User]:
        items = [u for u in self.store.values() if not search or search in u.username]
        return _page(items, limit, cursor)

    async def get_many(self, user_ids: Sequence[str]) -> list[User]:
        return [self.store[i] for i in user_ids if i in self.store]

    async def count(self) -> int:
        return len(self.store)

    async def count_admins(self) -> int:
        return sum(1 for u in self.store.values() if u.role is Role.ADMIN)

    async def clear_current_project(self, *, project_id: str, user_id: str | None = None) -> None:
        for user in self.store.values():
            if user.current_project_id == project_id and user_id in (None, user.id):
                user.current_project_id = None

    async def remove(self, user: User) -> None:
        self.seen.append(user)
        self.store.pop(user.id, None)


class InMemoryProjects:
    def __init__(self, store: dict[str, Project]) -> None:
        self.store = store
        self.seen: list[Project] = []

    def add(self, project: Project) -> None:
        self.store[project.id] = project
        self.seen.append(project)

    async def get(self, project_id: str) -> Project | None:
        project = self.store.get(project_id)
        if project:
            self.seen.append(project)
        return project

    async def get_by_name(self, name: str) -> Project | None:
        return next((p for p in self.store.values() if p.name == name), None)

    async def page(self, *, member_id: str | None, limit: int, cursor: str | None) -> Page[Project]:
        items = [p for p in self.store.values() if member_id is None or member_id in p.members]
        return _page(items, limit, cursor)

    async def list_for_member(self, user_id: str) -> list[Project]:
        found = [p for p in self.store.values() if user_id in p.members]
        self.seen.extend(found)
        return found

    async def remove(self, project: Project) -> None:
        self.seen.append(project)
        self.store.pop(project.id, None)


class InMemoryTokens:
    def __init__(self, store: dict[str, AccessToken]) -> None:
        self.store = store

    def add(self, token: AccessToken) -> None:
        self.store[token.id] = token

    async def get(self, token_id: str) -> AccessToken | None:
        return self.store.get(token_id)

    async def get_by_hash(self, token_hash: str) -> AccessToken | None:
        return next((t for t in self.store.values() if t.token_hash == token_hash), None)

    async def list_for_user(
        self, *, user_id: str, kind: TokenKind, limit: int, cursor: str | None
    ) -> Page[AccessToken]:
        items = [t for t in self.store.values() if t.user_id == user_id and t.kind is kind]
        return _page(items, limit, cursor)

    async def revoke_all_for_user(self, *, user_id: str, at: datetime) -> int:
        count = 0
        for token in self.store.values():
            if token.user_id == user_id and token.revoked_at is None:
                token.revoke(at=at)
                count += 1
        return count


class InMemoryThrottles:
    def __init__(self, store: dict[str, LoginThrottle]) -> None:
        self.store = store

    async def get(self, key: str) -> LoginThrottle | None:
        return self.store.get(key)

    def add(self, throttle: LoginThrottle) -> None:
        self.store[throttle.key] = throttle


@dataclass
class InMemoryDatabase:
    """State shared by every unit of work of one test. Uncommitted writes are not undone,
    which is enough for use-case tests that commit or raise before writing."""

    users: dict[str, User] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    throttles: dict[str, LoginThrottle] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    commits: int = 0


class InMemoryUnitOfWork:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    async def __aenter__(self) -> Self:
        self.users = InMemoryUsers(self.db.users)
        self.projects = InMemoryProjects(self.db.projects)
        self.tokens = InMemoryTokens(self.db.tokens)
        self.login_throttles = InMemoryThrottles(self.db.throttles)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.db.commits += 1
        for aggregate in [*self.users.seen, *self.projects.seen]:
            self.db.published.extend(aggregate.events)
            aggregate.events.clear()

    async def rollback(self) -> None:
        return None


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **kwargs: float) -> None:
        self.current += timedelta(**kwargs)


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"id-{next(self._counter):04d}"


class PlainHasher:
    """Reversible on purpose: fast, and enough to test the use cases' logic."""

    def __init__(self) -> None:
        self.dummy_calls = 0

    def hash(self, password: str) -> str:
        return "plain:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain:" + password

    def dummy_verify(self, password: str) -> None:
        self.dummy_calls += 1


class CountingTokens:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self, kind: TokenKind) -> str:
        return f"{kind.value}-token-{next(self._counter)}"

    def digest(self, token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class RecordingNotifier:
    def __init__(self) -> None:
        self.notified = 0

    def notify(self) -> None:
        self.notified += 1
