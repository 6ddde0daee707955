"""The routing table: which domain event leaves on which key, as which protobuf message;
and the messages this service consumes.

Emits on ``oryx.repository``: ``repository.build.requested.v1``,
``repository.build.cancelled.v1``, ``repository.action.published.v1``.
Consumes: ``action_builder.build.started.v1`` and ``action_builder.build.finished.v1`` (from
``oryx.action_builder``), ``authorization.project.deleted.v1`` (from ``oryx.authorization``).
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_repository.domain import events
from oryx_repository.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_repository.infrastructure.messaging.generated.authorization.v1 import (
    events_pb2 as authorization_pb2,
)
from oryx_repository.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)

BUILD_STARTED = "action_builder.build.started.v1"
BUILD_FINISHED = "action_builder.build.finished.v1"
PROJECT_DELETED = "authorization.project.deleted.v1"


@dataclass(frozen=True, kw_only=True)
class OutboundMessage:
    routing_key: str
    message_type: str
    payload: bytes


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def _build_requested(e: events.BuildRequested) -> Message:
    return repository_pb2.BuildRequested(
        build_id=e.build_id,
        action_id=e.action_id,
        project_id=e.project_id,
        action_name=e.name,
        version=e.version,
        source_archive_key=e.archive_key,
        source_sha256=e.archive_sha256,
        python_version=e.python_version,
        system_dependencies=list(e.system_dependencies),
        kind=e.kind,
        requested_at=_ts(e.occurred_at),
    )


def _build_cancelled(e: events.BuildCancelled) -> Message:
    return repository_pb2.BuildCancelled(
        build_id=e.build_id, action_id=e.action_id, cancelled_at=_ts(e.occurred_at)
    )


def _io(items: Any, *, inputs: bool) -> list[repository_pb2.IoDefinition]:
    out = []
    for item in items if isinstance(items, list) else []:
        io = repository_pb2.IoDefinition(
            name=str(item.get("name", "")),
            human_name=str(item.get("human_name", item.get("name", ""))),
            help=str(item.get("help", "")),
            type=str(item.get("type", "")),
            optional=bool(item.get("optional", False)),
            enum_values=[str(v) for v in item.get("enum_values") or []],
        )
        if inputs and "default_value" in item:
            io.default_value_json = json.dumps(item["default_value"])
        out.append(io)
    return out


def _resources(metadata: Any) -> repository_pb2.Resources:
    resources = getattr(metadata, "resources", None)
    message = repository_pb2.Resources()
    if resources is None:
        return message
    if resources.cpu is not None:
        message.cpu = float(resources.cpu)
    if resources.memory is not None:
        message.memory_bytes = int(resources.memory)
    if resources.time is not None:
        message.time_seconds = math.ceil(resources.time)
    if resources.gpu is not None:
        message.gpu = int(resources.gpu)
    return message


def _action_published(e: events.ActionPublished) -> Message:
    spec = e.document.get("spec", {}) if isinstance(e.document, dict) else {}
    kind = str(getattr(e.metadata, "kind", "") or spec.get("kind", ""))
    return repository_pb2.ActionPublished(
        action_id=e.action_id,
        project_id=e.project_id,
        name=str(spec.get("id", "")),
        version=str(spec.get("version", "")),
        kind=getattr(kind, "value", kind),
        human_name=str(spec.get("human_name", "")),
        description=str(spec.get("description", "")),
        categories=[str(c) for c in spec.get("categories") or []],
        type=str(spec.get("type", "python3")),
        resources=_resources(e.metadata),
        inputs=_io(spec.get("inputs"), inputs=True),
        outputs=_io(spec.get("outputs"), inputs=False),
        dynamic_outputs=bool(spec.get("dynamic_outputs", False)),
        logo=e.logo,
        logo_media_type=e.logo_media_type,
        artifact_ref=e.artifact_ref,
        source_id=e.source_id,
        commit_sha=e.commit_sha,
        metadata_json=json.dumps(e.document, sort_keys=True, default=str),
        published_at=_ts(e.occurred_at),
    )


EVENT_ROUTES: dict[type[events.Event], tuple[str, Callable[..., Message]]] = {
    events.BuildRequested: ("repository.build.requested.v1", _build_requested),
    events.BuildCancelled: ("repository.build.cancelled.v1", _build_cancelled),
    events.ActionPublished: ("repository.action.published.v1", _action_published),
}

MESSAGE_TYPES: dict[str, type[Message]] = {
    "oryx.action_builder.v1.BuildStarted": builder_pb2.BuildStarted,
    "oryx.action_builder.v1.BuildFinished": builder_pb2.BuildFinished,
    "oryx.authorization.v1.ProjectDeleted": authorization_pb2.ProjectDeleted,
    # our own, so tests and tools can read what we publish
    "oryx.repository.v1.BuildRequested": repository_pb2.BuildRequested,
    "oryx.repository.v1.BuildCancelled": repository_pb2.BuildCancelled,
    "oryx.repository.v1.ActionPublished": repository_pb2.ActionPublished,
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
