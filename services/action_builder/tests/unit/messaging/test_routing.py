"""The protobuf translation at the edge, both ways."""

from datetime import UTC, datetime

import pytest

from oryx_action_builder.domain.events import BuildFinished, BuildStarted
from oryx_action_builder.domain.status import BuildStatus
from oryx_action_builder.infrastructure.messaging import routing
from oryx_action_builder.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_build_request_becomes_a_domain_request() -> None:
    message = repository_pb2.BuildRequested(
        build_id="b1",
        action_id="a1",
        project_id="p1",
        action_name="echo",
        version="1.0",
        source_archive_key="k",
        source_sha256=" ABCDEF ",
        python_version=" 3.11 ",
        system_dependencies=["ffmpeg"],
        kind="processor",
    )
    payload = message.SerializeToString()

    decoded = routing.decode(routing.BUILD_REQUESTED_TYPE, payload)
    request = routing.build_request(decoded)  # type: ignore[arg-type]

    assert request.build_id == "b1"
    assert request.source_sha256 == "abcdef"
    assert request.python_version == "3.11"
    assert request.system_dependencies == ("ffmpeg",)


def test_a_request_without_build_id_is_refused() -> None:
    with pytest.raises(ValueError, match="without a build_id"):
        routing.build_request(repository_pb2.BuildRequested(action_id="a1"))


@pytest.mark.parametrize(
    ("message_type", "payload", "reason"),
    [
        ("oryx.repository.v1.Nope", b"", "unknown message type"),
        (routing.BUILD_REQUESTED_TYPE, b"\xff\xff\xff", "malformed"),
    ],
)
def test_undecodable_messages_are_value_errors(
    message_type: str, payload: bytes, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        routing.decode(message_type, payload)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (BuildStatus.SUCCEEDED, builder_pb2.BuildFinished.SUCCEEDED),
        (BuildStatus.FAILED, builder_pb2.BuildFinished.FAILED),
        (BuildStatus.CANCELLED, builder_pb2.BuildFinished.CANCELLED),
    ],
)
def test_build_finished_round_trips(status: BuildStatus, outcome: int) -> None:
    event = BuildFinished(
        build_id="b1",
        action_id="a1",
        status=status,
        artifact_ref="local:abc",
        log_tail="tail",
        error="why",
        lock="six==1.17.0\n",
        finished_at=AT,
    )

    out = routing.serialize(event)
    parsed = builder_pb2.BuildFinished.FromString(out.payload)

    assert (out.routing_key, out.message_type, out.message_id) == (
        "action_builder.build.finished.v1",
        "oryx.action_builder.v1.BuildFinished",
        "b1.finished",
    )
    assert parsed.outcome == outcome
    assert (parsed.artifact_ref, parsed.log_tail, parsed.error, parsed.lock) == (
        "local:abc",
        "tail",
        "why",
        "six==1.17.0\n",
    )
    assert parsed.finished_at.ToDatetime(tzinfo=UTC) == AT


def test_build_started_round_trips() -> None:
    out = routing.serialize(BuildStarted(build_id="b1", action_id="a1", started_at=AT))
    parsed = builder_pb2.BuildStarted.FromString(out.payload)

    assert (out.routing_key, out.message_id) == ("action_builder.build.started.v1", "b1.started")
    assert (parsed.build_id, parsed.action_id) == ("b1", "a1")
    assert parsed.started_at.ToDatetime(tzinfo=UTC) == AT
