"""Deploy orders, the reconciler, one-run, undeploy: on fakes."""

from datetime import UTC, datetime, timedelta

from oryx_runner.application.deployments import Deployments, DeployOrders
from oryx_runner.application.ports import ActionUnavailable
from oryx_runner.domain.deployments import Deployment, DeploymentStatus
from oryx_runner.domain.runs import RunStatus
from oryx_runner.domain.workflows import BuiltinTrigger, WorkflowSnapshot

from ...actions import chain, step, trigger
from ...fakes import FakeClock, FakeSite, InMemoryDatabase, InMemoryUnitOfWork, SequentialIds

REFS = {"append": "local:a"}
AT = datetime(2026, 1, 1, tzinfo=UTC)


def order(
    deployment_id: str, snapshot: WorkflowSnapshot, *, minutes: int = 0, revision: int = 1
) -> Deployment:
    return Deployment(
        id=deployment_id, workflow_id="wf", project_id="p1", revision=revision, snapshot=snapshot,
        requested_by="u", requested_at=AT + timedelta(minutes=minutes), received_at=AT,
    )  # fmt: skip


class World:
    def __init__(self, site: FakeSite | None = None) -> None:
        self.db = InMemoryDatabase()
        self.clock = FakeClock()
        self.site = site or FakeSite()
        self.orders = DeployOrders(clock=self.clock)
        self.deployments = Deployments(
            uow=lambda: InMemoryUnitOfWork(self.db),
            site=self.site,
            clock=self.clock,
            ids=SequentialIds(),
        )

    async def deploy(self, deployment: Deployment, unreadable: str | None = None) -> None:
        async with InMemoryUnitOfWork(self.db) as uow:
            await self.orders.deploy(uow, deployment=deployment, unreadable=unreadable)
            await uow.commit()

    async def undeploy(self, *, minutes: int = 1, cancel_running: bool = False) -> None:
        async with InMemoryUnitOfWork(self.db) as uow:
            await self.orders.undeploy(
                uow,
                workflow_id="wf",
                requested_at=AT + timedelta(minutes=minutes),
                cancel_running=cancel_running,
            )
            await uow.commit()

    def statuses(self) -> list[tuple[str, int, str]]:
        return [(e.status, e.sequence, e.deployment_id) for e in self.db.published]


async def test_deploying_reports_deploying_then_deployed_with_growing_sequence() -> None:
    world = World()
    await world.deploy(order("d1", chain(REFS)))
    assert world.db.workflows["wf"].status is DeploymentStatus.DEPLOYING
    assert await world.deployments.reconcile() is True
    assert await world.deployments.reconcile() is False
    assert world.site.deployed == ["local:a"]
    assert world.statuses() == [("deploying", 1, "d1"), ("deployed", 2, "d1")]
    # a new version replaces it; the old snapshot stays for the runs that pinned it
    await world.deploy(order("d2", chain(REFS, length=2), minutes=1, revision=2))
    await world.deployments.reconcile()
    assert world.statuses()[-2:] == [("deploying", 3, "d2"), ("deployed", 4, "d2")]
    assert set(world.db.deployments) == {"d1", "d2"}


async def test_an_order_older_than_the_applied_one_is_ignored() -> None:
    world = World()
    await world.deploy(order("d2", chain(REFS), minutes=5))
    await world.deploy(order("d1", chain(REFS), minutes=1))
    assert world.db.workflows["wf"].deployment_id == "d2"
    await world.deploy(order("d2", chain(REFS), minutes=5))  # the same order again
    assert len(world.db.published) == 1


async def test_an_invalid_workflow_is_an_error_with_the_reason() -> None:
    world = World()
    bad = WorkflowSnapshot(name="bad", steps=(trigger(), step("a", "append", REFS, after=())))
    await world.deploy(order("d1", bad))
    state = world.db.workflows["wf"]
    assert state.status is DeploymentStatus.ERROR and "no parent" in state.message
    await world.deploy(order("d2", chain(REFS), minutes=1), unreadable="unknown type 'blob'")
    assert world.db.workflows["wf"].message == "unknown type 'blob'"


async def test_an_action_the_site_cannot_run_is_an_error_naming_it() -> None:
    class Broken(FakeSite):
        async def deploy(self, action):
            raise ActionUnavailable("cannot load: No module named 'x'")

    world = World(Broken())
    await world.deploy(order("d1", chain(REFS)))
    await world.deployments.reconcile()
    state = world.db.workflows["wf"]
    assert state.status is DeploymentStatus.ERROR
    assert state.message == "append 1.0: cannot load: No module named 'x'"


async def test_one_run_fires_once_when_deployed() -> None:
    world = World()
    snapshot = chain(REFS, length=1)
    snapshot = WorkflowSnapshot(
        name="once",
        steps=(
            trigger(BuiltinTrigger.ONE_RUN),
            step("s1", "append", REFS, after=("trigger",), bind={"text": ("trigger", "fired_at")}),
        ),
    )
    await world.deploy(order("d1", snapshot))
    await world.deployments.reconcile()
    await world.deployments.reconcile()
    runs = list(world.db.runs.values())
    assert len(runs) == 1 and runs[0].trigger == "one-run"
    first = next(s for s in world.db.steps.values() if s.step_id == "s1")
    assert str(first.inputs["text"]).startswith("2026-01-01T")


async def test_undeploy_cancels_runs_in_flight_when_asked() -> None:
    from oryx_runner.application.lifecycle import start_deployment_run

    world = World()
    deployment = order("d1", chain(REFS))
    await world.deploy(deployment)
    await world.deployments.reconcile()
    async with InMemoryUnitOfWork(world.db) as uow:
        kept = start_deployment_run(
            uow,
            deployment,
            trigger="manual",
            given={"text": "x"},
            requested_by="",
            ids=SequentialIds(),
            at=AT,
        )
        await uow.commit()
    await world.undeploy(cancel_running=False)
    await world.deployments.reconcile()
    assert world.db.runs[kept.id].status is RunStatus.RUNNING
    assert world.statuses()[-2:] == [("undeploying", 3, "d1"), ("undeployed", 4, "d1")]
    assert world.site.undeployed == ["local:a"]
    # deployed again, then undeployed with cancel_running
    await world.deploy(order("d1", chain(REFS), minutes=2))
    await world.deployments.reconcile()
    await world.undeploy(minutes=3, cancel_running=True)
    assert world.db.runs[kept.id].status is RunStatus.CANCELED


async def test_a_restarted_runner_starts_the_deployed_actions_again() -> None:
    world = World()
    await world.deploy(order("d1", chain({"append": "local:a"})))
    await world.deployments.reconcile()
    restarted = World()
    restarted.db = world.db
    restarted.deployments = Deployments(
        uow=lambda: InMemoryUnitOfWork(world.db),
        site=restarted.site,
        clock=world.clock,
        ids=SequentialIds(),
    )
    assert await restarted.deployments.warm_up() == 1
    assert restarted.site.deployed == ["local:a"]
    await world.undeploy()
    await world.deployments.reconcile()
    assert await restarted.deployments.warm_up() == 0
