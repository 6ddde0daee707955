"""Manual runs, results, cancel and delete: on fakes."""

from datetime import UTC, datetime

import pytest

from oryx_runner.application.runs import DeploymentCache, ResultState, Runs, UploadedFile
from oryx_runner.domain.deployments import Deployment, DeploymentStatus, WorkflowDeployment
from oryx_runner.domain.errors import Conflict, InvalidValue, NotFound
from oryx_runner.domain.runs import RunStatus
from oryx_runner.domain.workflows import FileValue, WorkflowSnapshot

from ...actions import chain, io, step, trigger
from ...fakes import (
    FakeClock,
    InMemoryDatabase,
    InMemoryFilestore,
    InMemoryUnitOfWork,
    SequentialIds,
)

REFS = {"append": "local:a", "upper": "local:u"}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def world(snapshot: WorkflowSnapshot, status: DeploymentStatus = DeploymentStatus.DEPLOYED):
    db = InMemoryDatabase()
    deployment = Deployment(
        id="d1", workflow_id="wf", project_id="p1", revision=1, snapshot=snapshot,
        requested_by="u", requested_at=AT, received_at=AT,
    )  # fmt: skip
    db.deployments["d1"] = deployment
    db.workflows["wf"] = WorkflowDeployment(
        workflow_id="wf", project_id="p1", deployment_id="d1", revision=1, status=status,
        message="", sequence=2, requested_at=AT, changed_at=AT,
    )  # fmt: skip
    filestore = InMemoryFilestore()
    runs = Runs(
        uow=lambda: InMemoryUnitOfWork(db),
        deployments=DeploymentCache(uow=lambda: InMemoryUnitOfWork(db)),
        filestore=filestore,
        clock=FakeClock(),
        ids=SequentialIds(),
    )
    return db, filestore, runs


async def test_a_manual_run_checks_its_values_and_starts() -> None:
    db, _, runs = world(chain(REFS))
    run = await runs.start_manual(
        project_id="p1", workflow_id="wf", values={"text": "hi"}, files={}, requested_by="u"
    )
    assert db.runs[run.id].status is RunStatus.RUNNING and run.trigger == "manual"
    with pytest.raises(InvalidValue) as caught:
        await runs.start_manual(
            project_id="p1", workflow_id="wf", values={"text": 3}, files={}, requested_by="u"
        )
    assert caught.value.field == "inputs.text"
    with pytest.raises(InvalidValue):
        await runs.start_manual(
            project_id="p1", workflow_id="wf", values={}, files={}, requested_by="u"
        )
    assert len(db.runs) == 1


async def test_only_a_deployed_workflow_of_the_project_runs() -> None:
    _, _, runs = world(chain(REFS), status=DeploymentStatus.UNDEPLOYED)
    with pytest.raises(Conflict):
        await runs.start_manual(
            project_id="p1", workflow_id="wf", values={"text": "x"}, files={}, requested_by="u"
        )
    with pytest.raises(NotFound):
        await runs.start_manual(
            project_id="p2", workflow_id="wf", values={"text": "x"}, files={}, requested_by="u"
        )


async def test_files_are_stored_under_the_run_and_removed_with_it() -> None:
    snapshot = WorkflowSnapshot(
        name="f",
        steps=(
            trigger(outputs=(io("data", "file"),)),
            step("u", "upper", REFS, after=("trigger",), bind={"data": ("trigger", "data")}),
        ),
    )
    db, filestore, runs = world(snapshot)
    upload = UploadedFile(name="../notes.txt", data=b"abc")
    with pytest.raises(InvalidValue):
        await runs.start_manual(
            project_id="p1", workflow_id="wf", values={}, files={"other": upload}, requested_by="u"
        )
    run = await runs.start_manual(
        project_id="p1", workflow_id="wf", values={}, files={"data": upload}, requested_by="u"
    )
    key = f"projects/p1/runs/{run.id}/inputs/data/notes.txt"
    assert filestore.objects == {key: b"abc"}
    first = next(s for s in db.steps.values() if s.step_id == "u")
    assert isinstance(first.inputs["data"], FileValue) and first.inputs["data"].key == key
    record, data = await runs.file(project_id="p1", file_id=first.inputs["data"].file_id)
    assert data == b"abc" and record.name == "notes.txt"
    with pytest.raises(NotFound):
        await runs.file(project_id="p2", file_id=first.inputs["data"].file_id)
    with pytest.raises(Conflict):
        await runs.delete(project_id="p1", run_id=run.id)  # still running
    await runs.cancel(project_id="p1", run_id=run.id)
    assert (await runs.result(project_id="p1", run_id=run.id)).state is ResultState.FAILED
    with pytest.raises(Conflict):
        await runs.cancel(project_id="p1", run_id=run.id)
    await runs.delete(project_id="p1", run_id=run.id)
    assert filestore.objects == {} and run.id not in db.runs
    with pytest.raises(NotFound):
        await runs.result(project_id="p1", run_id=run.id)


async def test_a_failed_start_leaves_no_file_behind() -> None:
    snapshot = WorkflowSnapshot(
        name="f",
        steps=(
            trigger(outputs=(io("data", "file"), io("n", "integer"))),
            step("u", "upper", REFS, after=("trigger",), bind={"data": ("trigger", "data")}),
        ),
    )
    _, filestore, runs = world(snapshot)
    with pytest.raises(InvalidValue):
        await runs.start_manual(
            project_id="p1",
            workflow_id="wf",
            values={"n": "x"},
            files={"data": UploadedFile(name="a", data=b"1")},
            requested_by="u",
        )
    assert filestore.objects == {}
