"""The routing table: which domain event leaves on which key, as which protobuf message; and
the messages this service consumes.

Emits on ``oryx.studio``: ``studio.deployment.requested.v1`` and
``studio.deployment.undeployment_requested.v1``.
Consumes: ``repository.action.published.v1`` (from ``oryx.repository``),
``runner.deployment.status_changed.v1`` (from ``oryx.runner``) and
``authorization.project.deleted.v1`` (from ``oryx.authorization``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_studio.domain import events
from oryx_studio.domain.graph import Result, StepOutput
from oryx_studio.domain.types import FileValue, IoSpec, Value
from oryx_studio.infrastructure.messaging.generated.authorization.v1 import (
    events_pb2 as authorization_pb2,
)
from oryx_studio.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)
from oryx_studio.infrastructure.messaging.generated.runner.v1 import events_pb2 as runner_pb2
from oryx_studio.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as studio_pb2

ACTION_PUBLISHED = "repository.action.published.v1"
DEPLOYMENT_STATUS_CHANGED = "runner.deployment.status_changed.v1"
PROJECT_DELETED = "authorization.project.deleted.v1"
DEPLOYMENT_REQUESTED = "studio.deployment.requested.v1"
UNDEPLOYMENT_REQUESTED = "studio.deployment.undeployment_requested.v1"


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    routing_key: str
    message_type: str
    payload: bytes


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def value_message(value: Value) -> studio_pb2.Value:
    if value is None:
        return studio_pb2.Value(null_value=True)
    if isinstance(value, FileValue):
        return studio_pb2.Value(
            file=studio_pb2.FileRef(
                key=value.key,
                name=value.name,
                size_bytes=value.size_bytes,
                directory=value.directory,
            )
        )
    if isinstance(value, bool):
        return studio_pb2.Value(boolean_value=value)
    if isinstance(value, int):
        return studio_pb2.Value(integer_value=value)
    if isinstance(value, float):
        return studio_pb2.Value(float_value=value)
    return studio_pb2.Value(string_value=value)


def _io(spec: IoSpec) -> studio_pb2.IoSpec:
    message = studio_pb2.IoSpec(
        name=spec.name,
        type=spec.type.value,
        optional=spec.optional,
        enum_values=list(spec.enum_values),
        origin=spec.origin,
        human_name=spec.human_name,
        help=spec.help,
    )
    if spec.has_default:
        message.default_value.CopyFrom(value_message(spec.default))
    return message


def _ref(ref: StepOutput) -> studio_pb2.OutputRef:
    return studio_pb2.OutputRef(step_id=ref.step_id, output=ref.output)


def _binding(binding: events.Binding) -> studio_pb2.InputBinding:
    message = studio_pb2.InputBinding(input=binding.input)
    if binding.source is not None:
        getattr(message, "from").CopyFrom(_ref(binding.source))  # `from` is a Python keyword
    else:
        message.value.CopyFrom(value_message(binding.value))
    return message


def _result(result: Result) -> studio_pb2.ResultSpec:
    message = studio_pb2.ResultSpec(key=result.key)
    getattr(message, "from").CopyFrom(_ref(result.source))
    return message


def _resources(r: events.SnapshotResources) -> studio_pb2.Resources:
    message = studio_pb2.Resources()
    if r.cpu is not None:
        message.cpu = r.cpu
    if r.memory_bytes is not None:
        message.memory_bytes = r.memory_bytes
    if r.time_seconds is not None:
        message.time_seconds = r.time_seconds
    if r.gpu is not None:
        message.gpu = r.gpu
    return message


def snapshot_message(s: events.WorkflowSnapshot) -> studio_pb2.WorkflowSnapshot:
    message = studio_pb2.WorkflowSnapshot(
        name=s.name,
        description=s.description,
        steps=[
            studio_pb2.StepSnapshot(
                step_id=step.step_id,
                action_id=step.action_id,
                action_name=step.action_name,
                action_version=step.action_version,
                kind=step.kind,
                builtin_trigger=step.builtin_trigger,
                artifact_ref=step.artifact_ref,
                resources=_resources(step.resources),
                inputs=[_io(i) for i in step.inputs],
                outputs=[_io(o) for o in step.outputs],
                bindings=[_binding(b) for b in step.bindings],
                parent_step_ids=list(step.parent_step_ids),
                name=step.name,
            )
            for step in s.steps
        ],
        results=[studio_pb2.ResultSpec(key=r.key, **{"from": _ref(r.source)}) for r in s.results],
    )
    if s.endpoint is not None:
        message.endpoint.CopyFrom(
            studio_pb2.Endpoint(
                path=s.endpoint.path,
                method=s.endpoint.method.value,
                success_code=s.endpoint.success_code,
                timeout_seconds=s.endpoint.timeout_seconds,
            )
        )
    return message


def _deployment_requested(e: events.DeploymentRequested) -> Message:
    return studio_pb2.DeploymentRequested(
        deployment_id=e.deployment_id,
        workflow_id=e.workflow_id,
        project_id=e.project_id,
        revision=e.revision,
        snapshot=snapshot_message(e.snapshot),
        requested_by=e.requested_by,
        requested_at=_ts(e.occurred_at),
    )


def _undeployment_requested(e: events.UndeploymentRequested) -> Message:
    return studio_pb2.UndeploymentRequested(
        workflow_id=e.workflow_id,
        project_id=e.project_id,
        cancel_running=e.cancel_running,
        requested_by=e.requested_by,
        requested_at=_ts(e.occurred_at),
    )


EVENT_ROUTES: dict[type[events.Event], tuple[str, Callable[..., Message]]] = {
    events.DeploymentRequested: (DEPLOYMENT_REQUESTED, _deployment_requested),
    events.UndeploymentRequested: (UNDEPLOYMENT_REQUESTED, _undeployment_requested),
}

MESSAGE_TYPES: dict[str, type[Message]] = {
    "oryx.repository.v1.ActionPublished": repository_pb2.ActionPublished,
    "oryx.runner.v1.DeploymentStatusChanged": runner_pb2.DeploymentStatusChanged,
    "oryx.authorization.v1.ProjectDeleted": authorization_pb2.ProjectDeleted,
    # our own, so tests and tools can read what we publish
    "oryx.studio.v1.DeploymentRequested": studio_pb2.DeploymentRequested,
    "oryx.studio.v1.UndeploymentRequested": studio_pb2.UndeploymentRequested,
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


def as_any(message: Message) -> Any:
    """Generated messages have dynamic attributes; handlers read them through this."""
    return message
