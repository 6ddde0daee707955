"""In-memory fakes of the runner's ports, for use-case tests."""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from oryx_runner.application.ports import (
    ActionVersion,
    ClaimedStep,
    ExecutionOutcome,
    ExecutionRequest,
    ExecutionStatus,
    FileRecord,
    Page,
    ProducedFile,
    RunFilter,
    StepLogs,
    StoredRunEvent,
    UploadResult,
)
from oryx_runner.domain.api_keys import ApiKey, ApiSettings
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.errors import Conflict
from oryx_runner.domain.events import Event, RunEvent
from oryx_runner.domain.runs import OutputSets, StepRun, StepStatus, WorkflowRun


def _page(items: list, limit: int, cursor: str | None, key: Callable[[Any], Any]) -> Page:
    items = sorted(items, key=key, reverse=True)
    start = int(cursor) if cursor else 0
    chunk = items[start : start + limit]
    return Page(
        items=chunk,
        total=len(items),
        next_cursor=str(start + limit) if start + limit < len(items) else None,
    )


@dataclass
class InMemoryDatabase:
    deployments: dict[str, Deployment] = field(default_factory=dict)
    workflows: dict[str, WorkflowDeployment] = field(default_factory=dict)
    runs: dict[str, WorkflowRun] = field(default_factory=dict)
    steps: dict[str, StepRun] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    logs: list[StepLogs] = field(default_factory=list)
    run_events: list[StoredRunEvent] = field(default_factory=list)
    published: list[Event] = field(default_factory=list)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    api_settings: dict[str, ApiSettings] = field(default_factory=dict)
    fires: dict[tuple[str, str], str] = field(default_factory=dict)
    """(deployment id, fire key) -> run id"""
    commits: int = 0

    def events_of(self, run_id: str) -> list[str]:
        return [e.event.type.value for e in self.run_events if e.event.run_id == run_id]


class _Deployments:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, deployment: Deployment) -> None:
        self.uow.staged_deployments[deployment.id] = deployment

    async def get(self, deployment_id: str) -> Deployment | None:
        return self.uow.staged_deployments.get(deployment_id) or self.uow.db.deployments.get(
            deployment_id
        )


class _Workflows:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, state: WorkflowDeployment) -> None:
        self.uow.work.workflows[state.workflow_id] = state

    async def get(
        self, *, workflow_id: str, project_id: str | None = None, for_update: bool = False
    ) -> WorkflowDeployment | None:
        state = self.uow.work.workflows.get(workflow_id)
        if state is None or (project_id is not None and state.project_id != project_id):
            return None
        return state

    async def page(
        self, *, project_id: str, limit: int, cursor: str | None
    ) -> Page[WorkflowDeployment]:
        items = [w for w in self.uow.work.workflows.values() if w.project_id == project_id]
        return _page(items, limit, cursor, key=lambda w: (w.changed_at, w.workflow_id))

    async def next_to_reconcile(self) -> WorkflowDeployment | None:
        pending = [
            w
            for w in self.uow.work.workflows.values()
            if w.status.value in ("deploying", "undeploying")
        ]
        return min(pending, key=lambda w: w.changed_at) if pending else None

    async def artifacts_in_use(self) -> set[str]:
        used = set()
        for state in self.uow.work.workflows.values():
            if state.status.value in ("deploying", "deployed"):
                deployment = await _Deployments(self.uow).get(state.deployment_id)
                if deployment:
                    used |= {s.artifact_ref for s in deployment.snapshot.steps if s.artifact_ref}
        return used

    async def deployed(
        self, *, project_id: str | None = None, trigger_kind: str | None = None
    ) -> list[WorkflowDeployment]:
        found = []
        for state in self.uow.work.workflows.values():
            if state.status.value != "deployed":
                continue
            if project_id is not None and state.project_id != project_id:
                continue
            if trigger_kind is not None:
                deployment = await _Deployments(self.uow).get(state.deployment_id)
                if deployment is None or deployment.trigger_kind != trigger_kind:
                    continue
            found.append(state)
        return sorted(found, key=lambda s: s.workflow_id)

    async def remove_project(self, project_id: str) -> int:
        return 0


