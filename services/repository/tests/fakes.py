"""In-memory fakes of the repository service's ports, for use-case tests."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from oryx_repository.application.ports import GitRef, Page, RepositoryContents
from oryx_repository.domain.actions import Action, ActionStatus
from oryx_repository.domain.events import Event
from oryx_repository.domain.sources import Credentials, Source


def _page(items: list, limit: int, cursor: str | None) -> Page:
    items = sorted(items, key=lambda x: (x.created_at, x.id), reverse=True)
    start = int(cursor) if cursor else 0
    chunk = items[start : start + limit]
    return Page(
        items=chunk,
        total=len(items),
        next_cursor=str(start + limit) if start + limit < len(items) else None,
    )


@dataclass
class InMemoryDatabase:
    sources: dict[str, Source] = field(default_factory=dict)
    actions: dict[str, Action] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)


class InMemorySources:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def add(self, source: Source) -> None:
        self.db.sources[source.id] = source

    async def get(self, *, project_id: str, source_id: str) -> Source | None:
        source = self.db.sources.get(source_id)
        return source if source and source.project_id == project_id else None

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Source]:
        return _page(
            [s for s in self.db.sources.values() if s.project_id == project_id], limit, cursor
        )

    async def remove(self, source: Source) -> None:
        self.db.sources.pop(source.id, None)

    async def remove_project(self, project_id: str) -> int:
        gone = [k for k, s in self.db.sources.items() if s.project_id == project_id]
        for key in gone:
            del self.db.sources[key]
        return len(gone)


class InMemoryActions:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db
        self.removed: list[Action] = []

    def add(self, action: Action) -> None:
        self.db.actions[action.id] = action

    async def get(self, *, project_id: str, action_id: str) -> Action | None:
        action = self.db.actions.get(action_id)
        return action if action and action.project_id == project_id else None

    async def get_any_project(self, action_id: str) -> Action | None:
        return self.db.actions.get(action_id)

    async def for_source(self, source_id: str) -> list[Action]:
        return [a for a in self.db.actions.values() if a.source_id == source_id]

    async def page(
        self,
        *,
        project_id: str,
        source_id: str | None,
        status: ActionStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]:
        items = [
            a
            for a in self.db.actions.values()
            if a.project_id == project_id
            and (source_id is None or a.source_id == source_id)
            and (status is None or a.status is status)
        ]
        return _page(items, limit, cursor)

    async def remove(self, action: Action) -> None:
        self.removed.append(action)
        self.db.actions.pop(action.id, None)

    async def remove_project(self, project_id: str) -> int:
        gone = [k for k, a in self.db.actions.items() if a.project_id == project_id]
        for key in gone:
            del self.db.actions[key]
        return len(gone)


class InMemoryUnitOfWork:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    async def __aenter__(self) -> Self:
        self.sources = InMemorySources(self.db)
        self.actions = InMemoryActions(self.db)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        for aggregate in [
            *self.db.sources.values(),
            *self.db.actions.values(),
            *self.actions.removed,
        ]:
            self.db.published.extend(aggregate.events)
            aggregate.events.clear()


class FakeReader:
    """Answers what the test put in ``contents`` (or raises ``error``)."""

    def __init__(self) -> None:
        self.contents: RepositoryContents | None = None
        self.error: Exception | None = None
        self.calls: list[tuple[str, GitRef, Credentials | None]] = []

    async def read(
        self, *, url: str, ref: GitRef, credentials: Credentials | None
    ) -> RepositoryContents:
        self.calls.append((url, ref, credentials))
        if self.error is not None:
            raise self.error
        assert self.contents is not None
        return self.contents


class InMemoryFilestore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        gone = [k for k in self.objects if k.startswith(prefix)]
        for key in gone:
            del self.objects[key]
        return len(gone)

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        return f"memory://{key}"

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        return f"memory://{key}"


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"id-{next(self._counter):04d}"
