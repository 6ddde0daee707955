"""The routing table: what the builder consumes and emits, and the protobuf translation.

Consumed from the ``oryx.repository`` exchange: ``BuildRequested`` and ``BuildCancelled``.
Emitted on the ``oryx.action_builder`` exchange: ``BuildStarted`` and ``BuildFinished``.
Translation to and from protobuf happens here, at the edge.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_action_builder.domain import events
from oryx_action_builder.domain.builds import BuildRequest
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)

BUILD_REQUESTED = "repository.build.requested.v1"
BUILD_CANCELLED = "repository.build.cancelled.v1"
BUILD_STARTED = "action_builder.build.started.v1"
BUILD_FINISHED = "action_builder.build.finished.v1"

BUILD_REQUESTED_TYPE = repository_pb2.BuildRequested.DESCRIPTOR.full_name
BUILD_CANCELLED_TYPE = repository_pb2.BuildCancelled.DESCRIPTOR.full_name

INCOMING: dict[str, type[Message]] = {
    BUILD_REQUESTED_TYPE: repository_pb2.BuildRequested,
    BUILD_CANCELLED_TYPE: repository_pb2.BuildCancelled,
}


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    routing_key: str
    message_type: str
    message_id: str
    """Derived from the build id, so a report sent again after a redelivery has the same id
    and the consumer's inbox drops it."""
    payload: bytes


def decode(message_type: str, payload: bytes) -> Message:
    """Parse a received payload by its AMQP type; ValueError when unknown or malformed."""
    cls = INCOMING.get(message_type)
    if cls is None:
        raise ValueError(f"unknown message type {message_type!r}")
    message = cls()
    try:
        message.ParseFromString(payload)
    except Exception as exc:  # protobuf raises DecodeError, a bare Exception subclass
        raise ValueError(f"malformed {message_type} payload: {exc}") from exc
    return message


def build_request(message: repository_pb2.BuildRequested) -> BuildRequest:
    """ValueError when the request has no build id (nobody could be told about it)."""
    if not message.build_id:
        raise ValueError("BuildRequested without a build_id")
    return BuildRequest(
        build_id=message.build_id,
        action_id=message.action_id,
        project_id=message.project_id,
        action_name=message.action_name,
        version=message.version,
        source_archive_key=message.source_archive_key,
        source_sha256=message.source_sha256.strip().lower(),
        python_version=message.python_version.strip(),
        system_dependencies=tuple(message.system_dependencies),
        kind=message.kind,
    )


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


OUTCOMES = {
    BuildStatus.SUCCEEDED: builder_pb2.BuildFinished.SUCCEEDED,
    BuildStatus.FAILED: builder_pb2.BuildFinished.FAILED,
    BuildStatus.CANCELLED: builder_pb2.BuildFinished.CANCELLED,
}


def _started(e: events.BuildStarted) -> Message:
    return builder_pb2.BuildStarted(
        build_id=e.build_id, action_id=e.action_id, started_at=_ts(e.started_at)
    )


def _finished(e: events.BuildFinished) -> Message:
    return builder_pb2.BuildFinished(
        build_id=e.build_id,
        action_id=e.action_id,
        outcome=OUTCOMES[e.status],
        artifact_ref=e.artifact_ref,
        log_tail=e.log_tail,
        error=e.error,
        lock=e.lock,
        finished_at=_ts(e.finished_at),
    )


EVENT_ROUTES: dict[type[events.Event], tuple[str, str, Callable[..., Message]]] = {
    # event: (routing key, message id suffix, translation)
    events.BuildStarted: (BUILD_STARTED, "started", _started),
    events.BuildFinished: (BUILD_FINISHED, "finished", _finished),
}


def serialize(event: events.Event) -> OutboundMessage:
    try:
        routing_key, suffix, translate = EVENT_ROUTES[type(event)]
    except KeyError:
        raise LookupError(f"no route for event {type(event).__name__}") from None
    message = translate(event)
    return OutboundMessage(
        routing_key=routing_key,
        message_type=message.DESCRIPTOR.full_name,
        message_id=f"{event.build_id}.{suffix}",
        payload=message.SerializeToString(deterministic=True),
    )
