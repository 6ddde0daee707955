"""The trigger supervisor: in each runner process, one driver task per workflow deployed
with a trigger that fires by itself.

``reconcile`` makes the running drivers equal to what the database says is deployed: it
starts the driver of each workflow deployed with a kind that has one, stops those whose
workflow is no longer deployed (undeploying, undeployed, deploying a new version), and
replaces a driver whose workflow now has another deployment. The service calls it at start,
whenever a workflow's deployment status changes (in this process or another, through the
database's notifications) and every few seconds as a safety net.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from oryx_runner.application.runs import DeploymentCache
from oryx_runner.application.triggers import TriggerDriver
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.domain.errors import InvalidValue

log = logging.getLogger(__name__)


class DeployedTriggers(Protocol):
    async def deployed(self, *, kinds: Sequence[str]) -> dict[str, str]:
        """The workflows deployed now whose trigger is of one of ``kinds`` (a built-in
        trigger's id, or ``source``): their current deployment's id, by workflow id."""
        ...


class TriggerSupervisor:
    def __init__(
        self,
        *,
        deployed: DeployedTriggers,
        deployments: DeploymentCache,
        drivers: Mapping[str, TriggerDriver],
        runs: TriggerRuns,
    ) -> None:
        self._deployed = deployed
        self._deployments = deployments
        self._drivers = dict(drivers)
        self._runs = runs
        self._running: dict[str, tuple[str, TriggerDriver]] = {}
        self._lock = asyncio.Lock()

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._drivers)

    @property
    def running(self) -> dict[str, str]:
        """The deployment id of each workflow whose driver runs in this process."""
        return {workflow: deployment for workflow, (deployment, _) in self._running.items()}

    async def reconcile(self) -> None:
        async with self._lock:
            wanted = await self._deployed.deployed(kinds=sorted(self._drivers))
            for workflow_id, (deployment_id, driver) in list(self._running.items()):
                if wanted.get(workflow_id) != deployment_id:
                    del self._running[workflow_id]
                    await driver.stop(workflow_id)
            for workflow_id, deployment_id in wanted.items():
                if workflow_id not in self._running:
                    await self._start(workflow_id, deployment_id)

    async def _start(self, workflow_id: str, deployment_id: str) -> None:
        """Start one workflow's driver; a failure is logged and tried again at the next
        pass, and never keeps the other workflows' triggers from starting."""
        try:
            deployment = await self._deployments.get(deployment_id)
            driver = self._drivers.get(deployment.trigger_kind)
            if driver is None:
                return
            try:
                await driver.start(deployment, functools.partial(self._runs.fire, deployment))
            except InvalidValue as exc:
                # deployed before its trigger was checked (an older runner): say why it is idle
                log.warning("%s: the trigger cannot fire: %s", workflow_id, exc.message)
                await self._runs.report(deployment, f"the trigger cannot fire: {exc.message}")
        except Exception:
            log.exception("%s: could not start the trigger; trying again", workflow_id)
            return
        self._running[workflow_id] = (deployment_id, driver)

    async def close(self) -> None:
        async with self._lock:
            for workflow_id, (_, driver) in list(self._running.items()):
                try:
                    await driver.stop(workflow_id)
                except Exception:
                    log.exception("%s: stopping the trigger failed", workflow_id)
            self._running.clear()
