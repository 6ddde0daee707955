"""What this service does with the messages it consumes, and the table of its consumers.

Each handler runs inside the inbox consumer's transaction (see ``consumer.py``): it joins a
unit of work to that session, so the effects, the inbox row and any outbox rows commit
together.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_repository.application.builds import BuildReports
from oryx_repository.application.filestore import Filestore
from oryx_repository.domain.actions import BuildOutcome
from oryx_repository.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_repository.infrastructure.messaging import routing
from oryx_repository.infrastructure.messaging.broker import PoisonMessage, ReceivedMessage

UowForSession = Callable[[AsyncSession], SqlAlchemyUnitOfWork]

OUTCOMES = {1: BuildOutcome.SUCCEEDED, 2: BuildOutcome.FAILED, 3: BuildOutcome.CANCELLED}


@dataclass(frozen=True, kw_only=True)
class Subscription:
    queue: str
    exchange: str
    routing_keys: tuple[str, ...]
    handler: Callable[[AsyncSession, Message, ReceivedMessage], Any]


class Handlers:
    def __init__(self, *, uow: UowForSession, reports: BuildReports, filestore: Filestore) -> None:
        self._uow = uow
        self._reports = reports
        self._filestore = filestore

    async def build_started(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        m: Any = message
        async with self._uow(session) as uow:
            await self._reports.started(uow, action_id=m.action_id, build_id=m.build_id)
            await uow.commit()

    async def build_finished(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        m: Any = message
        outcome = OUTCOMES.get(int(m.outcome))
        if outcome is None:
            raise PoisonMessage(f"BuildFinished without an outcome (build {m.build_id})")
        async with self._uow(session) as uow:
            await self._reports.finished(
                uow,
                action_id=m.action_id,
                build_id=m.build_id,
                outcome=outcome,
                artifact_ref=m.artifact_ref,
                log_tail=m.log_tail,
                error=m.error,
                lock=m.lock,
            )
            await uow.commit()

    async def project_deleted(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        project_id: str = message.project_id  # type: ignore[attr-defined]
        # files first: deleting again on a redelivery is harmless
        await self._filestore.delete_prefix(f"projects/{project_id}/")
        async with self._uow(session) as uow:
            await uow.actions.remove_project(project_id)
            await uow.sources.remove_project(project_id)
            await uow.commit()

    def subscriptions(
        self, *, prefix: str, builder_exchange: str, authorization_exchange: str
    ) -> list[Subscription]:
        return [
            Subscription(
                queue=f"{prefix}.build-started",
                exchange=builder_exchange,
                routing_keys=(routing.BUILD_STARTED,),
                handler=self.build_started,
            ),
            Subscription(
                queue=f"{prefix}.build-finished",
                exchange=builder_exchange,
                routing_keys=(routing.BUILD_FINISHED,),
                handler=self.build_finished,
            ),
            Subscription(
                queue=f"{prefix}.project-deleted",
                exchange=authorization_exchange,
                routing_keys=(routing.PROJECT_DELETED,),
                handler=self.project_deleted,
            ),
        ]
