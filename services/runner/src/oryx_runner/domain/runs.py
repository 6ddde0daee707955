"""Workflow runs and step runs: two state machines; every change appends a ``RunEvent``.

A run is created with its trigger's step run (already succeeded: it holds what the trigger
produced) and the step runs that follow it. Each step run then goes::

    ready -> running -> succeeded | failed
      ^         |
      +---------+  retry (a transient failure, after a backoff) or recover (its runner died)
    ready | running -> canceled

A step run is created only once it can run (every parent succeeded), so there is no waiting
state. ``attempt`` counts how many times it was sent to a site; its ``id`` is also the
execution id a site receives, the same on every attempt (the wrapper's idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from oryx_runner.domain.errors import Conflict
from oryx_runner.domain.events import RunEvent, RunEventType
from oryx_runner.domain.workflows import Value


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self is not RunStatus.RUNNING


class StepStatus(StrEnum):
    READY = "ready"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self not in (StepStatus.READY, StepStatus.RUNNING)


class ErrorKind(StrEnum):
    USER_ERROR = "user_error"
    """The action raised; ``code`` is its RyaxException's code, when it gave one."""
    TIMEOUT = "timeout"
    CRASH = "crash"
    INVALID_INPUT = "invalid_input"
    INVALID_OUTPUT = "invalid_output"
    TRANSFER_ERROR = "transfer_error"
    SITE_ERROR = "site_error"
    """The site could not run it (unreachable, wrapper died, artifact missing...)."""
    CANCELED = "canceled"


TRANSIENT_KINDS = frozenset({ErrorKind.TRANSFER_ERROR, ErrorKind.SITE_ERROR})


class RunAlreadyFinished(Conflict):
    code = "run_finished"

    def __init__(self, run_id: str, status: RunStatus) -> None:
        super().__init__(f"run {run_id} is already {status.value}")


@dataclass(frozen=True, kw_only=True)
class StepError:
    kind: ErrorKind
    message: str
    type: str = ""
    code: int | None = None
    traceback: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "type": self.type,
            "code": self.code,
            "traceback": self.traceback,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepError:
        return cls(
            kind=ErrorKind(data["kind"]),
            message=str(data.get("message", "")),
            type=str(data.get("type", "")),
            code=data.get("code"),
            traceback=str(data.get("traceback", "")),
        )


@dataclass(frozen=True, kw_only=True)
class RunError:
    kind: ErrorKind
    message: str
    code: int | None = None
    step_id: str = ""
    step_run_id: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "message": self.message,
            "code": self.code,
            "step_id": self.step_id,
            "step_run_id": self.step_run_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunError:
        return cls(
            kind=ErrorKind(data["kind"]),
            message=str(data.get("message", "")),
            code=data.get("code"),
            step_id=str(data.get("step_id", "")),
            step_run_id=str(data.get("step_run_id", "")),
        )


Context = dict[str, tuple[str, int]]
"""For each upstream step: the step run and the index of its output set this branch follows."""

OutputSets = list[dict[str, Value]]


@dataclass(kw_only=True)
class WorkflowRun:
    id: str
    project_id: str
    workflow_id: str
    deployment_id: str
    trigger: str
    """What started it: ``manual``, ``one-run``, ... (the trigger's id)."""
    status: RunStatus
    submitted_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: RunError | None = None
    result: dict[str, Any] | None = None
    requested_by: str = ""
    version: int = 0
    """Optimistic concurrency: the row is written only if it still has this version."""
    events: list[RunEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        run_id: str,
        project_id: str,
        workflow_id: str,
        deployment_id: str,
        trigger: str,
        requested_by: str,
        at: datetime,
    ) -> WorkflowRun:
        run = cls(
            id=run_id,
            project_id=project_id,
            workflow_id=workflow_id,
            deployment_id=deployment_id,
            trigger=trigger,
            status=RunStatus.RUNNING,
            submitted_at=at,
            started_at=at,
            requested_by=requested_by,
        )
        run._record(RunEventType.RUN_CREATED, at, trigger=trigger)
        return run

    def succeed(self, *, result: dict[str, Any], at: datetime) -> None:
        self._check_running()
        self.status = RunStatus.SUCCEEDED
        self.result = result
        self.ended_at = at
        self._record(RunEventType.RUN_SUCCEEDED, at)

    def fail(self, *, error: RunError, at: datetime) -> None:
        self._check_running()
        self.status = RunStatus.FAILED
        self.error = error
        self.ended_at = at
        self._record(RunEventType.RUN_FAILED, at, error=error.as_dict())

    def cancel(self, *, at: datetime, reason: str = "canceled") -> None:
        self._check_running()
        self.status = RunStatus.CANCELED
        self.error = RunError(kind=ErrorKind.CANCELED, message=reason)
        self.ended_at = at
        self._record(RunEventType.RUN_CANCELED, at, reason=reason)

    def _check_running(self) -> None:
        if self.status.is_final:
            raise RunAlreadyFinished(self.id, self.status)

    def _record(self, kind: RunEventType, at: datetime, **data: Any) -> None:
        self.events.append(RunEvent(type=kind, run_id=self.id, at=at, data=data))


class StepNotRunning(Conflict):
    code = "step_not_running"


