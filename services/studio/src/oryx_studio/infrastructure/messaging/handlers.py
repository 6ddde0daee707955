"""What this service does with the messages it consumes, and the table of its consumers.

Each handler runs inside the inbox consumer's transaction (see ``consumer.py``): it joins a
unit of work to that session, so the effects and the inbox row commit together.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_studio.application.deployments import DeploymentReports
from oryx_studio.application.library import Library, PublishedAction
from oryx_studio.application.projects import Projects
from oryx_studio.domain.library import ActionKind, Resources
from oryx_studio.domain.types import IoSpec, IoType, Scalar
from oryx_studio.domain.workflows import DeploymentStatus
from oryx_studio.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_studio.infrastructure.messaging import routing
from oryx_studio.infrastructure.messaging.broker import PoisonMessage, ReceivedMessage

UowForSession = Callable[[AsyncSession], SqlAlchemyUnitOfWork]

STATUSES = {
    1: DeploymentStatus.DEPLOYING,
    2: DeploymentStatus.DEPLOYED,
    3: DeploymentStatus.UNDEPLOYING,
    4: DeploymentStatus.UNDEPLOYED,
    5: DeploymentStatus.ERROR,
}


@dataclass(frozen=True, kw_only=True)
class Subscription:
    queue: str
    exchange: str
    routing_keys: tuple[str, ...]
    handler: Callable[[AsyncSession, Message, ReceivedMessage], Any]


def _time(message: Any, name: str) -> datetime:
    if message.HasField(name):
        return getattr(message, name).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    return datetime.now(UTC)


def _default(io: Any) -> tuple[Scalar, bool]:
    if not io.HasField("default_value_json"):
        return None, False
    try:
        value = json.loads(io.default_value_json)
    except ValueError:
        return None, False
    if isinstance(value, float) and not math.isfinite(value):
        return None, False
    if value is None or isinstance(value, str | int | float | bool):
        return value, True
    return None, False


def _io(items: Any, where: str) -> tuple[IoSpec, ...]:
    specs = []
    for io in items:
        try:
            kind = IoType(io.type)
        except ValueError:
            raise PoisonMessage(f"{where} {io.name!r} has an unknown type {io.type!r}") from None
        default, has_default = _default(io)
        specs.append(
            IoSpec(
                name=io.name,
                type=kind,
                human_name=io.human_name,
                help=io.help,
                optional=io.optional,
                enum_values=tuple(io.enum_values),
                default=default,
                has_default=has_default,
            )
        )
    return tuple(specs)


def published_action(message: Message) -> PublishedAction:
    """The message in the studio's words; ``PoisonMessage`` when no retry could use it."""
    m: Any = message
    if not m.project_id or not m.name or not m.version:
        raise PoisonMessage("ActionPublished without a project, a name or a version")
    try:
        kind = ActionKind.parse(m.kind)
    except ValueError:
        raise PoisonMessage(f"ActionPublished with an unknown kind {m.kind!r}") from None
    r = m.resources
    try:
        metadata = json.loads(m.metadata_json) if m.metadata_json else {}
    except ValueError:
        metadata = {}
    return PublishedAction(
        project_id=m.project_id,
        repository_action_id=m.action_id,
        name=m.name,
        version=m.version,
        kind=kind,
        human_name=m.human_name,
        description=m.description,
        categories=tuple(m.categories),
        type=m.type or "python3",
        resources=Resources(
            cpu=r.cpu if r.HasField("cpu") else None,
            memory_bytes=r.memory_bytes if r.HasField("memory_bytes") else None,
            time_seconds=r.time_seconds if r.HasField("time_seconds") else None,
            gpu=r.gpu if r.HasField("gpu") else None,
        ),
        inputs=_io(m.inputs, "input"),
        outputs=_io(m.outputs, "output"),
        dynamic_outputs=m.dynamic_outputs,
        logo=bytes(m.logo),
        logo_media_type=m.logo_media_type,
        artifact_ref=m.artifact_ref,
        source_id=m.source_id,
        commit_sha=m.commit_sha,
        metadata=metadata if isinstance(metadata, dict) else {},
        published_at=_time(m, "published_at"),
    )


class Handlers:
    def __init__(
        self,
        *,
        uow: UowForSession,
        library: Library,
        reports: DeploymentReports,
        projects: Projects,
    ) -> None:
        self._uow = uow
        self._library = library
        self._reports = reports
        self._projects = projects

    async def action_published(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        published = published_action(message)
        async with self._uow(session) as uow:
            await self._library.publish(uow, published)
            await uow.commit()

    async def deployment_status_changed(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        m: Any = message
        status = STATUSES.get(int(m.status))
        if status is None:
            raise PoisonMessage(f"DeploymentStatusChanged without a status ({m.workflow_id})")
        async with self._uow(session) as uow:
            await self._reports.status_changed(
                uow,
                workflow_id=m.workflow_id,
                project_id=m.project_id,
                deployment_id=m.deployment_id,
                revision=int(m.revision),
                status=status,
                message=m.message,
                sequence=int(m.sequence),
                changed_at=_time(m, "changed_at"),
            )
            await uow.commit()

    async def project_deleted(
        self, session: AsyncSession, message: Message, _: ReceivedMessage
    ) -> None:
        project_id: str = routing.as_any(message).project_id
        async with self._uow(session) as uow:
            await self._projects.deleted(uow, project_id=project_id)
            await uow.commit()

    def subscriptions(
        self,
        *,
        prefix: str,
        repository_exchange: str,
        runner_exchange: str,
        authorization_exchange: str,
    ) -> list[Subscription]:
        return [
            Subscription(
                queue=f"{prefix}.action-published",
                exchange=repository_exchange,
                routing_keys=(routing.ACTION_PUBLISHED,),
                handler=self.action_published,
            ),
            Subscription(
                queue=f"{prefix}.deployment-status-changed",
                exchange=runner_exchange,
                routing_keys=(routing.DEPLOYMENT_STATUS_CHANGED,),
                handler=self.deployment_status_changed,
            ),
            Subscription(
                queue=f"{prefix}.project-deleted",
                exchange=authorization_exchange,
                routing_keys=(routing.PROJECT_DELETED,),
                handler=self.project_deleted,
            ),
        ]
