"""Deployments: apply the studio's deploy orders, deploy the actions on the site, report.

Orders arrive through the inbox (``DeployOrders``, inside the consumer's transaction): the
snapshot is stored, the workflow's state becomes *deploying* (or *undeploying*), and the
status is announced. The site's part takes time, so it happens next, outside the message's
transaction: ``Deployments.reconcile`` takes one workflow in that state (locked, so that two
runner processes never work on the same one), deploys or undeploys its actions, and records
*deployed* / *error* / *undeployed*. A runner that dies meanwhile releases the lock and
another one (or itself, restarted) does it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from oryx_runner.application.lifecycle import cancel_run, start_deployment_run
from oryx_runner.application.ports import (
    ActionUnavailable,
    ActionVersion,
    Clock,
    IdGenerator,
    Page,
    Site,
    SiteUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_runner.application.triggers import TriggerDriver, deploy_note
from oryx_runner.domain.deployments import Deployment, DeploymentStatus, WorkflowDeployment
from oryx_runner.domain.errors import InvalidValue, NotFound
from oryx_runner.domain.workflows import BuiltinTrigger, StepSpec, validate_snapshot

log = logging.getLogger(__name__)


def action_version(step: StepSpec) -> ActionVersion:
    return ActionVersion(
        artifact_ref=step.artifact_ref,
        name=step.action_name,
        version=step.action_version,
        resources=step.resources,
    )


class DeployOrders:
    """What the studio asks, applied inside the transaction of its message."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    async def deploy(
        self, uow: UnitOfWork, *, deployment: Deployment, unreadable: str | None = None
    ) -> None:
        """``unreadable``: why the order's snapshot could not be read, if it could not."""
        now = self._clock.now()
        if await uow.deployments.get(deployment.id) is None:
            uow.deployments.add(deployment)
        state = await uow.workflows.get(workflow_id=deployment.workflow_id, for_update=True)
        if state is None:
            state = WorkflowDeployment.first(deployment, at=now)
            uow.workflows.add(state)
        elif state.is_stale(deployment.requested_at):
            log.info("ignoring deploy order %s: a later order was applied", deployment.id)
            return
        elif (
            state.deployment_id == deployment.id and state.status is not DeploymentStatus.UNDEPLOYED
        ):
            return  # the same order again
        else:
            state.request_deploy(deployment, at=now)
        try:
            if unreadable is not None:
                raise InvalidValue(unreadable)
            validate_snapshot(deployment.snapshot)
        except InvalidValue as exc:
            state.failed(deployment_id=deployment.id, message=exc.message, at=now)

    async def undeploy(
        self,
        uow: UnitOfWork,
        *,
        workflow_id: str,
        requested_at: datetime,
        cancel_running: bool,
    ) -> None:
        now = self._clock.now()
        state = await uow.workflows.get(workflow_id=workflow_id, for_update=True)
        if state is None or state.is_stale(requested_at):
            return
        if state.status in (DeploymentStatus.UNDEPLOYED, DeploymentStatus.UNDEPLOYING):
            return
        state.request_undeploy(requested_at=requested_at, cancel_running=cancel_running, at=now)
        if cancel_running:
            for run in await uow.runs.running_of_workflow(workflow_id):
                await cancel_run(uow, run, at=now, reason="the workflow was undeployed")


@dataclass(frozen=True, kw_only=True)
class DeploymentView:
    state: WorkflowDeployment
    deployment: Deployment | None


