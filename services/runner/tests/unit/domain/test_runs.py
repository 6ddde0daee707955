"""The run and step run state machines."""

from datetime import UTC, datetime, timedelta

import pytest

from oryx_runner.domain.events import RunEventType
from oryx_runner.domain.runs import (
    ErrorKind,
    RunAlreadyFinished,
    RunError,
    RunStatus,
    StepError,
    StepNotRunning,
    StepRun,
    StepStatus,
    WorkflowRun,
    retry_delay,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_run() -> WorkflowRun:
    return WorkflowRun.create(
        run_id="r1", project_id="p", workflow_id="w", deployment_id="d", trigger="manual",
        requested_by="u", at=AT,
    )  # fmt: skip


def ready() -> StepRun:
    return StepRun.ready(
        step_run_id="s1",
        run_id="r1",
        step_id="a",
        branch_key="k",
        context={},
        inputs={"x": 1},
        at=AT,
    )


def test_a_run_is_created_running_and_ends_once() -> None:
    run = new_run()
    assert run.status is RunStatus.RUNNING
    run.succeed(result={"x": 1}, at=AT)
    assert run.status is RunStatus.SUCCEEDED and run.ended_at == AT
    with pytest.raises(RunAlreadyFinished):
        run.cancel(at=AT)
    assert [e.type for e in run.events] == [RunEventType.RUN_CREATED, RunEventType.RUN_SUCCEEDED]


def test_failing_and_cancelling_keep_the_reason() -> None:
    run = new_run()
    run.fail(error=RunError(kind=ErrorKind.USER_ERROR, message="no", code=418), at=AT)
    assert run.error is not None and run.error.code == 418
    other = new_run()
    other.cancel(at=AT, reason="undeployed")
    assert other.status is RunStatus.CANCELED
    assert other.error is not None and other.error.kind is ErrorKind.CANCELED


def test_a_step_run_goes_ready_running_succeeded() -> None:
    step = ready()
    step.start(runner_id="me", at=AT)
    assert step.status is StepStatus.RUNNING and step.attempt == 1 and step.claimed_by == "me"
    step.succeed(outputs=[{"y": 2}], at=AT)
    assert step.status is StepStatus.SUCCEEDED and step.claimed_by is None
    assert step.outputs == [{"y": 2}]
    with pytest.raises(StepNotRunning):
        step.succeed(outputs=[], at=AT)
    assert [e.type for e in step.events] == [
        RunEventType.STEP_READY,
        RunEventType.STEP_STARTED,
        RunEventType.STEP_SUCCEEDED,
    ]


def test_retry_and_recover_keep_the_execution_id() -> None:
    step = ready()
    step.start(runner_id="me", at=AT)
    error = StepError(kind=ErrorKind.SITE_ERROR, message="down")
    step.retry(error=error, not_before=AT + timedelta(seconds=1), at=AT)
    assert step.status is StepStatus.READY and step.not_before == AT + timedelta(seconds=1)
    step.start(runner_id="other", at=AT)
    step.recover(at=AT)
    assert step.status is StepStatus.READY and step.claimed_by is None and step.attempt == 2
    assert step.execution_id == "s1"
    with pytest.raises(StepNotRunning):
        step.recover(at=AT)


def test_a_ready_step_cannot_succeed_and_a_final_one_cannot_be_cancelled() -> None:
    step = ready()
    with pytest.raises(StepNotRunning):
        step.succeed(outputs=[], at=AT)
    step.cancel(at=AT)
    with pytest.raises(StepNotRunning):
        step.cancel(at=AT)
    with pytest.raises(StepNotRunning):
        step.start(runner_id="me", at=AT)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    delays = [
        retry_delay(attempt=n, base_seconds=0.5, max_seconds=10, jitter=1.0) for n in range(1, 8)
    ]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert retry_delay(attempt=3, base_seconds=0.5, max_seconds=10, jitter=0.5) == 1.0
    assert (
        retry_delay(attempt=3, base_seconds=0.5, max_seconds=10, jitter=0.0) == 1.0
    )  # at least half
