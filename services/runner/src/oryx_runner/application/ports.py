"""Ports: what the use cases need from the outside world, in their own words."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from oryx_runner.domain.api_keys import ApiKey, ApiSettings
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.events import RunEvent
from oryx_runner.domain.runs import OutputSets, RunStatus, StepRun, WorkflowRun
from oryx_runner.domain.workflows import FileValue, IoType, Resources

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    next_cursor: str | None


# --- persistence -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class FileRecord:
    """A file the runner keeps for a run: an input given to it, or an output of a step."""

    id: str
    project_id: str
    run_id: str
    step_run_id: str | None
    key: str
    name: str
    size_bytes: int
    sha256: str
    directory: bool
    created_at: datetime

    def as_value(self) -> FileValue:
        """The value a step sees for this file."""
        return FileValue(
            key=self.key,
            name=self.name,
            size_bytes=self.size_bytes,
            directory=self.directory,
            sha256=self.sha256,
            file_id=self.id,
        )


@dataclass(frozen=True, kw_only=True)
class LogLine:
    time: datetime
    stream: str
    """stdout, stderr, logging or wrapper."""
    text: str
    level: str = ""


@dataclass(frozen=True, kw_only=True)
class StepLogs:
    step_run_id: str
    attempt: int
    lines: Sequence[LogLine]
    truncated: bool = False


@dataclass(frozen=True, kw_only=True)
class StoredRunEvent:
    id: int
    """Grows with every event of the service: the SSE event id."""
    event: RunEvent


@dataclass(frozen=True, kw_only=True)
class ClaimedStep:
    """A step run this runner now executes, with what it needs to know of its run."""

    step: StepRun
    project_id: str
    workflow_id: str
    deployment_id: str


class Dispatcher(Protocol):
    """The engine of this process, as the starters of runs see it: a run started here has
    its first step runs taken by this runner in the transaction that creates them, and
    handed over at once (no claim round trip); those it has no room for stay ready."""

    @property
    def runner_id(self) -> str: ...
    def room(self) -> int:
        """How many more step runs this runner can take now."""
        ...

    def adopt(self, steps: Sequence[ClaimedStep]) -> None:
        """Execute these step runs, taken by this runner in a committed transaction."""
        ...


@dataclass(frozen=True, kw_only=True)
class RunFilter:
    workflow_id: str | None = None
    status: RunStatus | None = None
    since: datetime | None = None
    until: datetime | None = None


class DeploymentRepository(Protocol):
    def add(self, deployment: Deployment) -> None: ...
    async def get(self, deployment_id: str) -> Deployment | None: ...


class WorkflowRepository(Protocol):
    """The deployment state of each workflow."""

    def add(self, state: WorkflowDeployment) -> None: ...
    async def get(
        self, *, workflow_id: str, project_id: str | None = None, for_update: bool = False
    ) -> WorkflowDeployment | None: ...
    async def page(
        self, *, project_id: str, limit: int, cursor: str | None
    ) -> Page[WorkflowDeployment]: ...
    async def next_to_reconcile(self) -> WorkflowDeployment | None:
        """One workflow deploying or undeploying that no other runner is working on, locked
        until the end of the transaction."""
        ...

    async def artifacts_in_use(self) -> set[str]:
        """Artifacts of the deployed (or deploying) workflows."""
        ...

    async def deployed(
        self, *, project_id: str | None = None, trigger_kind: str | None = None
    ) -> list[WorkflowDeployment]:
        """The workflows deployed now (of a project, with a trigger kind, when given)."""
        ...

    async def remove_project(self, project_id: str) -> int: ...


class RunRepository(Protocol):
    def add(self, run: WorkflowRun) -> None: ...
    async def get(self, *, project_id: str, run_id: str) -> WorkflowRun | None: ...
    async def find(self, run_id: str) -> WorkflowRun | None:
        """The run whatever its project."""
        ...

    async def lock(self, run_id: str) -> WorkflowRun | None:
        """The run, locked until the end of the transaction: changes of one run's steps
        that decide what comes next are made one at a time."""
        ...

    async def page(
        self, *, project_id: str, filters: RunFilter, limit: int, cursor: str | None
    ) -> Page[WorkflowRun]: ...
    async def running_of_workflow(self, workflow_id: str) -> list[WorkflowRun]: ...
    async def remove(self, run: WorkflowRun) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class StepRunRepository(Protocol):
    def add(self, step: StepRun) -> None: ...
    async def get(self, step_run_id: str) -> StepRun | None: ...
    async def with_run_locked(
        self, *, run_id: str, step_run_id: str
    ) -> tuple[WorkflowRun | None, StepRun | None]:
        """The step run and its run, the run locked as ``RunRepository.lock`` does (one
        round trip: the completion of a step run is the engine's hot path)."""
        ...

    async def of_run(self, run_id: str) -> list[StepRun]: ...
    async def active_of_run(self, run_id: str) -> list[StepRun]: ...
    async def succeeded_of(self, run_id: str, step_ids: set[str]) -> list[StepRun]: ...
    async def outputs_of(self, step_run_ids: set[str]) -> dict[str, OutputSets]: ...
    async def count_active(self, run_id: str, *, besides: str) -> int: ...
    async def claim(self, *, runner_id: str, limit: int, at: datetime) -> list[ClaimedStep]:
        """Up to ``limit`` ready step runs (due by ``at``), started by ``runner_id`` as
        ``StepRun.start`` does, skipping those another runner is claiming at the same time."""
        ...

    async def running_claimed_by(self, runner_ids: Sequence[str]) -> list[StepRun]: ...
    async def running_by_others(self, *, live: Sequence[str]) -> list[str]:
        """Runner ids, not in ``live``, that hold running step runs."""
        ...


class FileRepository(Protocol):
    def add(self, record: FileRecord) -> None: ...
    async def get(self, *, project_id: str | None, file_id: str) -> FileRecord | None:
        """The file of that project (of any project when ``project_id`` is None)."""
        ...


class LogRepository(Protocol):
    def add(self, logs: StepLogs) -> None: ...
    async def of_step(self, step_run_id: str) -> list[StepLogs]: ...


class RunEventRepository(Protocol):
    async def after(self, *, run_id: str, after_id: int, limit: int) -> list[StoredRunEvent]: ...


class ApiKeyRepository(Protocol):
    """Keys and settings of the user APIs; changes are written at once, committed with the
    unit of work."""

    async def add(self, key: ApiKey) -> None: ...
    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[ApiKey]: ...
    async def remove(self, *, project_id: str, key_id: str) -> bool: ...
    async def hashes(self, project_id: str) -> dict[str, str]:
        """``{key_hash: key_id}`` of the project's keys."""
        ...

    async def touch(self, key_ids: Sequence[str], *, at: datetime) -> None:
        """Record that these keys were used at ``at``."""
        ...

    async def settings(self, project_id: str) -> ApiSettings: ...
    async def save_settings(self, settings: ApiSettings) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class TriggerFireRepository(Protocol):
    async def add(
        self,
        *,
        deployment_id: str,
        fire_key: str,
        workflow_id: str,
        run_id: str,
        scheduled_at: datetime,
        fired_at: datetime,
    ) -> bool:
        """Record a fire now (not at commit); False when the deployment already fired for
        this key (in a transaction committed, or still open elsewhere: then it waits)."""
        ...


class UnitOfWork(Protocol):
    @property
    def deployments(self) -> DeploymentRepository: ...
    @property
    def workflows(self) -> WorkflowRepository: ...
    @property
    def runs(self) -> RunRepository: ...
    @property
    def steps(self) -> StepRunRepository: ...
    @property
    def files(self) -> FileRepository: ...
    @property
    def logs(self) -> LogRepository: ...
    @property
    def run_events(self) -> RunEventRepository: ...
    @property
    def api_keys(self) -> ApiKeyRepository: ...
    @property
    def trigger_fires(self) -> TriggerFireRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None:
        """Write the new and changed aggregates, their run events (and outbox rows), commit,
        and wake whoever waits for what changed (runners, event streams)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class StorageUnavailable(Exception):
    """The database could not be reached or dropped the connection: worth a retry."""


class RunnerLiveness(Protocol):
    async def live_runners(self) -> list[str]:
        """Ids of the runner processes alive now (this one included)."""
        ...


# --- sites -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ActionVersion:
    """What a site deploys: one built action version, with the resources it asks for."""

    artifact_ref: str
    name: str
    version: str
    resources: Resources = field(default_factory=Resources)


@dataclass(frozen=True, kw_only=True)
class RemoteFile:
    url: str
    """A presigned GET URL."""
    name: str
    directory: bool = False


@dataclass(frozen=True, kw_only=True)
class SiteValue:
    type: IoType
    value: str | int | float | bool | RemoteFile | None


@dataclass(frozen=True, kw_only=True)
class ExecutionRequest:
    execution_id: str
    """The idempotency key: sending the same id again never runs the action twice while the
    site remembers its answer."""
    inputs: Mapping[str, SiteValue]
    output_uploads: Mapping[str, Sequence[str]]
    """Presigned PUT URLs per file output: the i-th receives the i-th output set's file."""
    timeout_seconds: float = 0.0


class ExecutionStatus(StrEnum):
    SUCCESS = "success"
    USER_ERROR = "user_error"
    TIMEOUT = "timeout"
    CRASH = "crash"
    INVALID_INPUT = "invalid_input"
    INVALID_OUTPUT = "invalid_output"
    TRANSFER_ERROR = "transfer_error"


@dataclass(frozen=True, kw_only=True)
class ProducedFile:
    name: str
    size_bytes: int
    sha256: str
    directory: bool
    url: str = ""
    """The PUT URL it was uploaded to; empty when the site staged it."""
    staged_id: str = ""


@dataclass(frozen=True, kw_only=True)
class ExecutionError:
    message: str
    type: str = ""
    code: int | None = None
    traceback: str = ""


@dataclass(frozen=True, kw_only=True)
class ExecutionOutcome:
    status: ExecutionStatus
    replica: str
    """Where it ran: staged files are uploaded from there (``Site.upload_staged``)."""
    output_sets: Sequence[Mapping[str, Any]] = ()
    """Values by output name; files are ``ProducedFile``."""
    error: ExecutionError | None = None
    logs: Sequence[LogLine] = ()
    logs_truncated: bool = False
    duration_seconds: float = 0.0
    handler_seconds: float = 0.0
    replayed: bool = False


@dataclass(frozen=True, kw_only=True)
class UploadResult:
    staged_id: str
    uploaded: bool
    error: str = ""
    size_bytes: int = 0
    sha256: str = ""


class SiteUnavailable(Exception):
    """The site could not run the execution now (unreachable, the action's process died or
    restarted, no room for it yet): a transient failure, retried with backoff."""


class ActionUnavailable(Exception):
    """The site can never run this action as it is (missing or broken artifact)."""


class ExecutionTimedOut(Exception):
    """The execution outlived its time limit by more than the site tolerates: it was stopped."""


class Site(Protocol):
    """Where actions run. Implemented by ``LocalSite`` (a process per action replica) and, next,
    a Kubernetes site (a Deployment and a Service per action version)."""

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def deploy(self, action: ActionVersion) -> None:
        """Make the action ready to execute (and check it can load); ``ActionUnavailable``
        with the reason when it cannot."""
        ...

    async def undeploy(self, artifact_ref: str) -> None:
        """The action is no longer needed: stop it once its executions in flight are done."""
        ...

    async def scale(self, artifact_ref: str, *, replicas: int) -> None:
        """Keep at least ``replicas`` replicas ready (bounded by the site's maximum)."""
        ...

    async def execute(self, action: ActionVersion, request: ExecutionRequest) -> ExecutionOutcome:
        """Run one execution and answer how it went. Raises ``SiteUnavailable`` (retry later),
        ``ActionUnavailable`` or ``ExecutionTimedOut``. Cancelling the call stops the
        execution."""
        ...

    async def upload_staged(
        self, *, replica: str, uploads: Sequence[tuple[str, str]]
    ) -> list[UploadResult]:
        """Upload staged files ``(staged_id, put_url)`` from the replica that produced them."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self) -> str: ...
