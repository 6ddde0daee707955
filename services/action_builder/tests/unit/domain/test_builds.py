from datetime import UTC, datetime, timedelta

import pytest

from oryx_action_builder.domain.builds import (
    Build,
    BuilderBusy,
    BuildQueue,
    BuildRequest,
    BuildResult,
    InvalidTransition,
)
from oryx_action_builder.domain.events import BuildFinished, BuildStarted
from oryx_action_builder.domain.status import BuildStatus

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def request(build_id: str = "b1") -> BuildRequest:
    return BuildRequest(
        build_id=build_id,
        action_id="a1",
        project_id="p1",
        action_name="echo",
        version="1.0",
        source_archive_key="sources/a1.tar.gz",
        source_sha256="0" * 64,
    )


def test_a_build_runs_then_succeeds_and_says_so() -> None:
    build = Build(request=request())
    build.start(at=at(1))
    build.finish(result=BuildResult.succeeded(artifact_ref="local:x", lock="six==1\n"), at=at(2))

    assert build.status is BuildStatus.SUCCEEDED
    assert build.events == [
        BuildStarted(build_id="b1", action_id="a1", started_at=at(1)),
        BuildFinished(
            build_id="b1",
            action_id="a1",
            status=BuildStatus.SUCCEEDED,
            artifact_ref="local:x",
            log_tail="",
            error="",
            lock="six==1\n",
            finished_at=at(2),
        ),
    ]


def test_a_failure_keeps_its_reason_and_log_tail() -> None:
    build = Build(request=request())
    build.start(at=at(1))
    build.finish(result=BuildResult.failed(error="pip failed", log_tail="ERROR: x"), at=at(2))

    finished = build.events[-1]
    assert isinstance(finished, BuildFinished)
    assert (finished.status, finished.error, finished.log_tail) == (
        BuildStatus.FAILED,
        "pip failed",
        "ERROR: x",
    )


def test_cancelling_a_queued_build_ends_it_without_starting() -> None:
    build = Build(request=request())

    assert build.cancel(at=at(1)) is False  # nothing to stop
    assert build.status is BuildStatus.CANCELLED
    assert [type(e) for e in build.events] == [BuildFinished]
    with pytest.raises(InvalidTransition):
        build.start(at=at(2))


def test_cancelling_a_running_build_asks_to_stop_it_once() -> None:
    build = Build(request=request())
    build.start(at=at(1))

    assert build.cancel(at=at(2)) is True
    assert build.cancel(at=at(3)) is False  # already asked
    assert build.status is BuildStatus.RUNNING
    build.finish(result=BuildResult.cancelled(log_tail="killed"), at=at(4))
    assert build.status is BuildStatus.CANCELLED


def test_a_cancel_wins_over_a_result_that_raced_it() -> None:
    build = Build(request=request())
    build.start(at=at(1))
    build.cancel(at=at(2))

    build.finish(result=BuildResult.succeeded(artifact_ref="local:x"), at=at(3))

    assert build.status is BuildStatus.CANCELLED
    assert build.result == BuildResult.cancelled()


def test_a_cancel_after_the_end_changes_nothing() -> None:
    build = Build(request=request())
    build.start(at=at(1))
    build.finish(result=BuildResult.failed(error="no"), at=at(2))

    assert build.cancel(at=at(3)) is False
    assert build.status is BuildStatus.FAILED
    assert len(build.events) == 2


def test_only_a_running_build_finishes() -> None:
    with pytest.raises(InvalidTransition):
        Build(request=request()).finish(result=BuildResult.cancelled(), at=at(1))


def test_results_are_consistent() -> None:
    with pytest.raises(ValueError, match="artifact"):
        BuildResult(status=BuildStatus.SUCCEEDED)
    with pytest.raises(ValueError, match="says why"):
        BuildResult(status=BuildStatus.FAILED)
    with pytest.raises(ValueError, match="final"):
        BuildResult(status=BuildStatus.RUNNING)


def test_the_queue_runs_one_build_at_a_time() -> None:
    queue = BuildQueue()
    first = queue.take(request("b1"), at=at(1))

    with pytest.raises(BuilderBusy):
        queue.take(request("b2"), at=at(2))
    queue.release(first)
    assert queue.take(request("b2"), at=at(3)).build_id == "b2"


def test_a_cancel_before_the_request_arrives_cancels_it_on_arrival() -> None:
    queue = BuildQueue()

    assert queue.cancel("b2", at=at(1)) is False
    build = queue.take(request("b2"), at=at(2))

    assert build.status is BuildStatus.CANCELLED
    assert queue.is_cancelled("b2")


def test_a_redelivered_request_of_a_cancelled_build_stays_cancelled() -> None:
    queue = BuildQueue()
    queue.cancel("b1", at=at(1))
    queue.release(queue.take(request("b1"), at=at(2)))

    assert queue.take(request("b1"), at=at(3)).status is BuildStatus.CANCELLED


def test_a_cancel_of_the_running_build_asks_to_stop_it() -> None:
    queue = BuildQueue()
    build = queue.take(request("b1"), at=at(1))
    build.start(at=at(2))

    assert queue.cancel("b1", at=at(3)) is True
    assert build.stop_requested


def test_remembered_cancels_are_bounded_oldest_first() -> None:
    queue = BuildQueue(remember_cancels=2)
    for build_id in ("b1", "b2", "b3"):
        queue.cancel(build_id, at=at(1))

    assert [queue.is_cancelled(b) for b in ("b1", "b2", "b3")] == [False, True, True]
