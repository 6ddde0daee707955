"""Triggers for real: emit-every fires every second until undeployed; users' sources
(examples/actions/emit-every and one-run) run in wrappers and start runs, files included."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import pytest

from oryx_runner.application.ports import RunFilter
from oryx_runner.domain.runs import RunStatus, WorkflowRun
from oryx_runner.domain.workflows import (
    BuiltinTrigger,
    FileValue,
    OutputRef,
    ResultSpec,
    WorkflowSnapshot,
)

from ..actions import io, make_example_artifacts, source, step, trigger
from .harness import Harness, running_runner


@pytest.fixture(scope="module")
def refs(artifacts) -> dict[str, str]:  # type: ignore[no-untyped-def]
    root, refs = artifacts
    return {**refs, **make_example_artifacts(root, ["emit-every", "one-run"])}


@pytest.fixture(scope="module")
async def runner(artifacts, refs, tmp_path_factory):  # type: ignore[no-untyped-def]
    root, _ = artifacts
    async with running_runner(
        artifacts_dir=root,
        work=tmp_path_factory.mktemp("triggers"),
        trigger_check_seconds=1,
        source_restart_base_seconds=0.5,
        source_restart_max_seconds=2,
        source_healthy_seconds=30,
        source_standby_seconds=1,
    ) as harness:
        yield harness


async def runs_of(runner: Harness, workflow_id: str) -> list[WorkflowRun]:
    page = await runner.runs.list(
        project_id=runner.project_id,
        filters=RunFilter(workflow_id=workflow_id),
        limit=100,
        cursor=None,
    )
    return sorted(page.items, key=lambda r: r.submitted_at)


async def wait_runs(runner: Harness, workflow_id: str, count: int, within: float) -> list:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        runs = await runs_of(runner, workflow_id)
        if len(runs) >= count:
            return runs
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id}: {len(runs)} runs after {within} s, not {count}")


async def trigger_outputs(runner: Harness, run_id: str) -> dict:
    detail = await runner.runs.get(project_id=runner.project_id, run_id=run_id)
    trigger_run = next(s for s in detail.steps if s.step_id == "trigger")
    return dict((trigger_run.outputs or [{}])[0])


async def test_emit_every_fires_every_second_until_undeployed(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="every second",
        steps=(
            trigger(BuiltinTrigger.EMIT_EVERY, seconds=1),
            step("s1", "append", refs, after=("trigger",), bind={"text": ("trigger", "fired_at")}),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="s1", output="text")),),
    )
    workflow = await runner.deploy(snapshot)
    view = await runner.container.deployments().get(
        project_id=runner.project_id, workflow_id=workflow
    )
    assert view.state.message == ""
    runs = await wait_runs(runner, workflow, 2, within=5)
    first, second = [await runner.wait(r.id) for r in runs[:2]]
    assert first.status is RunStatus.SUCCEEDED and first.trigger == "emit-every"
    fired = [datetime.fromisoformat(r.result["text"].rstrip("+")) for r in (first, second)]
    assert (fired[1] - fired[0]).total_seconds() == 1.0
    await runner.undeploy(workflow)
    count = len(await runs_of(runner, workflow))
    await asyncio.sleep(2.2)
    assert len(await runs_of(runner, workflow)) == count


async def test_a_source_makes_typed_runs_and_restarts_when_it_ends(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="from the emit-every example",
        steps=(
            source(
                refs["emit-every"],
                inputs=(io("seconds", "float"), io("max_runs", "integer")),
                outputs=(io("index", "integer"), io("time")),
                seconds=0.2,
                max_runs=2,
            ),
            step("s1", "append", refs, after=("trigger",), bind={"text": ("trigger", "time")}),
        ),
        results=(ResultSpec(key="index", source=OutputRef(step_id="trigger", output="index")),),
    )
    workflow = await runner.deploy(snapshot)
    runs = await wait_runs(runner, workflow, 2, within=20)
    done = [await runner.wait(r.id) for r in runs[:2]]
    assert [r.status for r in done] == [RunStatus.SUCCEEDED] * 2
    assert [r.result for r in done] == [{"index": 1}, {"index": 2}]
    assert all(r.trigger == "source" for r in done)
    # after two runs the example's run() returns: it is restarted, and the status says so
    deadline = time.monotonic() + 10
    message = ""
    while time.monotonic() < deadline and "run() returned" not in message:
        view = await runner.container.deployments().get(
            project_id=runner.project_id, workflow_id=workflow
        )
        message = view.state.message
        await asyncio.sleep(0.05)
    assert view.state.status.value == "deployed"
    assert message.startswith("the source stopped: run() returned; it restarts in")
    runs = await wait_runs(runner, workflow, 3, within=10)
    assert (await runner.wait(runs[2].id)).result == {"index": 1}  # a new start counts anew
    await runner.undeploy(workflow)
    await asyncio.sleep(0.5)
    count = len(await runs_of(runner, workflow))
    await asyncio.sleep(1.5)
    assert len(await runs_of(runner, workflow)) == count
    assert runner.container.source_driver().holding == set()


async def test_a_source_file_goes_through_the_filestore(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="from the one-run example",
        steps=(
            source(
                refs["one-run"],
                inputs=(io("message"),),
                outputs=(io("message"), io("note", "file")),
                message="bonjour",
            ),
            step("up", "upper", refs, after=("trigger",), bind={"data": ("trigger", "note")}),
        ),
        results=(ResultSpec(key="size", source=OutputRef(step_id="up", output="size")),),
    )
    workflow = await runner.deploy(snapshot)
    (first, *_) = await wait_runs(runner, workflow, 1, within=20)
    run = await runner.wait(first.id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.result == {"size": len("bonjour\n")}
    outputs = await trigger_outputs(runner, run.id)
    assert outputs["message"] == "bonjour"
    note = outputs["note"]
    assert isinstance(note, FileValue) and note.name == "note.txt"
    record, data = await runner.runs.file(project_id=runner.project_id, file_id=note.file_id)
    assert data == b"bonjour\n" and record.run_id == run.id
    await runner.undeploy(workflow)
