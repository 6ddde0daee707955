"""Users' sources on fakes: runs from create_run (files included), errors, restarts with
backoff shown in the deployment's message, one runner per source (the lease)."""

from __future__ import annotations

from datetime import UTC, datetime

from oryx_runner.application.deployments import Deployments, DeployOrders
from oryx_runner.application.ports import ExecutionError, SiteUnavailable
from oryx_runner.application.runs import DeploymentCache
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.application.triggers_sources import (
    SourceDriver,
    SourceEnded,
    SourceRunCreated,
    SourceRunFailed,
    SourceSettings,
)
from oryx_runner.application.triggers_supervisor import TriggerSupervisor
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.events import DeploymentStatusChanged
from oryx_runner.domain.runs import RunStatus
from oryx_runner.domain.workflows import FileValue, OutputRef, ResultSpec, WorkflowSnapshot

from ...actions import io, source, step
from ...fakes import (
    FakeClock,
    FakeSourceSite,
    FakeTimer,
    InMemoryDatabase,
    InMemoryDeployedTriggers,
    InMemoryFilestore,
    InMemoryLeases,
    InMemoryUnitOfWork,
    SequentialIds,
    produced,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = source(
    "local:src",
    inputs=(io("seconds", "float"),),
    outputs=(io("index", "integer"), io("note", "file", optional=True)),
    seconds=2.5,
)
SNAPSHOT = WorkflowSnapshot(
    name="from a source",
    steps=(
        SOURCE,
        step("a", "append", {"append": "local:a"}, after=("trigger",), bind={"text": "x"}),
    ),
    results=(ResultSpec(key="index", source=OutputRef(step_id="trigger", output="index")),),
)
SETTINGS = SourceSettings(
    restart_base_seconds=1, restart_max_seconds=8, healthy_seconds=10, standby_seconds=5
)


class Process:
    def __init__(self, world: World) -> None:
        world.processes.append(self)
        self.driver = SourceDriver(
            site=world.site, leases=world.leases, filestore=world.filestore, runs=world.runs,
            clock=world.clock, timer=world.timer, ids=world.ids, settings=SETTINGS,
        )  # fmt: skip
        self.supervisor = TriggerSupervisor(
            deployed=InMemoryDeployedTriggers(world.db),
            deployments=DeploymentCache(uow=world.uow),
            drivers={"source": self.driver},
            runs=world.runs,
        )


class World:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        self.clock = FakeClock()
        self.clock.current = T0
        self.timer = FakeTimer(self.clock)
        self.ids = SequentialIds()
        self.site = FakeSourceSite()
        self.leases = InMemoryLeases()
        self.filestore = InMemoryFilestore()
        self.runs = TriggerRuns(uow=self.uow, clock=self.clock, ids=self.ids)
        self.processes: list[Process] = []
        self.first = Process(self)
        self.deployments = Deployments(
            uow=self.uow, site=self.site, clock=self.clock, ids=self.ids,
            drivers={"source": self.first.driver},
        )  # fmt: skip

    async def __aenter__(self) -> World:
        return self

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            await process.supervisor.close()
            await process.driver.close()

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)

    async def deploy(self, snapshot: WorkflowSnapshot = SNAPSHOT) -> str:
        deployment = Deployment(
            id="d1", workflow_id="wf", project_id="p", revision=1, snapshot=snapshot,
            requested_by="u", requested_at=T0, received_at=T0,
        )  # fmt: skip
        async with self.uow() as uow:
            await DeployOrders(clock=self.clock).deploy(uow, deployment=deployment)
            await uow.commit()
        while await self.deployments.reconcile():
            pass
        return self.db.workflows["wf"].status.value

    def runs_in_order(self) -> list:
        return sorted(self.db.runs.values(), key=lambda r: r.submitted_at)

    def trigger_outputs(self, run_id: str) -> dict:
        trigger = next(
            s for s in self.db.steps.values() if s.run_id == run_id and s.step_id == "trigger"
        )
        return dict((trigger.outputs or [{}])[0])

    def messages(self) -> list[str]:
        return [e.message for e in self.db.published if isinstance(e, DeploymentStatusChanged)]


async def test_deploying_a_source_workflow_deploys_the_source_too() -> None:
    async with World() as world:
        assert await world.deploy() == "deployed"
        assert sorted(world.site.deployed) == ["local:a", "local:src"]
        assert world.db.workflows["wf"].message == ""


async def test_a_source_without_an_artifact_fails_its_deployment() -> None:
    async with World() as world:
        bare = WorkflowSnapshot(name="bare", steps=(source(""),))
        assert await world.deploy(bare) == "error"
        assert "has no built artifact" in world.db.workflows["wf"].message


