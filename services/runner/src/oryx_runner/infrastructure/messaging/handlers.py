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

from oryx_runner.application.deployments import DeployOrders
from oryx_runner.application.filestore import Filestore
from oryx_runner.application.ports import Clock
from oryx_runner.domain.workflows import WorkflowSnapshot
from oryx_runner.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_runner.infrastructure.messaging import routing
from oryx_runner.infrastructure.messaging.broker import PoisonMessage, ReceivedMessage
from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as studio_pb2

UowForSession = Callable[[AsyncSession], SqlAlchemyUnitOfWork]


@dataclass(frozen=True, kw_only=True)
class Subscription:
    queue: str
    exchange: str
    routing_keys: tuple[str, ...]
    handler: Callable[[AsyncSession, Message, ReceivedMessage], Any]


class Handlers:
    def __init__(
        self, *, uow: UowForSession, orders: DeployOrders, filestore: Filestore, clock: Clock
    ) -> None:
        self._uow = uow
        self._orders = orders
        self._filestore = filestore
        self._clock = clock

    async def deployment_order(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        if isinstance(message, studio_pb2.DeploymentRequested):
            await self._deploy(session, message)
        elif isinstance(message, studio_pb2.UndeploymentRequested):
            if not message.workflow_id:
                raise PoisonMessage("UndeploymentRequested without a workflow id")
            async with self._uow(session) as uow:
                await self._orders.undeploy(
                    uow,
                    workflow_id=message.workflow_id,
                    requested_at=routing.to_datetime(message.requested_at),
                    cancel_running=message.cancel_running,
                )
                await uow.commit()
        else:
            raise PoisonMessage(f"not a deploy order: {message.DESCRIPTOR.full_name}")

    async def _deploy(self, session: AsyncSession, message: studio_pb2.DeploymentRequested) -> None:
        if not (message.deployment_id and message.workflow_id and message.project_id):
            raise PoisonMessage("DeploymentRequested without deployment, workflow or project id")
        unreadable = None
        try:
            snapshot = routing.snapshot_from_pb(message.snapshot)
        except ValueError as exc:
            snapshot = WorkflowSnapshot(name=message.snapshot.name, steps=())
            unreadable = f"the workflow cannot be read: {exc}"
        deployment = routing.deployment_from_pb(message, snapshot, received_at=self._clock.now())
        async with self._uow(session) as uow:
            await self._orders.deploy(uow, deployment=deployment, unreadable=unreadable)
            await uow.commit()

    async def project_deleted(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        project_id: str = message.project_id  # type: ignore[attr-defined]
        if not project_id:
            raise PoisonMessage("ProjectDeleted without a project id")
        # files first: deleting again on a redelivery is harmless
        await self._filestore.delete_prefix(f"projects/{project_id}/")
        async with self._uow(session) as uow:
            await uow.runs.remove_project(project_id)
            await uow.workflows.remove_project(project_id)
            await uow.deployments.remove_project(project_id)
            await uow.api_keys.remove_project(project_id)
            await uow.commit()

    def subscriptions(
        self, *, prefix: str, studio_exchange: str, authorization_exchange: str
    ) -> list[Subscription]:
        return [
            Subscription(
                queue=f"{prefix}.deployment-orders",
                exchange=studio_exchange,
                routing_keys=(routing.DEPLOYMENT_REQUESTED, routing.UNDEPLOYMENT_REQUESTED),
                handler=self.deployment_order,
            ),
            Subscription(
                queue=f"{prefix}.project-deleted",
                exchange=authorization_exchange,
                routing_keys=(routing.PROJECT_DELETED,),
                handler=self.project_deleted,
            ),
        ]
