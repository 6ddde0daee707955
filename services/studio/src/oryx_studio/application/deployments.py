"""Deploy orders out, deployment reports in."""

from datetime import datetime

from oryx_studio.application.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from oryx_studio.application.workflows import WorkflowView, catalog_of, get_workflow, view_of
from oryx_studio.domain.workflows import DeploymentStatus


class Deployments:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def deploy(self, *, project_id: str, workflow_id: str, user_id: str) -> WorkflowView:
        """Emit a ``DeploymentRequested`` with the workflow's snapshot; refused with the
        workflow's errors (``WorkflowInvalid``) when it has any."""
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            catalog = await catalog_of(uow, workflow)
            variables = await uow.variables.many(project_id=project_id, ids=workflow.variable_ids())
            workflow.request_deployment(
                deployment_id=self._ids.new(),
                catalog=catalog,
                variables=variables,
                requested_by=user_id,
                at=self._clock.now(),
            )
            await uow.commit()
            return await view_of(uow, workflow)

    async def undeploy(
        self, *, project_id: str, workflow_id: str, user_id: str, cancel_running: bool
    ) -> WorkflowView:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            workflow.request_undeployment(
                cancel_running=cancel_running, requested_by=user_id, at=self._clock.now()
            )
            await uow.commit()
            return await view_of(uow, workflow)


class DeploymentReports:
    """What the runner says about deployments. Older reports (a lower sequence) are ignored;
    a report about a workflow the studio no longer has is dropped."""

    async def status_changed(
        self,
        uow: UnitOfWork,
        *,
        workflow_id: str,
        project_id: str,
        deployment_id: str,
        revision: int,
        status: DeploymentStatus,
        message: str,
        sequence: int,
        changed_at: datetime,
    ) -> bool:
        workflow = await uow.workflows.get_any_project(workflow_id)
        if workflow is None or workflow.project_id != project_id:
            return False
        return workflow.deployment_reported(
            status=status,
            message=message,
            deployment_id=deployment_id,
            revision=revision,
            sequence=sequence,
            at=changed_at,
        )
