"""The routing table: which domain event leaves on which routing key, as which message.

Routing keys read ``authorization.<aggregate>.<event>.v1`` on the ``oryx.authorization``
topic exchange. Translation to protobuf happens here, at the edge.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_authorization.domain import events
from oryx_authorization.infrastructure.messaging.generated.authorization.v1 import events_pb2


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    routing_key: str
    message_type: str
    """The protobuf full name, e.g. ``oryx.authorization.v1.UserDeleted``; sent as AMQP type."""
    payload: bytes


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def _user_deleted(e: events.UserDeleted) -> Message:
    return events_pb2.UserDeleted(
        user_id=e.user_id, username=e.username, occurred_at=_ts(e.occurred_at)
    )


def _project_deleted(e: events.ProjectDeleted) -> Message:
    return events_pb2.ProjectDeleted(
        project_id=e.project_id, name=e.name, occurred_at=_ts(e.occurred_at)
    )


def _member_removed(e: events.ProjectMemberRemoved) -> Message:
    return events_pb2.ProjectMemberRemoved(
        project_id=e.project_id, user_id=e.user_id, occurred_at=_ts(e.occurred_at)
    )


EVENT_ROUTES: dict[type[events.Event], tuple[str, Callable[..., Message]]] = {
    events.UserDeleted: ("authorization.user.deleted.v1", _user_deleted),
    events.ProjectDeleted: ("authorization.project.deleted.v1", _project_deleted),
    events.ProjectMemberRemoved: ("authorization.project.member_removed.v1", _member_removed),
}

MESSAGE_TYPES: dict[str, type[Message]] = {
    "oryx.authorization.v1.UserDeleted": events_pb2.UserDeleted,
    "oryx.authorization.v1.ProjectDeleted": events_pb2.ProjectDeleted,
    "oryx.authorization.v1.ProjectMemberRemoved": events_pb2.ProjectMemberRemoved,
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
