"""Events of the runner.

``Event``s leave the service through the outbox (the routing table maps each to a message).
``RunEvent``s are the append-only log of a run: every change of a run or of one of its steps
appends one, in the same transaction as the change.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Event:
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class DeploymentStatusChanged(Event):
    workflow_id: str
    project_id: str
    deployment_id: str
    revision: int
    status: str
    message: str
    sequence: int


class RunEventType(StrEnum):
    RUN_CREATED = "run.created"
    RUN_SUCCEEDED = "run.succeeded"
    RUN_FAILED = "run.failed"
    RUN_CANCELED = "run.canceled"
    STEP_READY = "step.ready"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    STEP_RECOVERED = "step.recovered"
    STEP_CANCELED = "step.canceled"

    @property
    def ends_run(self) -> bool:
        return self in (
            RunEventType.RUN_SUCCEEDED,
            RunEventType.RUN_FAILED,
            RunEventType.RUN_CANCELED,
        )


@dataclass(frozen=True, kw_only=True)
class RunEvent:
    type: RunEventType
    run_id: str
    at: datetime
    step_run_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
