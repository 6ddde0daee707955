"""Starting and cancelling runs: shared by manual runs, triggers and undeploy orders."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from oryx_runner.application.ports import IdGenerator, UnitOfWork
from oryx_runner.application.triggers import trigger_outputs
from oryx_runner.domain.dag import start_run
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.runs import StepRun, WorkflowRun
from oryx_runner.domain.workflows import Value


def start_deployment_run(
    uow: UnitOfWork,
    deployment: Deployment,
    *,
    trigger: str,
    given: Mapping[str, Value],
    requested_by: str,
    ids: IdGenerator,
    at: datetime,
    run_id: str | None = None,
    fired_at: datetime | None = None,
) -> WorkflowRun:
    """A new run of ``deployment``, with its first step runs, added to ``uow``.
    ``fired_at``: when a timing trigger was due (its ``fired_at`` output), else ``at``."""
    run, _ = start_run_with_steps(
        uow,
        deployment,
        trigger=trigger,
        given=given,
        requested_by=requested_by,
        ids=ids,
        at=at,
        run_id=run_id,
        fired_at=fired_at,
    )
    return run


def start_run_with_steps(
    uow: UnitOfWork,
    deployment: Deployment,
    *,
    trigger: str,
    given: Mapping[str, Value],
    requested_by: str,
    ids: IdGenerator,
    at: datetime,
    run_id: str | None = None,
    fired_at: datetime | None = None,
) -> tuple[WorkflowRun, list[StepRun]]:
    """``start_deployment_run``, answering the first step runs too (ready to be taken)."""
    run = WorkflowRun.create(
        run_id=run_id or ids.new(),
        project_id=deployment.project_id,
        workflow_id=deployment.workflow_id,
        deployment_id=deployment.id,
        trigger=trigger,
        requested_by=requested_by,
        at=at,
    )
    outputs = trigger_outputs(deployment.snapshot.trigger, given, at=fired_at or at)
    steps = start_run(
        snapshot=deployment.snapshot, run=run, trigger_outputs=outputs, new_id=ids.new, at=at
    )
    uow.runs.add(run)
    for step in steps:
        uow.steps.add(step)
    return run, list(steps)


async def cancel_run(uow: UnitOfWork, run: WorkflowRun, *, at: datetime, reason: str) -> None:
    """Cancel ``run`` and its step runs still to finish (running ones are stopped by the
    runner executing them, woken when this commits)."""
    run.cancel(at=at, reason=reason)
    for step in await uow.steps.active_of_run(run.id):
        step.cancel(at=at)
