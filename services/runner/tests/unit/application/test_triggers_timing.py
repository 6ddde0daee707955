"""cron and emit-every on a fake clock: when they fire, once per time across processes, what
happens after downtime, bad settings at deploy time, undeploy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from oryx_runner.application.deployments import Deployments, DeployOrders
from oryx_runner.application.runs import DeploymentCache
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.application.triggers_supervisor import TriggerSupervisor
from oryx_runner.application.triggers_timing import EverySeconds, TimingDriver
from oryx_runner.domain.deployments import Deployment, DeploymentStatus
from oryx_runner.domain.runs import RunStatus
from oryx_runner.domain.workflows import BuiltinTrigger, Value, WorkflowSnapshot
from oryx_runner.infrastructure.triggers.cron import CroniterSchedules

from ...actions import trigger
from ...fakes import (
    FakeClock,
    FakeSite,
    FakeTimer,
    InMemoryDatabase,
    InMemoryDeployedTriggers,
    InMemoryUnitOfWork,
    SequentialIds,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Process:
    """One runner process: its timing driver and supervisor, on the shared database."""

    def __init__(self, world: World) -> None:
        world.processes.append(self)
        self.driver = TimingDriver(cron=CroniterSchedules(), clock=world.clock, timer=world.timer)
        self.supervisor = TriggerSupervisor(
            deployed=InMemoryDeployedTriggers(world.db),
            deployments=DeploymentCache(uow=world.uow),
            drivers={"cron": self.driver, "emit-every": self.driver},
            runs=world.runs,
        )


class World:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        self.clock = FakeClock()
        self.clock.current = T0
        self.timer = FakeTimer(self.clock)
        self.ids = SequentialIds()
        self.runs = TriggerRuns(uow=self.uow, clock=self.clock, ids=self.ids)
        self.processes: list[Process] = []
        self.first = Process(self)
        self.deployments = Deployments(
            uow=self.uow,
            site=FakeSite(),
            clock=self.clock,
            ids=self.ids,
            drivers={"cron": self.first.driver, "emit-every": self.first.driver},
        )
        self.orders = DeployOrders(clock=self.clock)
        self.deployed_at = T0

    async def __aenter__(self) -> World:
        return self

    async def __aexit__(self, *_: object) -> None:
        for process in self.processes:
            await process.supervisor.close()
            await process.driver.close()

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)

    async def deploy(self, kind: BuiltinTrigger, **config: Value) -> str:
        now = self.clock.current
        deployment = Deployment(
            id=f"d{len(self.db.deployments) + 1}", workflow_id="wf", project_id="p",
            revision=1, snapshot=WorkflowSnapshot(name="w", steps=(trigger(kind, **config),)),
            requested_by="u", requested_at=now, received_at=now,
        )  # fmt: skip
        async with self.uow() as uow:
            await self.orders.deploy(uow, deployment=deployment)
            await uow.commit()
        while await self.deployments.reconcile():
            pass
        return self.db.workflows["wf"].status.value

    async def undeploy(self) -> None:
        async with self.uow() as uow:
            await self.orders.undeploy(
                uow, workflow_id="wf", requested_at=self.clock.current, cancel_running=False
            )
            await uow.commit()

    def fired(self) -> list[str]:
        """The ``fired_at`` of every run, in the order they started."""
        runs = sorted(self.db.runs.values(), key=lambda r: r.submitted_at)
        out = []
        for run in runs:
            assert run.trigger in ("cron", "emit-every")
            trigger_step = next(s for s in self.db.steps.values() if s.run_id == run.id)
            out.append(str((trigger_step.outputs or [{}])[0]["fired_at"]))
        return out


def z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_every_n_seconds_counts_from_its_anchor() -> None:
    every = EverySeconds(seconds=10, anchor=T0)
    assert every.next_after(T0 - timedelta(seconds=5)) == T0 + timedelta(seconds=10)
    assert every.next_after(T0) == T0 + timedelta(seconds=10)
    assert every.next_after(T0 + timedelta(seconds=10)) == T0 + timedelta(seconds=20)
    assert every.next_after(T0 + timedelta(seconds=25)) == T0 + timedelta(seconds=30)
    assert every.latest(T0 + timedelta(seconds=9)) is None
    assert every.latest(T0 + timedelta(seconds=20)) == T0 + timedelta(seconds=20)


async def test_emit_every_fires_each_period_then_stops_on_undeploy() -> None:
    async with World() as world:
        assert await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=10) == "deployed"
        assert world.db.workflows["wf"].message == ""  # it fires: no "cannot fire yet"
        await world.first.supervisor.reconcile()
        await world.timer.advance(35)
        assert world.fired() == [z(T0 + timedelta(seconds=s)) for s in (10, 20, 30)]
        assert all(r.status is RunStatus.SUCCEEDED for r in world.db.runs.values())

        await world.undeploy()
        await world.first.supervisor.reconcile()
        assert world.first.driver.running == set()
        await world.timer.advance(60)
        assert len(world.fired()) == 3


async def test_two_processes_fire_each_time_once() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=5)
        second = Process(world)
        await world.first.supervisor.reconcile()
        await second.supervisor.reconcile()
        assert world.first.driver.running == second.driver.running == {"wf"}
        await world.timer.advance(21)
        assert world.fired() == [z(T0 + timedelta(seconds=s)) for s in (5, 10, 15, 20)]
        assert len(world.db.fires) == 4


async def test_emit_every_resumes_its_period_after_downtime() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=10)
        await world.first.supervisor.reconcile()
        await world.timer.advance(12)
        await world.first.supervisor.close()  # the runner stops...
        await world.timer.advance(45)  # ...and is down at 20, 30, 40, 50
        restarted = Process(world)
        await restarted.supervisor.reconcile()  # at 57
        await world.timer.advance(10)
        assert world.fired() == [z(T0 + timedelta(seconds=10)), z(T0 + timedelta(seconds=60))]


async def test_cron_fires_at_its_times_with_the_scheduled_time() -> None:
    async with World() as world:
        world.clock.current = T0 + timedelta(seconds=30)
        assert await world.deploy(BuiltinTrigger.CRON, cron="*/5 * * * *") == "deployed"
        await world.first.supervisor.reconcile()
        await world.timer.advance(4 * 60)  # 00:04:30: nothing yet (00:00 was before the deploy)
        assert world.fired() == []
        await world.timer.advance(6 * 60)  # 00:10:30
        assert world.fired() == [z(T0 + timedelta(minutes=5)), z(T0 + timedelta(minutes=10))]


async def test_cron_in_a_time_zone() -> None:
    async with World() as world:
        # 09:00 in Paris is 08:00 UTC in January
        await world.deploy(BuiltinTrigger.CRON, cron="0 9 * * *", timezone="Europe/Paris")
        await world.first.supervisor.reconcile()
        await world.timer.advance(9 * 3600)
        assert world.fired() == [z(T0 + timedelta(hours=8))]


async def test_cron_fires_once_for_the_latest_missed_time_never_a_burst() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.CRON, cron="*/5 * * * *")
        await world.first.supervisor.reconcile()
        await world.timer.advance(6 * 60)  # fires 00:05
        await world.first.supervisor.close()
        await world.timer.advance(57 * 60)  # down at 00:10 ... 01:00; now 01:03
        restarted = Process(world)
        await restarted.supervisor.reconcile()
        await world.timer.settle()
        assert world.fired() == [z(T0 + timedelta(minutes=5)), z(T0 + timedelta(minutes=60))]
        await world.timer.advance(3 * 60)  # 01:06: the schedule goes on
        assert world.fired()[-1] == z(T0 + timedelta(minutes=65))
        assert len(world.fired()) == 3


async def test_a_missed_time_that_did_fire_is_not_fired_again() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.CRON, cron="*/5 * * * *")
        await world.first.supervisor.reconcile()
        await world.timer.advance(5 * 60 + 1)  # fired 00:05
        await world.first.supervisor.close()
        restarted = Process(world)  # restarted at once, and a second process starts too
        other = Process(world)
        await restarted.supervisor.reconcile()
        await other.supervisor.reconcile()
        await world.timer.advance(60)
        assert world.fired() == [z(T0 + timedelta(minutes=5))]


async def test_a_new_deployment_replaces_the_driver() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=10)
        await world.first.supervisor.reconcile()
        await world.timer.advance(11)
        assert await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=100) == "deployed"
        await world.first.supervisor.reconcile()
        assert world.first.supervisor.running == {"wf": "d2"}
        await world.timer.advance(100)
        deployments = [r.deployment_id for r in world.db.runs.values()]
        assert deployments == ["d1", "d2"]


async def test_bad_settings_fail_the_deployment_with_a_clear_message() -> None:
    cases: list[tuple[BuiltinTrigger, dict[str, Value], str]] = [
        (BuiltinTrigger.EMIT_EVERY, {"seconds": 0}, "seconds must be a whole number"),
        (BuiltinTrigger.EMIT_EVERY, {}, "seconds must be a whole number"),
        (BuiltinTrigger.EMIT_EVERY, {"seconds": 1.5}, "seconds must be a whole number"),
        (BuiltinTrigger.CRON, {"cron": "61 * * * *"}, "is not a valid cron expression"),
        (BuiltinTrigger.CRON, {"cron": "* * *"}, "is not a 5-field cron expression"),
        (BuiltinTrigger.CRON, {"cron": "0 0 30 2 *"}, "never fires"),
        (BuiltinTrigger.CRON, {}, "the input cron is required"),
        (
            BuiltinTrigger.CRON,
            {"cron": "* * * * *", "timezone": "Mars/Olympus"},
            "'Mars/Olympus' is not an IANA time zone",
        ),
    ]
    for kind, config, expected in cases:
        async with World() as world:
            assert await world.deploy(kind, **config) == "error", (kind, config)
            state = world.db.workflows["wf"]
            assert expected in state.message, (config, state.message)
            await world.first.supervisor.reconcile()
            assert world.first.driver.running == set()


async def test_a_fire_the_database_refused_is_tried_again_with_the_same_key() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=60)
        calls: list[str] = []

        async def flaky(firing):  # type: ignore[no-untyped-def]
            calls.append(firing.fire_key)
            if len(calls) < 3:
                raise ConnectionError("the database is away")
            return await world.runs.fire(world.db.deployments["d1"], firing)

        await world.first.driver.start(world.db.deployments["d1"], flaky)
        await world.timer.advance(70)
        assert calls == [z(T0 + timedelta(seconds=60))] * 3
        assert world.fired() == [z(T0 + timedelta(seconds=60))]
        await world.first.driver.close()


async def test_a_fire_after_undeploy_starts_nothing() -> None:
    async with World() as world:
        await world.deploy(BuiltinTrigger.EMIT_EVERY, seconds=60)
        deployment = world.db.deployments["d1"]
        await world.undeploy()
        from oryx_runner.application.triggers import Firing

        assert await world.runs.fire(deployment, Firing(fire_key="k")) is None
        assert world.db.runs == {} and world.db.fires == {}
        assert world.db.workflows["wf"].status is DeploymentStatus.UNDEPLOYING
