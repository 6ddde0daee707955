"""SQLAlchemy repositories. They load and track aggregates; the unit of work writes them.

Each repository keeps a copy of every aggregate as loaded; at commit the unit of work calls
``flush()``, which inserts new aggregates, updates those that differ from their copy and
deletes removed ones. Repositories never commit.
"""

import copy
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_repository.application.ports import Page
from oryx_repository.domain.actions import Action, ActionStatus
from oryx_repository.domain.events import Event
from oryx_repository.domain.sources import Source
from oryx_repository.infrastructure.database import mappers
from oryx_repository.infrastructure.database.pagination import paginate
from oryx_repository.infrastructure.database.tables import actions, sources

A = TypeVar("A", Source, Action)


class _Tracker(Generic[A]):
    def __init__(self) -> None:
        self.seen: dict[str, A] = {}
        self.loaded: dict[str, A] = {}
        self.new: set[str] = set()
        self.removed: set[str] = set()

    def loaded_one(self, aggregate: A) -> A:
        if aggregate.id in self.seen:  # one object per id within a transaction
            return self.seen[aggregate.id]
        self.seen[aggregate.id] = aggregate
        self.loaded[aggregate.id] = copy.deepcopy(aggregate)
        return aggregate

    def added(self, aggregate: A) -> None:
        self.seen[aggregate.id] = aggregate
        self.new.add(aggregate.id)
        self.removed.discard(aggregate.id)

    def changed(self) -> Iterator[A]:
        for key, aggregate in self.seen.items():
            if key not in self.new and key not in self.removed and aggregate != self.loaded[key]:
                yield aggregate

    def events(self) -> list[Event]:
        found: list[Event] = []
        for aggregate in self.seen.values():
            found.extend(aggregate.events)
            aggregate.events.clear()
        return found

    def reset(self) -> None:
        self.loaded = {k: copy.deepcopy(a) for k, a in self.seen.items() if k not in self.removed}
        self.new.clear()
        self.removed.clear()


class SqlAlchemySourceRepository:
    def __init__(self, session: AsyncSession, box: mappers.SecretBox) -> None:
        self._session = session
        self._box = box
        self._t: _Tracker[Source] = _Tracker()

    def _load(self, row: Any) -> Source:
        return self._t.loaded_one(mappers.row_to_source(row._mapping, self._box))

    def add(self, source: Source) -> None:
        self._t.added(source)

    async def get(self, *, project_id: str, source_id: str) -> Source | None:
        query = select(sources).where(sources.c.id == source_id, sources.c.project_id == project_id)
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Source]:
        rows, total, next_cursor = await paginate(
            self._session,
            select(sources).where(sources.c.project_id == project_id),
            created_at=sources.c.created_at,
            row_id=sources.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def remove(self, source: Source) -> None:
        self._t.removed.add(source.id)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(sources).where(sources.c.project_id == project_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def collect_events(self) -> list[Event]:
        return self._t.events()

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            row = mappers.source_to_row(self._t.seen[key], self._box)
            await self._session.execute(insert(sources).values(row))
        for source in self._t.changed():
            row = mappers.source_to_row(source, self._box)
            await self._session.execute(
                update(sources).where(sources.c.id == source.id).values(row)
            )
        if self._t.removed:
            await self._session.execute(delete(sources).where(sources.c.id.in_(self._t.removed)))
        self._t.reset()


class SqlAlchemyActionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[Action] = _Tracker()

    def _load(self, row: Any) -> Action:
        if row._mapping["id"] in self._t.seen:
            return self._t.seen[row._mapping["id"]]
        return self._t.loaded_one(mappers.row_to_action(row._mapping))

    async def _one(self, query: Any) -> Action | None:
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    def add(self, action: Action) -> None:
        self._t.added(action)

    async def get(self, *, project_id: str, action_id: str) -> Action | None:
        return await self._one(
            select(actions).where(actions.c.id == action_id, actions.c.project_id == project_id)
        )

    async def get_any_project(self, action_id: str) -> Action | None:
        # FOR UPDATE: reports of the builder about one action apply one after the other
        return await self._one(select(actions).where(actions.c.id == action_id).with_for_update())

    async def for_source(self, source_id: str) -> list[Action]:
        query = select(actions).where(actions.c.source_id == source_id).order_by(actions.c.path)
        return [self._load(r) for r in await self._session.execute(query)]

    async def page(
        self,
        *,
        project_id: str,
        source_id: str | None,
        status: ActionStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]:
        query = select(actions).where(actions.c.project_id == project_id)
        if source_id is not None:
            query = query.where(actions.c.source_id == source_id)
        if status is not None:
            query = query.where(actions.c.status == status.value)
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=actions.c.created_at,
            row_id=actions.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def remove(self, action: Action) -> None:
        self._t.removed.add(action.id)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(actions).where(actions.c.project_id == project_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def collect_events(self) -> list[Event]:
        return self._t.events()

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            await self._session.execute(
                insert(actions).values(mappers.action_to_row(self._t.seen[key]))
            )
        for action in self._t.changed():
            await self._session.execute(
                update(actions)
                .where(actions.c.id == action.id)
                .values(mappers.action_to_row(action))
            )
        if self._t.removed:
            await self._session.execute(delete(actions).where(actions.c.id.in_(self._t.removed)))
        self._t.reset()