class _ApiKeys:
    """Written at once, like the SQL repository (the fake's commit is not needed)."""

    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    async def add(self, key: ApiKey) -> None:
        self.uow.db.api_keys[key.id] = key

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[ApiKey]:
        items = [k for k in self.uow.db.api_keys.values() if k.project_id == project_id]
        return _page(items, limit, cursor, key=lambda k: (k.created_at, k.id))

    async def remove(self, *, project_id: str, key_id: str) -> bool:
        key = self.uow.db.api_keys.get(key_id)
        if key is None or key.project_id != project_id:
            return False
        del self.uow.db.api_keys[key_id]
        return True

    async def hashes(self, project_id: str) -> dict[str, str]:
        return {
            k.key_hash: k.id for k in self.uow.db.api_keys.values() if k.project_id == project_id
        }

    async def touch(self, key_ids: Sequence[str], *, at: datetime) -> None:
        for key_id in key_ids:
            key = self.uow.db.api_keys.get(key_id)
            if key is not None:
                self.uow.db.api_keys[key_id] = ApiKey(**{**key.__dict__, "last_used_at": at})

    async def settings(self, project_id: str) -> ApiSettings:
        return self.uow.db.api_settings.get(project_id) or ApiSettings(project_id=project_id)

    async def save_settings(self, settings: ApiSettings) -> None:
        self.uow.db.api_settings[settings.project_id] = settings

    async def remove_project(self, project_id: str) -> int:
        return 0


class _Runs:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, run: WorkflowRun) -> None:
        self.uow.work.runs[run.id] = run

    async def get(self, *, project_id: str, run_id: str) -> WorkflowRun | None:
        run = self.uow.work.runs.get(run_id)
        return run if run and run.project_id == project_id else None

    async def lock(self, run_id: str) -> WorkflowRun | None:
        return self.uow.work.runs.get(run_id)

    async def find(self, run_id: str) -> WorkflowRun | None:
        return self.uow.work.runs.get(run_id)

    async def page(
        self, *, project_id: str, filters: RunFilter, limit: int, cursor: str | None
    ) -> Page[WorkflowRun]:
        items = [
            r
            for r in self.uow.work.runs.values()
            if r.project_id == project_id
            and (filters.workflow_id is None or r.workflow_id == filters.workflow_id)
            and (filters.status is None or r.status is filters.status)
            and (filters.since is None or r.submitted_at >= filters.since)
            and (filters.until is None or r.submitted_at < filters.until)
        ]
        return _page(items, limit, cursor, key=lambda r: (r.submitted_at, r.id))

    async def running_of_workflow(self, workflow_id: str) -> list[WorkflowRun]:
        return [
            r
            for r in self.uow.work.runs.values()
            if r.workflow_id == workflow_id and not r.status.is_final
        ]

    async def remove(self, run: WorkflowRun) -> None:
        self.uow.work.runs.pop(run.id, None)
        for key in [k for k, s in self.uow.work.steps.items() if s.run_id == run.id]:
            del self.uow.work.steps[key]

    async def remove_project(self, project_id: str) -> int:
        return 0


class _Steps:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, step: StepRun) -> None:
        for other in self.uow.work.steps.values():
            if (other.run_id, other.step_id, other.branch_key) == (
                step.run_id,
                step.step_id,
                step.branch_key,
            ):
                raise Conflict("a step run of this branch exists")
        self.uow.work.steps[step.id] = step

    async def get(self, step_run_id: str) -> StepRun | None:
        return self.uow.work.steps.get(step_run_id)

    async def with_run_locked(
        self, *, run_id: str, step_run_id: str
    ) -> tuple[WorkflowRun | None, StepRun | None]:
        step = self.uow.work.steps.get(step_run_id)
        return self.uow.work.runs.get(run_id), step if step and step.run_id == run_id else None

    def _of(self, run_id: str) -> list[StepRun]:
        return sorted(
            (s for s in self.uow.work.steps.values() if s.run_id == run_id),
            key=lambda s: (s.submitted_at, s.id),
        )

    async def of_run(self, run_id: str) -> list[StepRun]:
        return self._of(run_id)

    async def active_of_run(self, run_id: str) -> list[StepRun]:
        return [s for s in self._of(run_id) if not s.status.is_final]

    async def succeeded_of(self, run_id: str, step_ids: set[str]) -> list[StepRun]:
        return [
            s
            for s in self._of(run_id)
            if s.step_id in step_ids and s.status is StepStatus.SUCCEEDED
        ]

    async def outputs_of(self, step_run_ids: set[str]) -> dict[str, OutputSets]:
        return {
            k: self.uow.work.steps[k].outputs or []
            for k in step_run_ids
            if k in self.uow.work.steps
        }

    async def count_active(self, run_id: str, *, besides: str) -> int:
        return sum(1 for s in self._of(run_id) if s.id != besides and not s.status.is_final)

    async def claim(self, *, runner_id: str, limit: int, at: datetime) -> list[ClaimedStep]:
        ready = sorted(
            (
                s
                for s in self.uow.work.steps.values()
                if s.status is StepStatus.READY and (s.not_before is None or s.not_before <= at)
            ),
            key=lambda s: (s.not_before or at, s.id),
        )[:limit]
        claimed = []
        for step in ready:
            step.start(runner_id=runner_id, at=at)
            run = self.uow.work.runs[step.run_id]
            claimed.append(
                ClaimedStep(
                    step=copy.deepcopy(step),
                    project_id=run.project_id,
                    workflow_id=run.workflow_id,
                    deployment_id=run.deployment_id,
                )
            )
        return claimed

    async def running_claimed_by(self, runner_ids: Sequence[str]) -> list[StepRun]:
        return [
            s
            for s in self.uow.work.steps.values()
            if s.status is StepStatus.RUNNING and s.claimed_by in runner_ids
        ]

    async def running_by_others(self, *, live: Sequence[str]) -> list[str]:
        return sorted(
            {
                s.claimed_by or ""
                for s in self.uow.work.steps.values()
                if s.status is StepStatus.RUNNING and s.claimed_by not in live
            }
        )


