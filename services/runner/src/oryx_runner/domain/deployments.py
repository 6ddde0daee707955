"""Deployments: the snapshots the studio sends, and where each workflow's deployment stands.

``Deployment`` is one deploy order: immutable, kept as long as runs refer to it.
``WorkflowDeployment`` is the state of one workflow on this runner (which deployment is
current, its status); every change of status is a ``DeploymentStatusChanged`` event with a
sequence number that grows per workflow, so that consumers keep the latest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from oryx_runner.domain.errors import Conflict
from oryx_runner.domain.events import DeploymentStatusChanged, Event
from oryx_runner.domain.workflows import WorkflowSnapshot


class DeploymentStatus(StrEnum):
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    UNDEPLOYING = "undeploying"
    UNDEPLOYED = "undeployed"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class Deployment:
    id: str
    workflow_id: str
    project_id: str
    revision: int
    snapshot: WorkflowSnapshot
    requested_by: str
    requested_at: datetime
    received_at: datetime

    @property
    def trigger_kind(self) -> str:
        """The builtin trigger's id, or ``source`` for a user's source."""
        return self.snapshot.trigger.builtin_trigger or "source"


@dataclass(kw_only=True)
class WorkflowDeployment:
    workflow_id: str
    project_id: str
    deployment_id: str
    revision: int
    status: DeploymentStatus
    message: str
    sequence: int
    requested_at: datetime
    """When the studio asked for the current state: older orders arriving late are ignored."""
    changed_at: datetime
    cancel_running: bool = False
    """The pending undeploy order asks to cancel the runs in flight."""
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def first(cls, deployment: Deployment, *, at: datetime) -> WorkflowDeployment:
        state = cls(
            workflow_id=deployment.workflow_id,
            project_id=deployment.project_id,
            deployment_id=deployment.id,
            revision=deployment.revision,
            status=DeploymentStatus.DEPLOYING,
            message="",
            sequence=0,
            requested_at=deployment.requested_at,
            changed_at=at,
        )
        state._changed(DeploymentStatus.DEPLOYING, "", at=at)
        return state

    def is_stale(self, requested_at: datetime) -> bool:
        """Whether an order made at ``requested_at`` is older than the one applied."""
        return requested_at < self.requested_at

    def request_deploy(self, deployment: Deployment, *, at: datetime) -> None:
        self.deployment_id = deployment.id
        self.revision = deployment.revision
        self.requested_at = deployment.requested_at
        self.cancel_running = False
        self._changed(DeploymentStatus.DEPLOYING, "", at=at)

    def deployed(self, *, deployment_id: str, note: str = "", at: datetime) -> None:
        self._expect(deployment_id, DeploymentStatus.DEPLOYING)
        self._changed(DeploymentStatus.DEPLOYED, note, at=at)

    def failed(self, *, deployment_id: str, message: str, at: datetime) -> None:
        self._expect(deployment_id, DeploymentStatus.DEPLOYING)
        self._changed(DeploymentStatus.ERROR, message, at=at)

    def request_undeploy(
        self, *, requested_at: datetime, cancel_running: bool, at: datetime
    ) -> None:
        self.requested_at = requested_at
        self.cancel_running = cancel_running
        self._changed(DeploymentStatus.UNDEPLOYING, "", at=at)

    def undeployed(self, *, at: datetime) -> None:
        if self.status is not DeploymentStatus.UNDEPLOYING:
            raise Conflict(f"workflow {self.workflow_id} is not being undeployed")
        self._changed(DeploymentStatus.UNDEPLOYED, "", at=at)

    def trigger_reported(self, *, deployment_id: str, message: str, at: datetime) -> None:
        """What the trigger of the deployed version says (a user's source that stopped and
        restarts, or ``""`` when it runs again): the status stays *deployed*, the message
        changes and is announced like any status change. Nothing happens when the workflow
        moved on (another deployment, undeployed) or the message is already that."""
        if self.deployment_id != deployment_id or self.status is not DeploymentStatus.DEPLOYED:
            return
        if self.message == message:
            return
        self._changed(DeploymentStatus.DEPLOYED, message, at=at)

    @property
    def accepts_runs(self) -> bool:
        return self.status is DeploymentStatus.DEPLOYED

    def _expect(self, deployment_id: str, status: DeploymentStatus) -> None:
        if self.deployment_id != deployment_id or self.status is not status:
            raise Conflict(
                f"deployment {deployment_id} of workflow {self.workflow_id} is no longer "
                f"{status.value}"
            )

    def _changed(self, status: DeploymentStatus, message: str, *, at: datetime) -> None:
        self.status = status
        self.message = message
        self.sequence += 1
        self.changed_at = at
        self.events.append(
            DeploymentStatusChanged(
                occurred_at=at,
                workflow_id=self.workflow_id,
                project_id=self.project_id,
                deployment_id=self.deployment_id,
                revision=self.revision,
                status=status.value,
                message=message,
                sequence=self.sequence,
            )
        )
