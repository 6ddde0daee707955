"""Domain events of the studio. Each carries what its message needs, so the outbox row can be
written from the event alone: a deploy order carries the whole immutable snapshot."""

from dataclasses import dataclass
from datetime import datetime

from oryx_studio.domain.graph import Endpoint, Result, StepOutput
from oryx_studio.domain.types import IoSpec, Value


@dataclass(frozen=True, kw_only=True)
class Event:
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class SnapshotResources:
    cpu: float | None = None
    memory_bytes: int | None = None
    time_seconds: int | None = None
    gpu: int | None = None


@dataclass(frozen=True, kw_only=True)
class Binding:
    """Where one input takes its value: an upstream output (``source``), else ``value``
    (None is an explicit null)."""

    input: str
    value: Value = None
    source: StepOutput | None = None


@dataclass(frozen=True, kw_only=True)
class StepSnapshot:
    step_id: str
    name: str
    action_id: str
    """The studio's id of the action version."""
    action_name: str
    action_version: str
    kind: str
    builtin_trigger: str
    artifact_ref: str
    resources: SnapshotResources
    inputs: tuple[IoSpec, ...]
    outputs: tuple[IoSpec, ...]
    bindings: tuple[Binding, ...]
    parent_step_ids: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class WorkflowSnapshot:
    name: str
    description: str
    steps: tuple[StepSnapshot, ...]
    """The trigger first, then the others in a topological order."""
    results: tuple[Result, ...]
    endpoint: Endpoint | None


@dataclass(frozen=True, kw_only=True)
class DeploymentRequested(Event):
    deployment_id: str
    workflow_id: str
    project_id: str
    revision: int
    snapshot: WorkflowSnapshot
    requested_by: str


@dataclass(frozen=True, kw_only=True)
class UndeploymentRequested(Event):
    workflow_id: str
    project_id: str
    cancel_running: bool
    requested_by: str
