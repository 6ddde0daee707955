"""Runs end to end on the local site: real wrapper processes around the test actions."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from oryx_runner.domain.runs import RunStatus, StepStatus
from oryx_runner.domain.workflows import OutputRef, ResultSpec, WorkflowSnapshot

from ..actions import chain, step, trigger
from .harness import Harness, running_runner


@pytest.fixture(scope="module")
async def runner(artifacts, tmp_path_factory):  # type: ignore[no-untyped-def]
    root, _ = artifacts
    async with running_runner(
        artifacts_dir=root, work=tmp_path_factory.mktemp("runner")
    ) as harness:
        yield harness


@pytest.fixture(scope="module")
def refs(artifacts) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return artifacts[1]


async def steps_of(runner: Harness, run_id: str) -> list:
    return list((await runner.runs.get(project_id=runner.project_id, run_id=run_id)).steps)


async def test_a_three_step_run_end_to_end(runner: Harness, refs) -> None:
    workflow = await runner.deploy(chain(refs))
    run_id = await runner.start(workflow, text="go")
    run = await runner.wait(run_id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.result == {"text": "go+++"}
    steps = await steps_of(runner, run_id)
    assert [(s.step_id, s.status.value) for s in steps] == [
        ("trigger", "succeeded"), ("s1", "succeeded"), ("s2", "succeeded"), ("s3", "succeeded")
    ]  # fmt: skip
    assert all(s.started_at and s.ended_at for s in steps)
    executions = runner.executions()
    assert all(executions[s.id] == 1 for s in steps[1:])


async def test_a_fan_out_continues_each_item_as_its_own_branch(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="fan-out",
        steps=(
            trigger(),
            step(
                "a",
                "fanout",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "count": 4},
            ),
            step("b", "append", refs, after=("a",), bind={"text": ("a", "text")}),
            step("c", "append", refs, after=("a",), bind={"text": ("a", "text"), "suffix": "!"}),
            step(
                "d",
                "join",
                refs,
                after=("b", "c"),
                bind={"left": ("b", "text"), "right": ("c", "text")},
            ),
        ),
        results=(ResultSpec(key="joined", source=OutputRef(step_id="d", output="text")),),
    )
    workflow = await runner.deploy(snapshot)
    run = await runner.wait(await runner.start(workflow, text="x"))
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert sorted(run.result["joined"]) == [f"x#{i}+|x#{i}!" for i in range(4)]
    steps = await steps_of(runner, run.id)
    assert sorted(s.step_id for s in steps).count("d") == 4


async def test_parallel_branches_run_at_the_same_time(runner: Harness, refs) -> None:
    branches = [
        step(
            f"b{i}",
            "sleep",
            refs,
            after=("trigger",),
            bind={"text": ("trigger", "text"), "seconds": 0.6},
        )
        for i in range(3)
    ]
    snapshot = WorkflowSnapshot(name="parallel", steps=(trigger(), *branches))
    workflow = await runner.deploy(snapshot)
    # warm: the site starts replicas as work waits, so measure a second run
    await runner.wait(await runner.start(workflow, text="warm"))
    started = time.monotonic()
    run = await runner.wait(await runner.start(workflow, text="x"))
    elapsed = time.monotonic() - started
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert elapsed < 1.6, f"3 branches of 0.6 s took {elapsed:.2f} s: not in parallel"
    steps = await steps_of(runner, run.id)
    starts = sorted(s.started_at for s in steps if s.step_id != "trigger")
    assert (starts[-1] - starts[0]).total_seconds() < 0.5


async def test_a_user_error_fails_the_run_with_the_message_and_code(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="fails",
        steps=(
            trigger(),
            step("ok", "append", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("bad", "fail", refs, after=("ok",), bind={"text": ("ok", "text")}),
            step("never", "append", refs, after=("bad",), bind={"text": ("bad", "text")}),
        ),
    )
    workflow = await runner.deploy(snapshot)
    run = await runner.wait(await runner.start(workflow, text="x"))
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert (run.error.message, run.error.code, run.error.kind.value) == (
        "refused x+",
        418,
        "user_error",
    )
    steps = await steps_of(runner, run.id)
    bad = next(s for s in steps if s.step_id == "bad")
    assert bad.status is StepStatus.FAILED and bad.attempt == 1
    assert bad.error.type == "RyaxException" and "refused" in bad.error.traceback
    assert not any(s.step_id == "never" for s in steps)
    logs = await runner.runs.logs(project_id=runner.project_id, run_id=run.id, step_run_id=bad.id)
    assert [line.text for line in logs[0].lines if line.stream == "stdout"] == ["about to fail"]


async def test_a_step_past_its_time_limit_fails_with_a_timeout(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="slow",
        steps=(
            trigger(),
            step(
                "slow",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 30.0},
                time_seconds=1,
            ),
        ),
    )
    workflow = await runner.deploy(snapshot)
    started = time.monotonic()
    run = await runner.wait(await runner.start(workflow, text="x"))
    assert time.monotonic() - started < 10
    assert run.status is RunStatus.FAILED
    assert run.error is not None and run.error.kind.value == "timeout", run.error
    assert "1 s" in run.error.message


async def test_cancel_stops_the_running_step(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="long",
        steps=(
            trigger(),
            step(
                "long",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 1.8},
            ),
            step("after", "append", refs, after=("long",), bind={"text": ("long", "text")}),
        ),
    )
    workflow = await runner.deploy(snapshot)
    run_id = await runner.start(workflow, text="x")
    for _ in range(200):
        steps = await steps_of(runner, run_id)
        if any(s.step_id == "long" and s.status is StepStatus.RUNNING for s in steps):
            break
        await asyncio.sleep(0.02)
    long_step = next(s for s in steps if s.step_id == "long")
    await asyncio.sleep(0.3)  # inside the handler
    pids = {r["wrapper_pid"] for r in runner.site.replicas_of(refs["sleep"]) if r["busy"]}
    await runner.runs.cancel(project_id=runner.project_id, run_id=run_id)
    run = await runner.wait(run_id)
    assert run.status is RunStatus.CANCELED
    steps = await steps_of(runner, run_id)
    assert [s.status.value for s in steps] == ["succeeded", "canceled"]
    # the execution was stopped: the process that ran it is gone
    await asyncio.sleep(0.5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert runner.executions()[long_step.id] == 1


async def test_a_crashed_wrapper_is_restarted_and_the_step_retried(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="crash",
        steps=(
            trigger(),
            step(
                "victim",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 1.0},
            ),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="victim", output="text")),),
    )
    workflow = await runner.deploy(snapshot)
    run_id = await runner.start(workflow, text="survivor")
    victim = None
    for _ in range(300):
        busy = [r for r in runner.site.replicas_of(refs["sleep"]) if r["busy"]]
        if busy:
            victim = busy[0]
            break
        await asyncio.sleep(0.01)
    assert victim is not None
    await asyncio.sleep(0.2)
    os.kill(victim["wrapper_pid"], signal.SIGKILL)
    run = await runner.wait(run_id)
    assert run.status is RunStatus.SUCCEEDED, run.error
    assert run.result == {"text": "survivor"}
    (_, s) = await steps_of(runner, run_id)
    assert s.attempt == 2 and s.status is StepStatus.SUCCEEDED
    assert victim["id"] not in {r["id"] for r in runner.site.replicas_of(refs["sleep"])}


async def test_files_in_and_out_through_the_filestore(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="files",
        steps=(
            trigger(),
            step("split", "split", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("upper", "upper", refs, after=("split",), bind={"data": ("split", "part")}),
        ),
        results=(ResultSpec(key="data", source=OutputRef(step_id="upper", output="data")),),
    )
    workflow = await runner.deploy(snapshot)
    run = await runner.wait(await runner.start(workflow, text="hello files"))
    assert run.status is RunStatus.SUCCEEDED, run.error
    uppers = [s for s in await steps_of(runner, run.id) if s.step_id == "upper"]
    contents = []
    for upper in uppers:
        produced = upper.outputs[0]["data"]
        record, data = await runner.runs.file(
            project_id=runner.project_id, file_id=produced.file_id
        )
        assert record.run_id == run.id and produced.name.startswith("UPPER-part")
        contents.append(data)
    assert sorted(contents) == [b"FILES", b"HELLO"]
    assert sorted(upper.outputs[0]["size"] for upper in uppers) == [5, 5]
    # deleting the run deletes its files
    files = runner.container.filestore()
    keys = [u.outputs[0]["data"].key for u in uppers]
    assert all([await files.exists(k) for k in keys])
    await runner.runs.delete(project_id=runner.project_id, run_id=run.id)
    assert not any([await files.exists(k) for k in keys])


async def test_an_action_that_cannot_load_makes_the_deployment_fail(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="broken",
        steps=(
            trigger(),
            step("b", "broken", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
        ),
    )
    workflow = await runner.deploy(snapshot, expect="error")
    view = await runner.wait_status(workflow, "error")
    assert "not_a_module_anywhere" in view.state.message
    missing = WorkflowSnapshot(
        name="missing",
        steps=(
            trigger(),
            step(
                "m",
                "append",
                {"append": "local:no-such-digest"},
                after=("trigger",),
                bind={"text": ("trigger", "text")},
            ),
        ),
    )
    workflow = await runner.deploy(missing, expect="error")
    view = await runner.wait_status(workflow, "error")
    assert "no-such-digest" in view.state.message


async def test_presigned_urls_of_the_local_filestore_are_served(runner: Harness) -> None:
    from datetime import timedelta

    files = runner.container.filestore()
    await files.put("projects/p/check.txt", b"ok")
    url = await files.presign_get("projects/p/check.txt", expires=timedelta(minutes=1))
    assert url.startswith(f"{runner.url}/runner/filestore/")
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).content == b"ok"
        assert (await client.get(url.replace("signature=", "signature=x"))).status_code == 403


async def test_one_run_fires_once_when_deployed(runner: Harness, refs) -> None:
    from oryx_runner.domain.workflows import BuiltinTrigger

    snapshot = WorkflowSnapshot(
        name="once",
        steps=(
            trigger(BuiltinTrigger.ONE_RUN),
            step("s1", "append", refs, after=("trigger",), bind={"text": ("trigger", "fired_at")}),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="s1", output="text")),),
    )
    workflow = await runner.deploy(snapshot)
    from oryx_runner.application.ports import RunFilter

    for _ in range(200):
        page = await runner.runs.list(
            project_id=runner.project_id,
            filters=RunFilter(workflow_id=workflow),
            limit=10,
            cursor=None,
        )
        if page.items:
            break
        await asyncio.sleep(0.02)
    (run,) = page.items
    assert run.trigger == "one-run"
    finished = await runner.wait(run.id)
    assert finished.status is RunStatus.SUCCEEDED and finished.result["text"].endswith("Z+")
    await asyncio.sleep(0.3)
    again = await runner.runs.list(
        project_id=runner.project_id, filters=RunFilter(workflow_id=workflow), limit=10, cursor=None
    )
    assert again.total == 1


async def test_undeploy_with_cancel_running_stops_the_runs_in_flight(runner: Harness, refs) -> None:
    snapshot = WorkflowSnapshot(
        name="long",
        steps=(
            trigger(),
            step(
                "long",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 1.5},
            ),
        ),
    )
    workflow = await runner.deploy(snapshot)
    kept = await runner.start(workflow, text="kept")
    await asyncio.sleep(0.2)
    await runner.undeploy(workflow)
    assert (await runner.wait(kept)).status is RunStatus.SUCCEEDED  # finishes on its version
    await runner.deploy(snapshot, workflow_id=workflow, revision=2)
    stopped = await runner.start(workflow, text="stopped")
    await asyncio.sleep(0.3)
    await runner.undeploy(workflow, cancel_running=True)
    run = await runner.wait(stopped)
    assert run.status is RunStatus.CANCELED and "undeployed" in run.error.message


async def test_database_connections_dropped_mid_run(runner: Harness, refs) -> None:
    from sqlalchemy import text

    snapshot = WorkflowSnapshot(
        name="drops",
        steps=(
            trigger(),
            step(
                "a",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 0.3},
            ),
            step("b", "sleep", refs, after=("a",), bind={"text": ("a", "text"), "seconds": 0.3}),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="b", output="text")),),
    )
    workflow = await runner.deploy(snapshot)
    run_ids = [await runner.start(workflow, text=f"r{i}") for i in range(6)]
    await asyncio.sleep(0.4)
    database = runner.settings.database_url.rsplit("/", 1)[1]
    from sqlalchemy.ext.asyncio import create_async_engine

    from oryx_runner.infrastructure.database.engine import async_url

    from ..conftest import POSTGRES_URL

    admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        dropped = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"
            ),
            {"db": database},
        )
    await admin.dispose()
    assert dropped >= 1
    for run_id in run_ids:
        run = await runner.wait(run_id)
        assert run.status is RunStatus.SUCCEEDED, run.error
    executions = runner.executions()
    for run_id in run_ids:
        for s in await steps_of(runner, run_id):
            if s.step_id != "trigger":
                if executions[s.id] != 1:
                    _, evs = await runner.runs.events(
                        project_id=runner.project_id, run_id=run_id, after_id=0
                    )
                    print(
                        [
                            (e.event.type.value, e.event.step_run_id == s.id, e.event.data)
                            for e in evs
                        ]
                    )
                assert executions[s.id] == 1, (s.step_id, s.attempt)


async def test_a_deleted_project_takes_its_runs_and_files(runner: Harness, refs) -> None:
    from oryx_runner.infrastructure.messaging.generated.authorization.v1 import events_pb2

    snapshot = WorkflowSnapshot(
        name="files",
        steps=(
            trigger(),
            step("split", "split", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
        ),
    )
    project = f"doomed-{os.getpid()}"
    workflow = await runner.deploy(snapshot, project_id=project)
    run_id = await runner.start(workflow, project_id=project, text="a b")
    await runner.wait(run_id, project_id=project)
    (_, split) = (await runner.runs.get(project_id=project, run_id=run_id)).steps
    keys = [o["part"].key for o in split.outputs]
    files = runner.container.filestore()
    assert all([await files.exists(k) for k in keys])
    body = events_pb2.ProjectDeleted(project_id=project).SerializeToString()
    await runner.container.broker().publish(
        exchange=runner.settings.authorization_exchange,
        routing_key="authorization.project.deleted.v1",
        message_id=f"deleted-{project}",
        message_type="oryx.authorization.v1.ProjectDeleted",
        body=body,
    )
    from oryx_runner.domain.errors import NotFound

    for _ in range(200):
        try:
            await runner.runs.get(project_id=project, run_id=run_id)
        except NotFound:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the run is still there")
    assert not any([await files.exists(k) for k in keys])
    with pytest.raises(NotFound):
        await runner.container.deployments().get(project_id=project, workflow_id=workflow)