async def test_each_create_run_starts_a_run_with_typed_values_and_files() -> None:
    async with World() as world:
        world.site.scripts = [
            [
                SourceRunCreated(values={"index": 1}, replica="r1"),
                SourceRunCreated(
                    values={"index": 2, "note": produced("note.txt", staged="s-1"), "extra": 1},
                    replica="r1",
                ),
                "wait",
            ]
        ]
        await world.deploy()
        await world.first.supervisor.reconcile()
        await world.timer.settle()
        request = world.site.starts[0]
        assert request.inputs["seconds"].value == 2.5
        assert [o.name for o in request.outputs] == ["index", "note"]
        first, second = world.runs_in_order()
        assert (first.trigger, first.status) == ("source", RunStatus.RUNNING)
        assert world.trigger_outputs(first.id) == {"index": 1, "note": None}
        note = world.trigger_outputs(second.id)["note"]
        assert isinstance(note, FileValue) and note.name == "note.txt"
        assert note.key == f"projects/p/runs/{second.id}/inputs/note/note.txt"
        assert world.site.uploads == [("s-1", f"memory://put/{note.key}")]
        assert world.db.files[note.file_id].run_id == second.id
        # the next step is ready for the engine
        assert any(s.step_id == "a" and s.run_id == second.id for s in world.db.steps.values())


async def test_errors_of_the_source_are_failed_runs() -> None:
    async with World() as world:
        world.site.scripts = [
            [
                SourceRunFailed(message="the sensor is offline", code=7),
                SourceRunCreated(values={"index": "not a number"}, replica="r1"),
                "wait",
            ]
        ]
        await world.deploy()
        await world.first.supervisor.reconcile()
        await world.timer.settle()
        reported, invalid = world.runs_in_order()
        assert reported.status is RunStatus.FAILED and reported.error is not None
        assert (reported.error.message, reported.error.code) == ("the sensor is offline", 7)
        assert invalid.status is RunStatus.FAILED and invalid.error is not None
        assert invalid.error.kind.value == "invalid_output"
        assert "outputs.index: expected an integer" in invalid.error.message


async def test_a_source_that_ends_restarts_with_backoff_and_says_so_until_it_runs() -> None:
    async with World() as world:
        crash = SourceEnded(reason="crash", error=ExecutionError(message="Segmentation fault"))
        world.site.scripts = [
            [crash],
            [SiteUnavailable("the action's process did not answer")],
            [SourceEnded(reason="returned")],
            ["wait"],
        ]
        await world.deploy()
        await world.first.supervisor.reconcile()
        await world.timer.settle()
        assert len(world.site.starts) == 1
        state = world.db.workflows["wf"]
        assert state.status.value == "deployed"
        assert state.message == (
            "the source stopped: its process died: Segmentation fault; it restarts in 1 s"
        )
        await world.timer.advance(1)
        assert len(world.site.starts) == 2
        assert "restarts in 2 s" in world.db.workflows["wf"].message
        await world.timer.advance(2)
        assert len(world.site.starts) == 3
        assert world.db.workflows["wf"].message == (
            "the source stopped: run() returned; it restarts in 4 s"
        )
        await world.timer.advance(4)
        assert len(world.site.starts) == 4
        assert world.db.workflows["wf"].message != ""  # not yet running for long
        await world.timer.advance(10)
        assert world.db.workflows["wf"].message == ""
        assert world.messages()[-1] == ""  # announced, like any status change
        assert any("restarts in 4 s" in m for m in world.messages())


async def test_the_restart_delay_is_capped() -> None:
    async with World() as world:
        world.site.scripts = [[SourceEnded(reason="returned")] for _ in range(7)]
        await world.deploy()
        await world.first.supervisor.reconcile()
        for _ in range(6):
            await world.timer.advance(8)
        assert "restarts in 8 s" in world.db.workflows["wf"].message
        assert len(world.site.starts) == 8  # at 0, 1, 3, 7, 15, 23, 31, 39 s


async def test_one_process_runs_a_source_and_another_takes_over_when_it_is_lost() -> None:
    async with World() as world:
        world.site.scripts = [["wait"], ["wait"]]
        await world.deploy()
        second = Process(world)
        await world.first.supervisor.reconcile()
        await second.supervisor.reconcile()
        await world.timer.advance(12)
        assert len(world.site.starts) == 1
        assert world.first.driver.holding == {"wf"} and second.driver.holding == set()

        world.leases.held["wf"].lost.set()  # its database connection is gone
        await world.timer.advance(5)
        assert world.site.stopped == 1  # stopped at once: another may hold the lock now
        assert len(world.site.starts) == 2  # and run by one process again
        assert len(world.first.driver.holding) + len(second.driver.holding) == 1

        holder, other = (
            (world.first, second) if world.first.driver.holding else (second, world.first)
        )
        await holder.supervisor.close()  # the process that runs it stops
        await world.timer.advance(5)
        assert other.driver.holding == {"wf"}
        assert len(world.site.starts) == 3


async def test_undeploy_stops_the_source_at_once() -> None:
    async with World() as world:
        await world.deploy()
        await world.first.supervisor.reconcile()
        await world.timer.settle()
        assert len(world.site.starts) == 1
        async with world.uow() as uow:
            await DeployOrders(clock=world.clock).undeploy(
                uow, workflow_id="wf", requested_at=T0.replace(year=2027), cancel_running=False
            )
            await uow.commit()
        await world.first.supervisor.reconcile()
        assert world.site.stopped == 1
        assert world.leases.held == {}
