"""The SQLAlchemy unit of work: one transaction, its aggregates, and their events' outbox rows."""

from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_authorization.application.ports import Clock, EventNotifier, IdGenerator
from oryx_authorization.domain.errors import Conflict
from oryx_authorization.domain.events import Event
from oryx_authorization.infrastructure.database.repositories import (
    SqlAlchemyLoginThrottleRepository,
    SqlAlchemyProjectRepository,
    SqlAlchemyTokenRepository,
    SqlAlchemyUserRepository,
)
from oryx_authorization.infrastructure.database.tables import outbox
from oryx_authorization.infrastructure.messaging.routing import OutboundMessage


class SqlAlchemyUnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        exchange: str,
        serialize: Callable[[Event], OutboundMessage],
        ids: IdGenerator,
        clock: Clock,
        notifier: EventNotifier | None = None,
    ) -> None:
        self._sessions = sessions
        self._exchange = exchange
        self._serialize = serialize
        self._ids = ids
        self._clock = clock
        self._notifier = notifier
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._sessions()
        self.users = SqlAlchemyUserRepository(self._session)
        self.projects = SqlAlchemyProjectRepository(self._session)
        self.tokens = SqlAlchemyTokenRepository(self._session)
        self.login_throttles = SqlAlchemyLoginThrottleRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()  # a no-op after commit
        finally:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open; use `async with`")
        return self._session

    async def commit(self) -> None:
        session = self.session
        repositories = (self.users, self.projects, self.tokens, self.login_throttles)
        try:
            for repository in repositories:
                await repository.flush()
            events = [e for r in repositories for e in r.collect_events()]
            if events:
                await self._write_outbox(session, events, at=self._clock.now())
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Conflict(_integrity_message(exc)) from exc
        if events and self._notifier is not None:
            self._notifier.notify()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def _write_outbox(
        self, session: AsyncSession, events: list[Event], *, at: datetime
    ) -> None:
        rows = []
        for event in events:
            message = self._serialize(event)
            rows.append(
                {
                    "id": self._ids.new(),
                    "exchange": self._exchange,
                    "routing_key": message.routing_key,
                    "message_type": message.message_type,
                    "payload": message.payload,
                    "created_at": at,
                }
            )
        await session.execute(insert(outbox), rows)


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig)
    if "uq_users_username" in text:
        return "username is already taken"
    if "uq_projects_name" in text:
        return "a project with this name already exists"
    if "foreign key" in text.lower():
        return "a referenced object no longer exists"
    return "the change conflicts with the current state; reload and try again"
