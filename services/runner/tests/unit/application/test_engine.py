"""The engine on fakes: DAG scheduling, failures, retries, cancel, recovery, fencing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from oryx_runner.application.engine import Engine, EngineSettings, Recovery
from oryx_runner.application.lifecycle import start_deployment_run
from oryx_runner.application.ports import (
    ActionUnavailable,
    ExecutionError,
    ExecutionOutcome,
    ExecutionStatus,
    ExecutionTimedOut,
    LogLine,
    RemoteFile,
    SiteUnavailable,
)
from oryx_runner.application.runs import DeploymentCache
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.runs import RunStatus, StepStatus, WorkflowRun
from oryx_runner.domain.workflows import (
    FileValue,
    OutputRef,
    ResultSpec,
    WorkflowSnapshot,
)

from ...actions import chain, io, step, trigger
from ...fakes import (
    FakeClock,
    FakeLiveness,
    FakeSite,
    InMemoryDatabase,
    InMemoryFilestore,
    InMemoryUnitOfWork,
    SequentialIds,
    produced,
)

REFS = {
    "append": "local:a",
    "join": "local:j",
    "fanout": "local:f",
    "fail": "local:x",
    "upper": "local:u",
    "split": "local:s",
}
AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class World:
    db: InMemoryDatabase
    site: FakeSite
    clock: FakeClock
    ids: SequentialIds
    filestore: InMemoryFilestore
    engine: Engine

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)

    async def deploy(self, snapshot: WorkflowSnapshot, deployment_id: str = "dep-1") -> Deployment:
        deployment = Deployment(
            id=deployment_id, workflow_id="wf", project_id="p1", revision=1, snapshot=snapshot,
            requested_by="u", requested_at=AT, received_at=AT,
        )  # fmt: skip
        self.db.deployments[deployment.id] = deployment
        return deployment

    async def start(self, deployment: Deployment, **given: object) -> WorkflowRun:
        async with self.uow() as uow:
            run = start_deployment_run(
                uow, deployment, trigger="manual", given=given, requested_by="u",  # type: ignore[arg-type]
                ids=self.ids, at=self.clock.now(),
            )  # fmt: skip
            await uow.commit()
        return run

    async def run_all(self, *, rounds: int = 100) -> None:
        """Claim and execute until nothing is left (moving the clock past retry delays)."""
        for _ in range(rounds):
            claimed, _room = await self.engine.claim_now()
            await self.engine.drain()
            if claimed:
                continue
            waiting = [s for s in self.db.steps.values() if s.status is StepStatus.READY]
            if not waiting:
                return
            self.clock.advance(60)
        raise AssertionError("the runs did not finish")

    def steps_of(self, run_id: str) -> list:
        return sorted(
            (s for s in self.db.steps.values() if s.run_id == run_id),
            key=lambda s: (s.submitted_at, s.id),
        )


def make_world(site: FakeSite | None = None, **settings: object) -> World:
    db = InMemoryDatabase()
    clock = FakeClock()
    ids = SequentialIds()
    fake_site = site or FakeSite()
    filestore = InMemoryFilestore()
    engine = Engine(
        uow=lambda: InMemoryUnitOfWork(db),
        site=fake_site,
        filestore=filestore,
        deployments=DeploymentCache(uow=lambda: InMemoryUnitOfWork(db)),
        clock=clock,
        ids=ids,
        settings=EngineSettings(runner_id="runner-1", **settings),  # type: ignore[arg-type]
        jitter=lambda: 1.0,
    )
    return World(db=db, site=fake_site, clock=clock, ids=ids, filestore=filestore, engine=engine)


def append(action, request):
    values = {k: v.value for k, v in request.inputs.items()}
    if action.name == "append":
        return {"text": f"{values['text']}{values.get('suffix') or '+'}"}
    if action.name == "fanout":
        return [{"text": f"{values['text']}#{i}", "index": i} for i in range(3)]
    if action.name == "join":
        return {"text": f"{values['left']}|{values['right']}"}
    return values


async def test_a_three_step_run_completes_with_its_result() -> None:
    world = make_world(FakeSite(append))
    deployment = await world.deploy(chain(REFS))
    run = await world.start(deployment, text="go")
    await world.run_all()
    finished = world.db.runs[run.id]
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.result == {"text": "go+++"}
    steps = world.steps_of(run.id)
    assert [(s.step_id, s.status.value, s.attempt) for s in steps] == [
        ("trigger", "succeeded", 1),
        ("s1", "succeeded", 1),
        ("s2", "succeeded", 1),
        ("s3", "succeeded", 1),
    ]
    assert steps[2].inputs == {"text": "go+"}
    # every change left an event, in order
    assert world.db.events_of(run.id) == [
        "run.created", "step.succeeded", "step.ready",
        "step.started", "step.succeeded", "step.ready",
        "step.started", "step.succeeded", "step.ready",
        "step.started", "step.succeeded", "run.succeeded",
    ]  # fmt: skip
    # the execution id is the step run id
    assert [r.execution_id for _, r in world.site.calls] == [s.id for s in steps[1:]]


async def test_fan_out_then_join_runs_one_join_per_branch() -> None:
    world = make_world(FakeSite(append))
    snapshot = WorkflowSnapshot(
        name="diamond",
        steps=(
            trigger(),
            step("a", "fanout", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("b", "append", REFS, after=("a",), bind={"text": ("a", "text")}),
            step("c", "append", REFS, after=("a",), bind={"text": ("a", "text"), "suffix": "!"}),
            step(
                "d",
                "join",
                REFS,
                after=("b", "c"),
                bind={"left": ("b", "text"), "right": ("c", "text")},
            ),
        ),
        results=(ResultSpec(key="joined", source=OutputRef(step_id="d", output="text")),),
    )
    deployment = await world.deploy(snapshot)
    run = await world.start(deployment, text="x")
    await world.run_all()
    finished = world.db.runs[run.id]
    assert finished.status is RunStatus.SUCCEEDED
    assert sorted(finished.result["joined"]) == ["x#0+|x#0!", "x#1+|x#1!", "x#2+|x#2!"]
    counts = {}
    for s in world.steps_of(run.id):
        counts[s.step_id] = counts.get(s.step_id, 0) + 1
    assert counts == {"trigger": 1, "a": 1, "b": 3, "c": 3, "d": 3}


async def test_parallel_branches_are_claimed_together() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()
    world = make_world(site)
    snapshot = WorkflowSnapshot(
        name="parallel",
        steps=(
            trigger(),
            step("b", "append", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step(
                "c",
                "append",
                REFS,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "suffix": "!"},
            ),
            step(
                "d",
                "join",
                REFS,
                after=("b", "c"),
                bind={"left": ("b", "text"), "right": ("c", "text")},
            ),
        ),
        results=(ResultSpec(key="joined", source=OutputRef(step_id="d", output="text")),),
    )
    run = await world.start(await world.deploy(snapshot), text="x")
    claimed, _ = await world.engine.claim_now()
    assert claimed == 2  # b and c at once
    await asyncio.sleep(0)
    assert len(site.calls) == 2
    site.gate.set()
    await world.engine.drain()
    await world.run_all()
    assert world.db.runs[run.id].result == {"joined": "x+|x!"}


async def test_a_user_error_fails_the_step_and_the_run_with_its_message_and_code() -> None:
    def script(action, request):
        if action.name == "fail":
            return ExecutionOutcome(
                status=ExecutionStatus.USER_ERROR,
                replica="r",
                error=ExecutionError(message="refused x", type="RyaxException", code=418),
                logs=[LogLine(time=AT, stream="stdout", text="about to fail")],
            )
        return append(action, request)

    world = make_world(FakeSite(script))
    snapshot = WorkflowSnapshot(
        name="w",
        steps=(
            trigger(),
            step("ok", "append", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("bad", "fail", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("after", "append", REFS, after=("bad",), bind={"text": ("bad", "text")}),
        ),
    )
    run = await world.start(await world.deploy(snapshot), text="x")
    await world.run_all()
    finished = world.db.runs[run.id]
    assert finished.status is RunStatus.FAILED
    assert finished.error is not None
    assert (finished.error.message, finished.error.code, finished.error.step_id) == (
        "refused x",
        418,
        "bad",
    )
    bad = next(s for s in world.steps_of(run.id) if s.step_id == "bad")
    assert (
        bad.status is StepStatus.FAILED
        and bad.error is not None
        and bad.error.type == "RyaxException"
    )
    assert not any(s.step_id == "after" for s in world.steps_of(run.id))
    assert [
        line.text for log in world.db.logs if log.step_run_id == bad.id for line in log.lines
    ] == ["about to fail"]


async def test_transient_failures_are_retried_with_backoff_and_the_same_execution_id() -> None:
    failures = {"left": 2}

    def script(action, request):
        if failures["left"]:
            failures["left"] -= 1
            return SiteUnavailable("the wrapper restarted")
        return append(action, request)

    world = make_world(FakeSite(script), retry_base_seconds=1.0, retry_max_seconds=5.0)
    run = await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    _claimed, _ = await world.engine.claim_now()
    await world.engine.drain()
    s1 = next(s for s in world.steps_of(run.id) if s.step_id == "s1")
    assert s1.status is StepStatus.READY and s1.attempt == 1
    assert s1.not_before is not None and s1.not_before > world.clock.current  # backoff
    assert s1.error is not None and "restarted" in s1.error.message
    await world.run_all()
    s1 = next(s for s in world.steps_of(run.id) if s.step_id == "s1")
    assert s1.status is StepStatus.SUCCEEDED and s1.attempt == 3
    assert {r.execution_id for _, r in world.site.calls} == {s1.id}
    assert world.db.events_of(run.id).count("step.retrying") == 2


async def test_a_step_that_keeps_failing_transiently_fails_after_max_attempts() -> None:
    world = make_world(FakeSite(lambda a, r: SiteUnavailable("down")), max_attempts=3)
    run = await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    await world.run_all()
    finished = world.db.runs[run.id]
    assert finished.status is RunStatus.FAILED
    assert finished.error is not None and "gave up after 3 attempts" in finished.error.message
    assert len(world.site.calls) == 3


@pytest.mark.parametrize(
    ("raised", "kind"),
    [(ActionUnavailable("no artifact"), "site_error"), (ExecutionTimedOut("too long"), "timeout")],
)
async def test_permanent_site_errors_fail_at_once(raised: Exception, kind: str) -> None:
    world = make_world(FakeSite(lambda a, r: raised))
    run = await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    await world.run_all()
    assert world.db.runs[run.id].error is not None
    assert world.db.runs[run.id].error.kind.value == kind
    assert len(world.site.calls) == 1


async def test_cancelling_a_run_stops_its_running_steps() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()
    world = make_world(site)
    run = await world.start(await world.deploy(chain(REFS, length=2)), text="x")
    await world.engine.claim_now()
    await asyncio.sleep(0)
    from oryx_runner.application.lifecycle import cancel_run

    async with world.uow() as uow:
        locked = await uow.runs.lock(run.id)
        await cancel_run(uow, locked, at=world.clock.now(), reason="canceled by a user")
        await uow.commit()
    world.engine.cancel_run(run.id)
    await world.engine.drain()
    assert site.aborted == [world.steps_of(run.id)[1].id]
    assert world.db.runs[run.id].status is RunStatus.CANCELED
    assert [s.status.value for s in world.steps_of(run.id)] == ["succeeded", "canceled"]


async def test_an_answer_for_a_step_no_longer_ours_is_dropped() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()
    world = make_world(site)
    run = await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    await world.engine.claim_now()
    await asyncio.sleep(0)
    # meanwhile, recovery gave the step to another runner, which claimed it again
    async with world.uow() as uow:
        (s1,) = await uow.steps.running_claimed_by(["runner-1"])
        s1.recover(at=world.clock.now())
        s1.start(runner_id="runner-2", at=world.clock.now())
        await uow.commit()
    site.gate.set()
    await world.engine.drain()
    assert world.engine.stats.fenced == 1
    s1 = world.steps_of(run.id)[1]
    assert s1.status is StepStatus.RUNNING and s1.claimed_by == "runner-2"


async def test_recovery_hands_back_the_steps_of_a_dead_runner_after_the_grace() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()
    world = make_world(site)
    run = await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    await world.engine.claim_now()
    await asyncio.sleep(0)
    first_id = site.calls[0][1].execution_id
    # runner-1 dies: its task never completes
    for task, _ in list(world.engine._tasks.values()):
        task.cancel()
    await asyncio.sleep(0)
    liveness = FakeLiveness(["runner-2"])
    recovery = Recovery(
        uow=world.uow,
        liveness=liveness,
        clock=world.clock,
        runner_id="runner-2",
        grace_seconds=0.05,
    )
    assert await recovery.sweep() == 0  # suspected, not yet dead
    await asyncio.sleep(0.06)
    assert await recovery.sweep() == 1
    s1 = world.steps_of(run.id)[1]
    assert s1.status is StepStatus.READY and s1.attempt == 1
    # another runner takes it and sends it with the same execution id
    site.gate.set()
    world.engine.settings = EngineSettings(runner_id="runner-2")
    await world.run_all()
    assert world.db.runs[run.id].status is RunStatus.SUCCEEDED
    assert [r.execution_id for _, r in site.calls] == [first_id, first_id]
    assert "step.recovered" in world.db.events_of(run.id)


async def test_a_live_runner_keeps_its_steps() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()
    world = make_world(site)
    await world.start(await world.deploy(chain(REFS, length=1)), text="x")
    await world.engine.claim_now()
    recovery = Recovery(
        uow=world.uow,
        liveness=FakeLiveness(["runner-1"]),
        clock=world.clock,
        runner_id="runner-2",
        grace_seconds=0,
    )
    assert await recovery.sweep() == 0
    # nor does a runner take back its own steps when its liveness blips
    myself = Recovery(
        uow=world.uow,
        liveness=FakeLiveness([]),
        clock=world.clock,
        runner_id="runner-1",
        grace_seconds=0,
    )
    assert await myself.sweep() == 0
    site.gate.set()
    await world.engine.drain()


async def test_files_travel_as_presigned_urls_and_come_back_as_tracked_files() -> None:
    def script(action, request):
        if action.name == "split":
            return ExecutionOutcome(
                status=ExecutionStatus.SUCCESS,
                replica="replica-7",
                output_sets=[
                    {"part": produced("part0.txt", url=request.output_uploads["part"][0])},
                    {"part": produced("part1.txt", staged="staged-1")},
                ],
            )
        assert isinstance(request.inputs["data"].value, RemoteFile)
        return {"data": produced("UPPER.txt", url=request.output_uploads["data"][0]), "size": 3}

    world = make_world(FakeSite(script))
    snapshot = WorkflowSnapshot(
        name="files",
        steps=(
            trigger(outputs=(io("text"),)),
            step("split", "split", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("upper", "upper", REFS, after=("split",), bind={"data": ("split", "part")}),
        ),
        results=(ResultSpec(key="data", source=OutputRef(step_id="upper", output="data")),),
    )
    run = await world.start(await world.deploy(snapshot), text="a b")
    await world.run_all()
    finished = world.db.runs[run.id]
    assert finished.status is RunStatus.SUCCEEDED
    split = next(s for s in world.steps_of(run.id) if s.step_id == "split")
    prefix = f"projects/p1/runs/{run.id}/steps/{split.id}/outputs"
    # the first set's file went to the URL given; the second was staged, then uploaded
    assert world.site.uploads == [("staged-1", f"memory://put/{prefix}/1/part")]
    files = [v["part"] for v in split.outputs or []]
    assert [f.key for f in files] == [f"{prefix}/0/part", f"{prefix}/1/part"]
    assert all(isinstance(f, FileValue) and f.file_id in world.db.files for f in files)
    uppers = [s for s in world.steps_of(run.id) if s.step_id == "upper"]
    assert len(uppers) == 2
    urls = [r.inputs["data"].value.url for _, r in world.site.calls if "data" in r.inputs]
    assert urls == [f"memory://get/{prefix}/0/part", f"memory://get/{prefix}/1/part"]
    assert len(finished.result["data"]) == 2


async def test_a_stopping_engine_hands_back_what_it_took_counting_only_sent_attempts() -> None:
    site = FakeSite(append)
    site.gate = asyncio.Event()  # executions wait: the first step is sent, never answered
    world = make_world(site, shutdown_grace_seconds=0.01)
    deployment = await world.deploy(chain(REFS))
    sent_run = await world.start(deployment, text="sent")
    await world.engine.claim_now()
    await asyncio.sleep(0)  # the execution task sends its request
    taken_run = await world.start(deployment, text="taken")
    async with world.uow() as uow:  # taken by this runner in a transaction, never launched
        (never_sent,) = [
            s for s in await uow.steps.active_of_run(taken_run.id) if s.status is StepStatus.READY
        ]
        never_sent.start(runner_id="runner-1", at=world.clock.now())
        await uow.commit()
    await world.engine.stop()
    attempts = {
        s.run_id: (s.status, s.attempt, s.claimed_by)
        for s in world.db.steps.values()
        if s.step_id == "s1"
    }
    assert attempts[sent_run.id] == (StepStatus.READY, 1, None)
    assert attempts[taken_run.id] == (StepStatus.READY, 0, None)
