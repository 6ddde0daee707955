"""The consumer side of at-least-once delivery: an inbox that makes handlers apply once.

This is the shape every Oryx service copies for the events it consumes (services share no
library; the copy is short on purpose)::

    consumer = InboxConsumer("runner.project-deleted", sessions, on_project_deleted,
                             decode=routing.decode)
    await broker.consume(queue="runner.project-deleted", exchange="oryx.authorization",
                         routing_keys=["authorization.project.deleted.v1"], handler=consumer)

For each delivery, in one transaction: insert ``(consumer, message_id)`` into ``inbox``; when
the row was already there the message is a duplicate (a redelivery, or a publish the relay
repeated) and is skipped; otherwise the handler applies its effects in the same transaction,
which then commits. Only then does the broker adapter acknowledge. A crash before the commit
leaves no trace and the message comes again; a crash after it leaves the inbox row, so the
message comes again and is skipped. Effects are therefore applied exactly once.

A payload that does not decode raises ``PoisonMessage``: no retry can fix it, it goes to the
dead-letter queue at once. Any other exception rolls back and asks for a redelivery.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_runner.infrastructure.database.tables import inbox
from oryx_runner.infrastructure.messaging import routing
from oryx_runner.infrastructure.messaging.broker import PoisonMessage, ReceivedMessage

log = logging.getLogger(__name__)

MessageHandler = Callable[[AsyncSession, Message, ReceivedMessage], Awaitable[None]]
"""Applies one decoded message inside the consumer's transaction; must not commit."""

Decoder = Callable[[str, bytes], Message]
"""``(message_type, payload) -> message``; raises ValueError when unknown or malformed."""


class InboxConsumer:
    def __init__(
        self,
        name: str,
        session_factory: async_sessionmaker[AsyncSession],
        handler: MessageHandler,
        *,
        decode: Decoder = routing.decode,
    ) -> None:
        self.name = name
        self._sessions = session_factory
        self._handler = handler
        self._decode = decode

    async def __call__(self, received: ReceivedMessage) -> None:
        if not received.message_id:
            raise PoisonMessage("the message has no message id, so no inbox key")
        try:
            message = self._decode(received.message_type, received.body)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        async with self._sessions() as session, session.begin():
            first_time = (
                await session.execute(
                    insert(inbox)
                    .values(
                        consumer=self.name,
                        message_id=received.message_id,
                        processed_at=datetime.now(UTC),
                    )
                    .on_conflict_do_nothing(index_elements=[inbox.c.consumer, inbox.c.message_id])
                    .returning(inbox.c.message_id)
                )
            ).first()
            if first_time is None:
                log.info("%s: message %s already processed", self.name, received.message_id)
                return
            await self._handler(session, message, received)
