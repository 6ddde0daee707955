"""The routing table: which domain event leaves on which key, as which protobuf message;
and the messages this service consumes.

Emits on ``oryx.runner``: ``runner.deployment.status_changed.v1``.
Consumes: ``studio.deployment.requested.v1`` and
``studio.deployment.undeployment_requested.v1`` (from ``oryx.studio``, one queue so that the
orders of a workflow keep their order), ``authorization.project.deleted.v1`` (from
``oryx.authorization``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_runner.domain import events
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import (
    Binding,
    Endpoint,
    FileValue,
    IoSpec,
    IoType,
    OutputRef,
    Resources,
    ResultSpec,
    StepKind,
    StepSpec,
    Value,
    WorkflowSnapshot,
)
from oryx_runner.infrastructure.messaging.generated.authorization.v1 import (
    events_pb2 as authorization_pb2,
)
from oryx_runner.infrastructure.messaging.generated.runner.v1 import events_pb2 as runner_pb2
from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as studio_pb2

DEPLOYMENT_REQUESTED = "studio.deployment.requested.v1"
UNDEPLOYMENT_REQUESTED = "studio.deployment.undeployment_requested.v1"
PROJECT_DELETED = "authorization.project.deleted.v1"
STATUS_CHANGED = "runner.deployment.status_changed.v1"


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    routing_key: str
    message_type: str
    payload: bytes


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def to_datetime(ts: Timestamp) -> datetime:
    if ts.seconds == 0 and ts.nanos == 0:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return ts.ToDatetime(tzinfo=UTC)


_STATUS = {
    "deploying": runner_pb2.DeploymentStatusChanged.DEPLOYING,
    "deployed": runner_pb2.DeploymentStatusChanged.DEPLOYED,
    "undeploying": runner_pb2.DeploymentStatusChanged.UNDEPLOYING,
    "undeployed": runner_pb2.DeploymentStatusChanged.UNDEPLOYED,
    "error": runner_pb2.DeploymentStatusChanged.ERROR,
}


def _status_changed(e: events.DeploymentStatusChanged) -> Message:
    return runner_pb2.DeploymentStatusChanged(
        workflow_id=e.workflow_id,
        project_id=e.project_id,
        deployment_id=e.deployment_id,
        revision=e.revision,
        status=_STATUS[e.status],
        message=e.message,
        changed_at=_ts(e.occurred_at),
        sequence=e.sequence,
    )


EVENT_ROUTES: dict[type[events.Event], tuple[str, Callable[..., Message]]] = {
    events.DeploymentStatusChanged: (STATUS_CHANGED, _status_changed),
}

MESSAGE_TYPES: dict[str, type[Message]] = {
    "oryx.studio.v1.DeploymentRequested": studio_pb2.DeploymentRequested,
    "oryx.studio.v1.UndeploymentRequested": studio_pb2.UndeploymentRequested,
    "oryx.authorization.v1.ProjectDeleted": authorization_pb2.ProjectDeleted,
    # our own, so tests and tools can read what we publish
    "oryx.runner.v1.DeploymentStatusChanged": runner_pb2.DeploymentStatusChanged,
}


def serialize(event: events.Event) -> OutboundMessage:
    try:
        routing_key, translate = EVENT_ROUTES[type(event)]
    except KeyError:
        raise LookupError(f"no route for event {type(event).__name__}") from None
    message = translate(event)
    return OutboundMessage(
        routing_key=routing_key,
        message_type=message.DESCRIPTOR.full_name,
        payload=message.SerializeToString(deterministic=True),
    )


def decode(message_type: str, payload: bytes) -> Message:
    """Parse a received payload by its AMQP type; ValueError when unknown or malformed."""
    cls = MESSAGE_TYPES.get(message_type)
    if cls is None:
        raise ValueError(f"unknown message type {message_type!r}")
    message = cls()
    try:
        message.ParseFromString(payload)
    except Exception as exc:  # protobuf raises DecodeError, a bare Exception subclass
        raise ValueError(f"malformed {message_type} payload: {exc}") from exc
    return message


# --- deploy orders -> domain -----------------------------------------------------------------


def _value(value: studio_pb2.Value, *, directory: bool = False) -> Value:
    kind = value.WhichOneof("kind")
    if kind is None or kind == "null_value":
        return None
    if kind == "file":
        return FileValue(
            key=value.file.key,
            name=value.file.name,
            size_bytes=value.file.size_bytes,
            directory=value.file.directory or directory,
        )
    result: Value = getattr(value, kind)
    return result


def _io(io: studio_pb2.IoSpec) -> IoSpec:
    try:
        kind = IoType(io.type)
    except ValueError:
        raise ValueError(f"{io.name!r} has the unknown type {io.type!r}") from None
    has_default = io.HasField("default_value")
    return IoSpec(
        name=io.name,
        type=kind,
        optional=io.optional,
        enum_values=tuple(io.enum_values),
        default=_value(io.default_value) if has_default else None,
        has_default=has_default,
        origin=io.origin,
        human_name=io.human_name,
        help=io.help,
    )


def _resources(r: studio_pb2.Resources) -> Resources:
    return Resources(
        cpu=r.cpu if r.HasField("cpu") else None,
        memory_bytes=r.memory_bytes if r.HasField("memory_bytes") else None,
        time_seconds=r.time_seconds if r.HasField("time_seconds") else None,
        gpu=r.gpu if r.HasField("gpu") else None,
    )


def _step(step: studio_pb2.StepSnapshot) -> StepSpec:
    try:
        kind = StepKind(step.kind.lower() if step.kind != "Trigger" else "source")
    except ValueError:
        raise ValueError(f"step {step.step_id!r} has the unknown kind {step.kind!r}") from None
    bindings = []
    for b in step.bindings:
        source = b.WhichOneof("source")
        if source == "from":
            ref = getattr(b, "from")
            bindings.append(
                Binding(input=b.input, source=OutputRef(step_id=ref.step_id, output=ref.output))
            )
        else:
            bindings.append(Binding(input=b.input, value=_value(b.value) if source else None))
    return StepSpec(
        step_id=step.step_id,
        name=step.name or step.action_name,
        action_id=step.action_id,
        action_name=step.action_name,
        action_version=step.action_version,
        kind=kind,
        builtin_trigger=step.builtin_trigger,
        artifact_ref=step.artifact_ref,
        resources=_resources(step.resources),
        inputs=tuple(_io(i) for i in step.inputs),
        outputs=tuple(_io(o) for o in step.outputs),
        bindings=tuple(bindings),
        parents=tuple(step.parent_step_ids),
    )


def snapshot_from_pb(snapshot: studio_pb2.WorkflowSnapshot) -> WorkflowSnapshot:
    """``ValueError`` when the message cannot make a snapshot (unknown type or kind)."""
    endpoint = None
    if snapshot.HasField("endpoint"):
        e = snapshot.endpoint
        endpoint = Endpoint(
            path=e.path,
            method=e.method,
            success_code=e.success_code,
            timeout_seconds=e.timeout_seconds,
        )
    return WorkflowSnapshot(
        name=snapshot.name,
        description=snapshot.description,
        steps=tuple(_step(s) for s in snapshot.steps),
        results=tuple(
            ResultSpec(
                key=r.key,
                source=OutputRef(
                    step_id=getattr(r, "from").step_id, output=getattr(r, "from").output
                ),
            )
            for r in snapshot.results
        ),
        endpoint=endpoint,
    )


def deployment_from_pb(
    message: studio_pb2.DeploymentRequested, snapshot: WorkflowSnapshot, *, received_at: datetime
) -> Deployment:
    return Deployment(
        id=message.deployment_id,
        workflow_id=message.workflow_id,
        project_id=message.project_id,
        revision=message.revision,
        snapshot=snapshot,
        requested_by=message.requested_by,
        requested_at=to_datetime(message.requested_at),
        received_at=received_at,
    )