class _Files:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, record: FileRecord) -> None:
        self.uow.staged_files.append(record)

    async def get(self, *, project_id: str | None, file_id: str) -> FileRecord | None:
        record = self.uow.db.files.get(file_id)
        if record is None or project_id not in (None, record.project_id):
            return None
        return record


class _Logs:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    def add(self, logs: StepLogs) -> None:
        self.uow.staged_logs.append(logs)

    async def of_step(self, step_run_id: str) -> list[StepLogs]:
        return [x for x in self.uow.db.logs if x.step_run_id == step_run_id]


class _RunEvents:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

    async def after(self, *, run_id: str, after_id: int, limit: int) -> list[StoredRunEvent]:
        return [e for e in self.uow.db.run_events if e.event.run_id == run_id and e.id > after_id][
            :limit
        ]


class _TriggerFires:
    def __init__(self, uow: InMemoryUnitOfWork) -> None:
        self.uow = uow

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
        key = (deployment_id, fire_key)
        if key in self.uow.db.fires or key in self.uow.staged_fires:
            return False
        self.uow.staged_fires[key] = run_id
        return True


@dataclass
class _Work:
    """A copy of the database's mutable part, worked on until commit (rollback = drop it)."""

    workflows: dict[str, WorkflowDeployment]
    runs: dict[str, WorkflowRun]
    steps: dict[str, StepRun]


class InMemoryUnitOfWork:
    """Transactions on copies: a use case that fails before commit changes nothing."""

    def __init__(
        self, db: InMemoryDatabase, *, on_commit: Callable[[list[RunEvent]], None] | None = None
    ) -> None:
        self.db = db
        self._on_commit = on_commit

    async def __aenter__(self) -> Self:
        self.work = _Work(
            workflows=copy.deepcopy(self.db.workflows),
            runs=copy.deepcopy(self.db.runs),
            steps=copy.deepcopy(self.db.steps),
        )
        self.staged_deployments: dict[str, Deployment] = {}
        self.staged_files: list[FileRecord] = []
        self.staged_logs: list[StepLogs] = []
        self.staged_fires: dict[tuple[str, str], str] = {}
        self.deployments = _Deployments(self)
        self.workflows = _Workflows(self)
        self.runs = _Runs(self)
        self.steps = _Steps(self)
        self.files = _Files(self)
        self.logs = _Logs(self)
        self.run_events = _RunEvents(self)
        self.api_keys = _ApiKeys(self)
        self.trigger_fires = _TriggerFires(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        created: list[RunEvent] = []
        changed: list[RunEvent] = []
        ended: list[RunEvent] = []
        for run in self.work.runs.values():
            for event in run.events:
                (created if event.type.value == "run.created" else ended).append(event)
            run.events.clear()
        for step in self.work.steps.values():
            changed.extend(step.events)
            step.events.clear()
        events = created + changed + ended
        for state in self.work.workflows.values():
            self.db.published.extend(state.events)
            state.events.clear()
        self.db.deployments.update(self.staged_deployments)
        self.db.workflows = self.work.workflows
        self.db.runs = self.work.runs
        self.db.steps = self.work.steps
        for record in self.staged_files:
            self.db.files[record.id] = record
        self.db.logs.extend(self.staged_logs)
        self.db.fires.update(self.staged_fires)
        for event in events:
            self.db.run_events.append(StoredRunEvent(id=len(self.db.run_events) + 1, event=event))
        self.db.commits += 1
        await self.__aenter__()  # a fresh copy, as after a commit
        if self._on_commit is not None:
            self._on_commit(events)


Script = Callable[[ActionVersion, ExecutionRequest], Any]


class FakeSite:
    """Answers executions with what ``script`` says: an ``ExecutionOutcome``, a dict (one
    output set), a list of dicts (a fan-out), or an exception to raise. By default, each
    action echoes its inputs."""

    def __init__(self, script: Script | None = None) -> None:
        self.script = script
        self.calls: list[tuple[str, ExecutionRequest]] = []
        self.deployed: list[str] = []
        self.undeployed: list[str] = []
        self.uploads: list[tuple[str, str]] = []
        self.gate: asyncio.Event | None = None
        self.aborted: list[str] = []

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def deploy(self, action: ActionVersion) -> None:
        self.deployed.append(action.artifact_ref)

    async def undeploy(self, artifact_ref: str) -> None:
        self.undeployed.append(artifact_ref)

    async def scale(self, artifact_ref: str, *, replicas: int) -> None: ...

    async def execute(self, action: ActionVersion, request: ExecutionRequest) -> ExecutionOutcome:
        self.calls.append((action.name, request))
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.aborted.append(request.execution_id)
            raise
        answer = (
            self.script(action, request)
            if self.script
            else {k: v.value for k, v in request.inputs.items()}
        )
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, ExecutionOutcome):
            return answer
        sets = answer if isinstance(answer, list) else [answer]
        return ExecutionOutcome(status=ExecutionStatus.SUCCESS, replica="fake", output_sets=sets)

    async def upload_staged(
        self, *, replica: str, uploads: Sequence[tuple[str, str]]
    ) -> list[UploadResult]:
        self.uploads.extend(uploads)
        return [
            UploadResult(staged_id=s, uploaded=True, size_bytes=1, sha256="x") for s, _ in uploads
        ]


