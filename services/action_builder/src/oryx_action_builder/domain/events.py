"""What the builder tells the world: a build started, a build finished."""

from dataclasses import dataclass
from datetime import datetime

from oryx_action_builder.domain.status import BuildStatus


@dataclass(frozen=True, kw_only=True)
class BuildStarted:
    build_id: str
    action_id: str
    started_at: datetime


@dataclass(frozen=True, kw_only=True)
class BuildFinished:
    build_id: str
    action_id: str
    status: BuildStatus
    """SUCCEEDED, FAILED or CANCELLED."""
    artifact_ref: str
    log_tail: str
    error: str
    lock: str
    finished_at: datetime


Event = BuildStarted | BuildFinished
