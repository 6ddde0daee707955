"""SQLAlchemy repositories. They load and track aggregates; the unit of work writes them.

Each repository remembers the row it loaded for every aggregate; at commit the unit of work
calls ``flush()``, which inserts new aggregates, updates the changed ones and deletes the
removed ones. Repositories never commit.
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_authorization.application.ports import Page
from oryx_authorization.domain.events import Event
from oryx_authorization.domain.login import LoginThrottle
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User
from oryx_authorization.infrastructure.database import mappers
from oryx_authorization.infrastructure.database.pagination import paginate
from oryx_authorization.infrastructure.database.tables import (
    access_tokens,
    login_throttles,
    project_members,
    projects,
    users,
)

A = TypeVar("A")


class _Tracker(Generic[A]):
    """Aggregates seen in this transaction, with the row each was loaded from."""

    def __init__(self, key: Callable[[A], str], to_row: Callable[[A], Any]) -> None:
        self._key = key
        self._to_row = to_row
        self.seen: dict[str, A] = {}
        self.loaded: dict[str, Any] = {}
        self.new: set[str] = set()
        self.removed: set[str] = set()

    def loaded_one(self, aggregate: A) -> A:
        key = self._key(aggregate)
        if key in self.seen:  # one object per id within a transaction
            return self.seen[key]
        self.seen[key] = aggregate
        self.loaded[key] = self._to_row(aggregate)
        return aggregate

    def added(self, aggregate: A) -> None:
        key = self._key(aggregate)
        self.seen[key] = aggregate
        self.new.add(key)
        self.removed.discard(key)

    def remove(self, aggregate: A) -> None:
        self.removed.add(self._key(aggregate))

    def changed(self) -> Iterator[tuple[A, Any]]:
        for key, aggregate in self.seen.items():
            if key in self.new or key in self.removed:
                continue
            row = self._to_row(aggregate)
            if row != self.loaded[key]:
                yield aggregate, row

    def reset(self) -> None:
        self.loaded = {k: self._to_row(a) for k, a in self.seen.items() if k not in self.removed}
        self.new.clear()
        self.removed.clear()


def _search_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqlAlchemyUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[User] = _Tracker(lambda u: u.id, mappers.user_to_row)

    def add(self, user: User) -> None:
        self._t.added(user)

    async def get(self, user_id: str) -> User | None:
        if user_id in self._t.seen:
            return self._t.seen[user_id]
        row = (await self._session.execute(select(users).where(users.c.id == user_id))).first()
        return self._t.loaded_one(mappers.row_to_user(row._mapping)) if row else None

    async def get_by_username(self, username: str) -> User | None:
        query = select(users).where(users.c.username == username)
        row = (await self._session.execute(query)).first()
        return self._t.loaded_one(mappers.row_to_user(row._mapping)) if row else None

    async def get_many(self, user_ids: Sequence[str]) -> list[User]:
        if not user_ids:
            return []
        rows = await self._session.execute(select(users).where(users.c.id.in_(list(user_ids))))
        return [self._t.loaded_one(mappers.row_to_user(r._mapping)) for r in rows]

    async def page(self, *, limit: int, cursor: str | None, search: str | None) -> Page[User]:
        query = select(users)
        if search:
            pattern = _search_pattern(search)
            query = query.where(
                or_(
                    users.c.username.ilike(pattern),
                    users.c.full_name.ilike(pattern),
                    users.c.email.ilike(pattern),
                )
            )
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=users.c.created_at,
            row_id=users.c.id,
            limit=limit,
            cursor=cursor,
        )
        items = [self._t.loaded_one(mappers.row_to_user(r._mapping)) for r in rows]
        return Page(items=items, total=total, next_cursor=next_cursor)

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(users)) or 0)

    async def count_admins(self) -> int:
        query = select(func.count()).select_from(users).where(users.c.role == Role.ADMIN.value)
        return int(await self._session.scalar(query) or 0)

    async def clear_current_project(self, *, project_id: str, user_id: str | None = None) -> None:
        query = (
            update(users)
            .where(users.c.current_project_id == project_id)
            .values(current_project_id=None)
        )
        if user_id is not None:
            query = query.where(users.c.id == user_id)
        await self._session.execute(query)
        for user in self._t.seen.values():
            if user.current_project_id == project_id and user_id in (None, user.id):
                user.current_project_id = None
                self._t.loaded[user.id] = mappers.user_to_row(user)

    async def remove(self, user: User) -> None:
        self._t.remove(user)

    def collect_events(self) -> list[Event]:
        return _drain(self._t.seen.values())

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            await self._session.execute(
                insert(users).values(mappers.user_to_row(self._t.seen[key]))
            )
        for user, row in self._t.changed():
            await self._session.execute(update(users).where(users.c.id == user.id).values(row))
        if self._t.removed:
            await self._session.execute(delete(users).where(users.c.id.in_(self._t.removed)))
        self._t.reset()


class SqlAlchemyProjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[Project] = _Tracker(
            lambda p: p.id, lambda p: (mappers.project_to_row(p), mappers.members_to_rows(p))
        )

    def add(self, project: Project) -> None:
        self._t.added(project)

    async def _load(self, rows: Sequence[Any]) -> list[Project]:
        ids = [r._mapping["id"] for r in rows]
        members: dict[str, list[Any]] = {i: [] for i in ids}
        if ids:
            query = select(project_members).where(project_members.c.project_id.in_(ids))
            for m in await self._session.execute(query):
                members[m._mapping["project_id"]].append(m._mapping)
        loaded = []
        for r in rows:
            key = r._mapping["id"]
            if key in self._t.seen:
                loaded.append(self._t.seen[key])
            else:
                project = mappers.row_to_project(r._mapping, members[key])
                loaded.append(self._t.loaded_one(project))
        return loaded

    async def get(self, project_id: str) -> Project | None:
        if project_id in self._t.seen:
            return self._t.seen[project_id]
        query = select(projects).where(projects.c.id == project_id)
        rows = (await self._session.execute(query)).all()
        found = await self._load(rows)
        return found[0] if found else None

    async def get_by_name(self, name: str) -> Project | None:
        rows = (await self._session.execute(select(projects).where(projects.c.name == name))).all()
        found = await self._load(rows)
        return found[0] if found else None

    async def page(self, *, member_id: str | None, limit: int, cursor: str | None) -> Page[Project]:
        query = select(projects)
        if member_id is not None:
            query = query.where(
                exists().where(
                    project_members.c.project_id == projects.c.id,
                    project_members.c.user_id == member_id,
                )
            )
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=projects.c.created_at,
            row_id=projects.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=await self._load(rows), total=total, next_cursor=next_cursor)

    async def list_for_member(self, user_id: str) -> list[Project]:
        query = select(projects).where(
            exists().where(
                project_members.c.project_id == projects.c.id, project_members.c.user_id == user_id
            )
        )
        return await self._load((await self._session.execute(query)).all())

    async def remove(self, project: Project) -> None:
        self._t.remove(project)

    def collect_events(self) -> list[Event]:
        return _drain(self._t.seen.values())

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            project = self._t.seen[key]
            await self._session.execute(insert(projects).values(mappers.project_to_row(project)))
            await self._write_members(project)
        for project, (row, member_rows) in self._t.changed():
            if row != self._t.loaded[project.id][0]:
                await self._session.execute(
                    update(projects).where(projects.c.id == project.id).values(row)
                )
            if member_rows != self._t.loaded[project.id][1]:
                await self._session.execute(
                    delete(project_members).where(project_members.c.project_id == project.id)
                )
                await self._write_members(project)
        if self._t.removed:
            await self._session.execute(delete(projects).where(projects.c.id.in_(self._t.removed)))
        self._t.reset()

    async def _write_members(self, project: Project) -> None:
        rows = mappers.members_to_rows(project)
        if rows:
            await self._session.execute(insert(project_members), rows)


class SqlAlchemyTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[AccessToken] = _Tracker(lambda t: t.id, mappers.token_to_row)

    def add(self, token: AccessToken) -> None:
        self._t.added(token)

    async def _one(self, query: Any) -> AccessToken | None:
        row = (await self._session.execute(query)).first()
        return self._t.loaded_one(mappers.row_to_token(row._mapping)) if row else None

    async def get(self, token_id: str) -> AccessToken | None:
        return await self._one(select(access_tokens).where(access_tokens.c.id == token_id))

    async def get_by_hash(self, token_hash: str) -> AccessToken | None:
        return await self._one(
            select(access_tokens).where(access_tokens.c.token_hash == token_hash)
        )

    async def list_for_user(
        self, *, user_id: str, kind: TokenKind, limit: int, cursor: str | None
    ) -> Page[AccessToken]:
        query = select(access_tokens).where(
            access_tokens.c.user_id == user_id, access_tokens.c.kind == kind.value
        )
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=access_tokens.c.created_at,
            row_id=access_tokens.c.id,
            limit=limit,
            cursor=cursor,
        )
        items = [self._t.loaded_one(mappers.row_to_token(r._mapping)) for r in rows]
        return Page(items=items, total=total, next_cursor=next_cursor)

    async def revoke_all_for_user(self, *, user_id: str, at: datetime) -> int:
        result = await self._session.execute(
            update(access_tokens)
            .where(access_tokens.c.user_id == user_id, access_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        for token in self._t.seen.values():
            if token.user_id == user_id:
                token.revoke(at=at)
                self._t.loaded[token.id] = mappers.token_to_row(token)
        return int(getattr(result, "rowcount", 0) or 0)

    def collect_events(self) -> list[Event]:
        return _drain(self._t.seen.values())

    async def flush(self) -> None:
        for key in self._t.new:
            await self._session.execute(
                insert(access_tokens).values(mappers.token_to_row(self._t.seen[key]))
            )
        for token, row in self._t.changed():
            await self._session.execute(
                update(access_tokens).where(access_tokens.c.id == token.id).values(row)
            )
        self._t.reset()


class SqlAlchemyLoginThrottleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[LoginThrottle] = _Tracker(lambda t: t.key, mappers.throttle_to_row)

    async def get(self, key: str) -> LoginThrottle | None:
        # FOR UPDATE: concurrent failed logins for one name count one after the other.
        query = select(login_throttles).where(login_throttles.c.key == key).with_for_update()
        row = (await self._session.execute(query)).first()
        return self._t.loaded_one(mappers.row_to_throttle(row._mapping)) if row else None

    def add(self, throttle: LoginThrottle) -> None:
        self._t.added(throttle)

    def collect_events(self) -> list[Event]:
        return []

    async def flush(self) -> None:
        for key in self._t.new:
            throttle = self._t.seen[key]
            if throttle.failures == 0 and throttle.locked_until is None:
                continue  # nothing worth a row
            row = mappers.throttle_to_row(throttle)
            stmt = pg_insert(login_throttles).values(row)
            await self._session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[login_throttles.c.key],
                    set_={
                        "failures": login_throttles.c.failures + 1,
                        "locked_until": stmt.excluded.locked_until,
                        "last_failure_at": stmt.excluded.last_failure_at,
                    },
                )
            )
        for throttle, row in self._t.changed():
            await self._session.execute(
                update(login_throttles).where(login_throttles.c.key == throttle.key).values(row)
            )
        self._t.reset()


def _drain(aggregates: Any) -> list[Event]:
    events: list[Event] = []
    for aggregate in aggregates:
        events.extend(aggregate.events)
        aggregate.events.clear()
    return events