def produced(name: str, *, staged: str = "", url: str = "") -> ProducedFile:
    return ProducedFile(
        name=name, size_bytes=3, sha256="abc", directory=False, url=url, staged_id=staged
    )


class InMemoryFilestore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        prefix = prefix.rstrip("/") + "/"
        gone = [k for k in self.objects if k.startswith(prefix)]
        for key in gone:
            del self.objects[key]
        return len(gone)

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        return f"memory://get/{key}"

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        return f"memory://put/{key}"


class FakeClock:
    def __init__(self) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


class FakeTimer:
    """Sleeps that end when the test moves the clock past them (``advance``): a schedule
    is driven without real waiting."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.clock.current + timedelta(seconds=max(0.0, seconds)), future)
        self.sleepers.append(entry)
        try:
            await future
        finally:
            if entry in self.sleepers:
                self.sleepers.remove(entry)

    @staticmethod
    async def settle() -> None:
        """Let every task run until it waits again."""
        for _ in range(100):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``, waking each sleeper at its time, in order."""
        target = self.clock.current + timedelta(seconds=seconds)
        while True:
            await self.settle()
            due = [e for e in self.sleepers if e[0] <= target and not e[1].done()]
            if not due:
                break
            first = min(at for at, _ in due)
            self.clock.current = max(self.clock.current, first)
            for at, future in due:
                if at <= self.clock.current and not future.done():
                    future.set_result(None)
        self.clock.current = max(self.clock.current, target)
        await self.settle()


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"id-{next(self._counter):04d}"


class FakeLiveness:
    def __init__(self, live: list[str]) -> None:
        self.live = live

    async def live_runners(self) -> list[str]:
        return list(self.live)


class InMemoryDeployedTriggers:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    async def deployed(self, *, kinds: Sequence[str]) -> dict[str, str]:
        return {
            w.workflow_id: w.deployment_id
            for w in self.db.workflows.values()
            if w.status.value == "deployed"
            and self.db.deployments[w.deployment_id].trigger_kind in kinds
        }


class FakeSourceSite(FakeSite):
    """Each start of a source plays the next script: events to yield, exceptions to raise,
    ``"wait"`` to block (until stopped); a source with no script left blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[list[Any]] = []
        self.starts: list[Any] = []
        self.stopped = 0

    async def run_source(self, action: ActionVersion, request: Any) -> AsyncIterator[Any]:
        self.starts.append(request)
        script = self.scripts.pop(0) if self.scripts else ["wait"]
        try:
            for item in script:
                if item == "wait":
                    await asyncio.Event().wait()
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            self.stopped += 1


class FakeLease:
    def __init__(self, leases: InMemoryLeases, workflow_id: str) -> None:
        self.leases = leases
        self.workflow_id = workflow_id
        self.lost = asyncio.Event()

    async def wait_lost(self) -> None:
        await self.lost.wait()

    async def release(self) -> None:
        if self.leases.held.get(self.workflow_id) is self:
            del self.leases.held[self.workflow_id]


class InMemoryLeases:
    """One lease per workflow, shared by the drivers (runner processes) given the same."""

    def __init__(self) -> None:
        self.held: dict[str, FakeLease] = {}

    async def try_acquire(self, workflow_id: str) -> FakeLease | None:
        if workflow_id in self.held:
            return None
        lease = FakeLease(self, workflow_id)
        self.held[workflow_id] = lease
        return lease
