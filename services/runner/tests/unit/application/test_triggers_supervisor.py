"""The trigger supervisor: drivers follow what is deployed, and one failure stops no other."""

from __future__ import annotations

from datetime import UTC, datetime

from oryx_runner.application.runs import DeploymentCache
from oryx_runner.application.triggers import FireRun
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.application.triggers_supervisor import TriggerSupervisor
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.errors import InvalidValue
from oryx_runner.domain.workflows import BuiltinTrigger, WorkflowSnapshot

from ...actions import trigger
from ...fakes import (
    FakeClock,
    InMemoryDatabase,
    InMemoryDeployedTriggers,
    InMemoryUnitOfWork,
    SequentialIds,
)

AT = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingDriver:
    def __init__(self) -> None:
        self.running: dict[str, str] = {}
        self.refuse: dict[str, Exception] = {}

    def check(self, deployment: Deployment) -> None: ...

    async def start(self, deployment: Deployment, fire: FireRun) -> None:
        if deployment.workflow_id in self.refuse:
            raise self.refuse[deployment.workflow_id]
        self.running[deployment.workflow_id] = deployment.id

    async def stop(self, workflow_id: str) -> None:
        self.running.pop(workflow_id, None)


def deploy(db: InMemoryDatabase, workflow_id: str, deployment_id: str) -> None:
    deployment = Deployment(
        id=deployment_id, workflow_id=workflow_id, project_id="p", revision=1,
        snapshot=WorkflowSnapshot(name="w", steps=(trigger(BuiltinTrigger.EMIT_EVERY),)),
        requested_by="u", requested_at=AT, received_at=AT,
    )  # fmt: skip
    db.deployments[deployment_id] = deployment
    state = WorkflowDeployment.first(deployment, at=AT)
    state.deployed(deployment_id=deployment_id, at=AT)
    db.workflows[workflow_id] = state


class WithAGhost(InMemoryDeployedTriggers):
    """Also answers a workflow whose deployment cannot be read."""

    async def deployed(self, *, kinds):  # type: ignore[no-untyped-def]
        return {**await super().deployed(kinds=kinds), "ghost": "gone"}


def supervisor(db: InMemoryDatabase, driver: RecordingDriver) -> TriggerSupervisor:
    def uow() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(db)

    return TriggerSupervisor(
        deployed=WithAGhost(db),
        deployments=DeploymentCache(uow=uow),
        drivers={"emit-every": driver},
        runs=TriggerRuns(uow=uow, clock=FakeClock(), ids=SequentialIds()),
    )


async def test_drivers_follow_the_deployed_workflows() -> None:
    db, driver = InMemoryDatabase(), RecordingDriver()
    triggers = supervisor(db, driver)
    deploy(db, "a", "a1")
    deploy(db, "b", "b1")
    await triggers.reconcile()
    assert driver.running == {"a": "a1", "b": "b1"}
    deploy(db, "a", "a2")  # a new version
    db.workflows["b"].request_undeploy(requested_at=AT, cancel_running=False, at=AT)
    await triggers.reconcile()
    assert driver.running == {"a": "a2"}
    await triggers.close()
    assert driver.running == {}


async def test_a_trigger_that_cannot_start_keeps_no_other_from_starting() -> None:
    db, driver = InMemoryDatabase(), RecordingDriver()
    triggers = supervisor(db, driver)
    deploy(db, "a", "a1")
    deploy(db, "b", "b1")
    driver.refuse["a"] = RuntimeError("boom")
    driver.refuse["b"] = InvalidValue("seconds must be at least 1")
    await triggers.reconcile()
    assert driver.running == {}
    assert triggers.running == {"b": "b1"}  # refused for good, and said so
    assert db.workflows["b"].message == "the trigger cannot fire: seconds must be at least 1"
    del driver.refuse["a"]
    await triggers.reconcile()
    assert driver.running == {"a": "a1"}
