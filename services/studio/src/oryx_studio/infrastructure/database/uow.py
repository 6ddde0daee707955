"""The SQLAlchemy unit of work: one transaction, its aggregates, and their events' outbox rows."""

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_studio.application.ports import Clock, IdGenerator
from oryx_studio.domain.errors import Conflict
from oryx_studio.domain.events import Event
from oryx_studio.infrastructure.database.mappers import SecretBox
from oryx_studio.infrastructure.database.repositories import (
    SqlAlchemyActionRepository,
    SqlAlchemyVariableRepository,
    SqlAlchemyWorkflowRepository,
)
from oryx_studio.infrastructure.database.tables import outbox
from oryx_studio.infrastructure.messaging.routing import OutboundMessage


class Notifier(Protocol):
    def notify(self) -> None: ...


class SqlAlchemyUnitOfWork:
    """Opens its own session, or joins one (``session=``) owned by a message consumer; a
    joined unit of work writes at ``commit()`` but leaves the commit to the session's owner."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        box: SecretBox,
        exchange: str,
        serialize: Callable[[Event], OutboundMessage],
        ids: IdGenerator,
        clock: Clock,
        notifier: Notifier | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._exchange = exchange
        self._serialize = serialize
        self._ids = ids
        self._clock = clock
        self._notifier = notifier
        self._joined = session
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        self._session = self._joined or self._sessions()
        self.actions = SqlAlchemyActionRepository(self._session)
        self.workflows = SqlAlchemyWorkflowRepository(self._session)
        self.variables = SqlAlchemyVariableRepository(self._session, self._box)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._joined is not None:
            self._session = None
            return
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
        try:
            await self.actions.flush()
            await self.workflows.flush()
            await self.variables.flush()
            events = (
                self.actions.collect_events()
                + self.workflows.collect_events()
                + self.variables.collect_events()
            )
            if events:
                await self._write_outbox(session, events)
            if self._joined is None:
                await session.commit()
        except IntegrityError as exc:
            if self._joined is None:
                await session.rollback()
            raise Conflict("the change conflicts with the current state; reload and retry") from exc
        if events and self._notifier is not None and self._joined is None:
            self._notifier.notify()

    async def _write_outbox(self, session: AsyncSession, events: list[Event]) -> None:
        at = self._clock.now()
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