@dataclass(kw_only=True)
class StepRun:
    id: str
    run_id: str
    step_id: str
    branch_key: str
    """Names the branch: unique per run and step, so a step run is never created twice."""
    context: Context
    status: StepStatus
    submitted_at: datetime
    inputs: dict[str, Value] = field(default_factory=dict)
    outputs: OutputSets | None = None
    error: StepError | None = None
    attempt: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    not_before: datetime | None = None
    claimed_by: str | None = None
    version: int = 0
    events: list[RunEvent] = field(default_factory=list, compare=False, repr=False)

    @property
    def execution_id(self) -> str:
        return self.id

    @classmethod
    def trigger(
        cls, *, step_run_id: str, run_id: str, step_id: str, outputs: dict[str, Value], at: datetime
    ) -> StepRun:
        """The trigger's step run: it already happened, and holds what the trigger produced."""
        step = cls(
            id=step_run_id,
            run_id=run_id,
            step_id=step_id,
            branch_key="",
            context={},
            status=StepStatus.SUCCEEDED,
            submitted_at=at,
            started_at=at,
            ended_at=at,
            outputs=[dict(outputs)],
            attempt=1,
        )
        step._record(RunEventType.STEP_SUCCEEDED, at, step_id=step_id, output_sets=1)
        return step

    @classmethod
    def ready(
        cls,
        *,
        step_run_id: str,
        run_id: str,
        step_id: str,
        branch_key: str,
        context: Context,
        inputs: dict[str, Value],
        at: datetime,
    ) -> StepRun:
        step = cls(
            id=step_run_id,
            run_id=run_id,
            step_id=step_id,
            branch_key=branch_key,
            context=dict(context),
            status=StepStatus.READY,
            submitted_at=at,
            not_before=at,
            inputs=dict(inputs),
        )
        step._record(RunEventType.STEP_READY, at, step_id=step_id)
        return step

    def start(self, *, runner_id: str, at: datetime) -> None:
        """Claimed by ``runner_id`` (the SQL claim of the database adapter does the same)."""
        if self.status is not StepStatus.READY:
            raise StepNotRunning(f"step run {self.id} is {self.status.value}, not ready")
        self.status = StepStatus.RUNNING
        self.attempt += 1
        self.claimed_by = runner_id
        self.started_at = self.started_at or at
        self._record(RunEventType.STEP_STARTED, at, attempt=self.attempt, runner_id=runner_id)

    def succeed(self, *, outputs: OutputSets, at: datetime) -> None:
        self._check_running()
        self.status = StepStatus.SUCCEEDED
        self.outputs = [dict(values) for values in outputs]
        self.ended_at = at
        self.claimed_by = None
        self._record(RunEventType.STEP_SUCCEEDED, at, output_sets=len(self.outputs))

    def fail(self, *, error: StepError, at: datetime) -> None:
        if self.status.is_final:
            raise StepNotRunning(f"step run {self.id} is already {self.status.value}")
        self.status = StepStatus.FAILED
        self.error = error
        self.ended_at = at
        self.claimed_by = None
        self._record(RunEventType.STEP_FAILED, at, error=error.as_dict())

    def retry(self, *, error: StepError, not_before: datetime, at: datetime) -> None:
        """A transient failure: back to ready, not before ``not_before``."""
        self._check_running()
        self.status = StepStatus.READY
        self.error = error
        self.not_before = not_before
        self.claimed_by = None
        self._record(
            RunEventType.STEP_RETRYING,
            at,
            attempt=self.attempt,
            error=error.as_dict(),
            not_before=not_before.isoformat(),
        )

    def recover(self, *, at: datetime, sent: bool = True) -> None:
        """Its runner died while it ran: back to ready, to be sent again with the same id.
        ``sent=False``: a stopping runner hands back a step run it took but never sent; that
        take does not count as an attempt."""
        self._check_running()
        if not sent and self.attempt > 0:
            self.attempt -= 1
        self.status = StepStatus.READY
        self.not_before = at
        self._record(
            RunEventType.STEP_RECOVERED, at, attempt=self.attempt, runner_id=self.claimed_by
        )
        self.claimed_by = None

    def cancel(self, *, at: datetime) -> None:
        if self.status.is_final:
            raise StepNotRunning(f"step run {self.id} is already {self.status.value}")
        self.status = StepStatus.CANCELED
        self.ended_at = at
        self.claimed_by = None
        self._record(RunEventType.STEP_CANCELED, at)

    def _check_running(self) -> None:
        if self.status is not StepStatus.RUNNING:
            raise StepNotRunning(f"step run {self.id} is {self.status.value}, not running")

    def _record(self, kind: RunEventType, at: datetime, **data: Any) -> None:
        self.events.append(
            RunEvent(type=kind, run_id=self.run_id, step_run_id=self.id, at=at, data=data)
        )


def retry_delay(*, attempt: int, base_seconds: float, max_seconds: float, jitter: float) -> float:
    """Exponential backoff with a cap: ``base * 2**(attempt-1)``, at most ``max_seconds``,
    scaled by ``jitter`` (a number in [0.5, 1], drawn by the caller) so that steps failing
    together do not come back together."""
    delay: float = min(max_seconds, base_seconds * 2 ** max(0, attempt - 1))
    return float(delay * min(1.0, max(0.5, jitter)))
