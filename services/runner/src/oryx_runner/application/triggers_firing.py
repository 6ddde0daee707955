"""Firing: what a trigger driver does to the database (start a run, show how it is doing)."""

from __future__ import annotations

from oryx_runner.application.lifecycle import start_deployment_run
from oryx_runner.application.ports import Clock, IdGenerator, UnitOfWorkFactory
from oryx_runner.application.triggers import Firing
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.runs import WorkflowRun


class TriggerRuns:
    """What drivers do to the database: start runs, and say how their trigger is doing."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def fire(self, deployment: Deployment, firing: Firing) -> str | None:
        """Start a run of ``deployment`` in one transaction, and only if the workflow is
        still deployed on it: its state is locked, so a fire and an undeploy order never
        cross; with a fire key, the fire row is inserted first and only its inserter starts
        the run."""
        now = self._clock.now()
        async with self._uow() as uow:
            state = await uow.workflows.get(workflow_id=deployment.workflow_id, for_update=True)
            if state is None or state.deployment_id != deployment.id or not state.accepts_runs:
                return None
            run_id = firing.run_id or self._ids.new()
            if firing.fire_key and not await uow.trigger_fires.add(
                deployment_id=deployment.id,
                fire_key=firing.fire_key,
                workflow_id=deployment.workflow_id,
                run_id=run_id,
                scheduled_at=firing.scheduled_at or now,
                fired_at=now,
            ):
                return None
            kind = deployment.trigger_kind
            if firing.error is not None:
                run = WorkflowRun.create(
                    run_id=run_id,
                    project_id=deployment.project_id,
                    workflow_id=deployment.workflow_id,
                    deployment_id=deployment.id,
                    trigger=kind,
                    requested_by="",
                    at=now,
                )
                run.fail(error=firing.error, at=now)
                uow.runs.add(run)
            else:
                start_deployment_run(
                    uow,
                    deployment,
                    trigger=kind,
                    given=firing.values,
                    requested_by="",
                    ids=self._ids,
                    at=now,
                    run_id=run_id,
                    fired_at=firing.scheduled_at,
                )
            for record in firing.files:
                uow.files.add(record)
            await uow.commit()
        return run_id

    async def report(self, deployment: Deployment, message: str) -> None:
        """Show ``message`` as the deployment's status message (``""``: all is well)."""
        async with self._uow() as uow:
            state = await uow.workflows.get(workflow_id=deployment.workflow_id, for_update=True)
            if state is None:
                return
            state.trigger_reported(
                deployment_id=deployment.id, message=message, at=self._clock.now()
            )
            await uow.commit()