class Deployments:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        site: Site,
        clock: Clock,
        ids: IdGenerator,
        drivers: Mapping[str, TriggerDriver] | None = None,
        handled: Collection[str] = (),
    ) -> None:
        """``drivers``: the triggers that fire by themselves, by kind (checked when deployed,
        stopped when undeployed); ``handled``: other kinds this runner fires (http-api)."""
        self._uow = uow
        self._site = site
        self._clock = clock
        self._ids = ids
        self._drivers = dict(drivers or {})
        self._handled = frozenset(self._drivers) | frozenset(handled)

    async def list(
        self, *, project_id: str, limit: int, cursor: str | None
    ) -> Page[DeploymentView]:
        async with self._uow() as uow:
            page = await uow.workflows.page(project_id=project_id, limit=limit, cursor=cursor)
            items = [
                DeploymentView(state=s, deployment=await uow.deployments.get(s.deployment_id))
                for s in page.items
            ]
        return Page(items=items, total=page.total, next_cursor=page.next_cursor)

    async def get(self, *, project_id: str, workflow_id: str) -> DeploymentView:
        async with self._uow() as uow:
            state = await uow.workflows.get(workflow_id=workflow_id, project_id=project_id)
            if state is None:
                raise NotFound(f"workflow {workflow_id} was never deployed", field="workflow_id")
            return DeploymentView(
                state=state, deployment=await uow.deployments.get(state.deployment_id)
            )

    async def warm_up(self) -> int:
        """After this process started: deploy on its site the actions of the workflows
        deployed now (the site keeps no replica across a restart), so that their first
        runs do not wait for a wrapper to start. Answers how many versions were asked for."""
        async with self._uow() as uow:
            states = await uow.workflows.deployed()
            found = [await uow.deployments.get(s.deployment_id) for s in states]
        versions = {
            s.artifact_ref: action_version(s)
            for deployment in found
            if deployment is not None
            for s in deployment.snapshot.steps
            if s.artifact_ref
        }
        for version in versions.values():
            try:
                await self._site.deploy(version)
            except Exception as exc:  # started on first use instead
                log.warning("could not start %s again: %s", version.artifact_ref, exc)
        return len(versions)

    async def reconcile(self) -> bool:
        """Deploy or undeploy one workflow that waits for it; False when none waits."""
        async with self._uow() as uow:
            state = await uow.workflows.next_to_reconcile()
            if state is None:
                return False
            if state.status is DeploymentStatus.DEPLOYING:
                await self._deploy(uow, state)
            else:
                await self._undeploy(uow, state)
            await uow.commit()
        return True

    async def _deploy(self, uow: UnitOfWork, state: WorkflowDeployment) -> None:
        deployment = await uow.deployments.get(state.deployment_id)
        if deployment is None:  # cannot happen: the order stored it
            state.failed(
                deployment_id=state.deployment_id, message="snapshot lost", at=self._clock.now()
            )
            return
        driver = self._drivers.get(deployment.trigger_kind)
        if driver is not None:
            try:
                driver.check(deployment)
            except InvalidValue as exc:
                state.failed(deployment_id=deployment.id, message=exc.message, at=self._clock.now())
                return
        # the actions, and a user's source (the trigger's artifact)
        versions = {
            s.artifact_ref: action_version(s) for s in deployment.snapshot.steps if s.artifact_ref
        }
        results = await asyncio.gather(
            *(self._site.deploy(v) for v in versions.values()), return_exceptions=True
        )
        problems = []
        for version, result in zip(versions.values(), results, strict=True):
            if isinstance(result, ActionUnavailable | SiteUnavailable):
                problems.append(f"{version.name} {version.version}: {result}")
            elif isinstance(result, BaseException):
                log.error("deploying %s failed", version.artifact_ref, exc_info=result)
                problems.append(f"{version.name} {version.version}: internal error ({result!r})")
        now = self._clock.now()
        if problems:
            state.failed(deployment_id=deployment.id, message="; ".join(problems), at=now)
            return
        state.deployed(
            deployment_id=deployment.id, note=deploy_note(deployment, self._handled), at=now
        )
        if deployment.trigger_kind == BuiltinTrigger.ONE_RUN:
            start_deployment_run(
                uow, deployment, trigger="one-run", given={}, requested_by="", ids=self._ids, at=now
            )

    async def _undeploy(self, uow: UnitOfWork, state: WorkflowDeployment) -> None:
        deployment = await uow.deployments.get(state.deployment_id)
        if deployment is not None:
            driver = self._drivers.get(deployment.trigger_kind)
            if driver is not None:
                await driver.stop(state.workflow_id)
            in_use = await uow.workflows.artifacts_in_use()
            artifacts = {s.artifact_ref for s in deployment.snapshot.steps if s.artifact_ref}
            for artifact in sorted(artifacts - in_use):
                try:
                    await self._site.undeploy(artifact)
                except Exception:  # the site's own retention stops it later
                    log.warning("could not undeploy %s", artifact, exc_info=True)
        state.undeployed(at=self._clock.now())
