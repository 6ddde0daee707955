"""Mappers: every domain object survives a round trip through its row."""

from __future__ import annotations

from datetime import UTC, datetime

from oryx_runner.application.ports import FileRecord, LogLine, StepLogs
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.runs import ErrorKind, RunError, StepError, StepRun, WorkflowRun
from oryx_runner.domain.workflows import FileValue, OutputRef, ResultSpec, WorkflowSnapshot
from oryx_runner.infrastructure.database import mappers

from ...actions import chain, io, step, trigger

AT = datetime(2026, 1, 1, tzinfo=UTC)
FILE = FileValue(
    key="k/a.txt", name="a.txt", size_bytes=3, directory=False, sha256="x", file_id="f1"
)


def deployment(snapshot: WorkflowSnapshot) -> Deployment:
    return Deployment(
        id=f"dep-{snapshot.name}-{len(snapshot.steps)}", workflow_id="wf-mappers", project_id="p",
        revision=3, snapshot=snapshot, requested_by="u", requested_at=AT, received_at=AT,
    )  # fmt: skip


def test_a_deployment_and_its_snapshot() -> None:
    snapshot = WorkflowSnapshot(
        name="w",
        description="d",
        steps=(
            trigger(outputs=(io("data", "file"), io("n", "integer", has_default=True, default=4))),
            step(
                "a",
                "append",
                {"append": "local:a"},
                after=("trigger",),
                bind={"text": "static", "suffix": ("trigger", "data")},
                time_seconds=5,
                memory_bytes=10,
            ),
            step("b", "upper", {"upper": "local:u"}, after=("a",), bind={"data": FILE}),
        ),
        results=(ResultSpec(key="r", source=OutputRef(step_id="a", output="text")),),
    )
    d = deployment(snapshot)
    assert mappers.row_to_deployment(mappers.deployment_to_row(d)) == d
    d2 = deployment(chain({"append": "local:a"}))
    assert mappers.row_to_deployment(mappers.deployment_to_row(d2)) == d2
    state = WorkflowDeployment.first(d, at=AT)
    back = mappers.row_to_workflow(mappers.workflow_to_row(state))
    assert back == state and back.events == []


def test_runs_and_step_runs() -> None:
    run = WorkflowRun.create(
        run_id="r", project_id="p", workflow_id="w", deployment_id="d", trigger="manual",
        requested_by="u", at=AT,
    )  # fmt: skip
    run.succeed(result={"one": FILE, "many": ["a", FILE], "none": None}, at=AT)
    assert mappers.row_to_run(mappers.run_to_row(run)) == run
    failed = WorkflowRun.create(
        run_id="r2", project_id="p", workflow_id="w", deployment_id="d", trigger="manual",
        requested_by="u", at=AT,
    )  # fmt: skip
    failed.fail(
        error=RunError(
            kind=ErrorKind.USER_ERROR, message="m", code=4, step_id="s", step_run_id="sr"
        ),
        at=AT,
    )
    assert mappers.row_to_run(mappers.run_to_row(failed)) == failed
    step_run = StepRun.ready(
        step_run_id="s",
        run_id="r",
        step_id="a",
        branch_key="k",
        context={"trigger": ("t", 0), "x": ("y", 2)},
        inputs={"text": "x", "n": 2, "f": 1.5, "b": True, "file": FILE, "none": None},
        at=AT,
    )
    step_run.start(runner_id="me", at=AT)
    step_run.retry(
        error=StepError(
            kind=ErrorKind.SITE_ERROR, message="down", type="T", code=None, traceback="tb"
        ),
        not_before=AT,
        at=AT,
    )
    step_run.start(runner_id="me", at=AT)
    step_run.succeed(outputs=[{"text": "a"}, {"text": "b", "file": FILE}], at=AT)
    assert mappers.row_to_step(mappers.step_to_row(step_run)) == step_run


def test_files_and_logs() -> None:
    record = FileRecord(
        id="f", project_id="p", run_id="r", step_run_id=None, key="k", name="n", size_bytes=1,
        sha256="s", directory=True, created_at=AT,
    )  # fmt: skip
    assert mappers.row_to_file(mappers.file_to_row(record)) == record
    logs = StepLogs(
        step_run_id="s",
        attempt=2,
        lines=[LogLine(time=AT, stream="stdout", text="hi", level="")],
        truncated=True,
    )
    back = mappers.row_to_logs(mappers.logs_to_row(logs))
    assert back.lines == logs.lines and back.truncated and back.attempt == 2
