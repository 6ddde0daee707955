"""The durable engine: claim ready step runs, execute them on the site, record what happened.

Every runner process runs one ``Engine``. The state lives in the database only; the engine
holds nothing that a crash could lose:

1. **Claim** (one short transaction): up to N ready step runs become *running*, owned by this
   runner, skipping rows another runner is claiming (``FOR UPDATE SKIP LOCKED``).
2. **Execute** on the site, outside any transaction, with the step run's id as execution id.
3. **Complete** (one short transaction, the run row locked so that the completions of one
   run's steps apply one at a time): the step run succeeds, fails, or goes back to ready for
   a retry; the step runs that can follow are created ready; the run ends when nothing is
   left. The step run is only written if this runner still owns that attempt (fencing).

Wake-ups are in-process (a commit that made work wakes the engine at once; another runner's
commit arrives through the database's notifications) with a slow poll as a safety net.
When a runner dies, ``Recovery`` puts its running step runs back to ready; they are sent again
with the same execution id, which the site answers without running the action twice when
it still knows the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from oryx_runner.application.deployments import action_version
from oryx_runner.application.filestore import Filestore
from oryx_runner.application.ports import (
    ActionUnavailable,
    ClaimedStep,
    Clock,
    ExecutionOutcome,
    ExecutionRequest,
    ExecutionStatus,
    ExecutionTimedOut,
    FileRecord,
    IdGenerator,
    ProducedFile,
    RemoteFile,
    RunnerLiveness,
    Site,
    SiteUnavailable,
    SiteValue,
    StepLogs,
    StorageUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_runner.application.runs import DeploymentCache, run_prefix
from oryx_runner.domain import dag
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.errors import Conflict
from oryx_runner.domain.runs import (
    ErrorKind,
    OutputSets,
    RunError,
    StepError,
    StepRun,
    StepStatus,
    WorkflowRun,
    retry_delay,
)
from oryx_runner.domain.workflows import FileValue, IoType, StepSpec, Value

log = logging.getLogger(__name__)

_FAILURES = {
    ExecutionStatus.USER_ERROR: ErrorKind.USER_ERROR,
    ExecutionStatus.TIMEOUT: ErrorKind.TIMEOUT,
    ExecutionStatus.CRASH: ErrorKind.CRASH,
    ExecutionStatus.INVALID_INPUT: ErrorKind.INVALID_INPUT,
    ExecutionStatus.INVALID_OUTPUT: ErrorKind.INVALID_OUTPUT,
}


@dataclass(frozen=True, kw_only=True)
class EngineSettings:
    runner_id: str
    max_concurrent_steps: int = 32
    poll_seconds: float = 1.0
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    max_attempts: int = 10
    """Sends of one step run (first included) before a transient failure fails it."""
    url_seconds: float = 6 * 3600.0
    """Life of the presigned URLs an action gets."""
    shutdown_grace_seconds: float = 10.0


@dataclass(frozen=True, kw_only=True)
class _Succeeded:
    outputs: OutputSets
    files: list[FileRecord]


@dataclass(frozen=True, kw_only=True)
class _Failed:
    error: StepError


@dataclass(frozen=True, kw_only=True)
class _Transient:
    error: StepError


_Result = _Succeeded | _Failed | _Transient


@dataclass(kw_only=True)
class EngineStats:
    claimed: int = 0
    completed: int = 0
    retried: int = 0
    fenced: int = 0
    """Answers dropped because this runner no longer owned the step run."""
    timings: list[tuple[float, float, float]] = field(default_factory=list)
    """(claim→sent, execute, complete) seconds of the last executions, for the benchmark."""


class Engine:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        site: Site,
        filestore: Filestore,
        deployments: DeploymentCache,
        clock: Clock,
        ids: IdGenerator,
        settings: EngineSettings,
        jitter: Callable[[], float] = random.random,
        keep_timings: bool = False,
    ) -> None:
        self._uow = uow
        self._site = site
        self._filestore = filestore
        self._deployments = deployments
        self._clock = clock
        self._ids = ids
        self.settings = settings
        self._jitter = jitter
        self._keep_timings = keep_timings
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: dict[str, tuple[asyncio.Task[None], str]] = {}
        """step run id -> (its task, its run id)"""
        self._loop_task: asyncio.Task[None] | None = None
        self._ended: OrderedDict[str, WorkflowRun] = OrderedDict()
        self._sent: set[str] = set()
        """Step runs taken here whose request left for the site (and not yet recorded)."""
        self._stopped_runs: OrderedDict[str, None] = OrderedDict()
        """Runs cancelled or failed lately: a step of theirs taken just before is not sent."""
        self.stats = EngineStats()

    @property
    def runner_id(self) -> str:
        return self.settings.runner_id

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    # -- the Dispatcher port --------------------------------------------------------------

    def room(self) -> int:
        if self._stopping or self._loop_task is None:
            return 0
        return max(0, self.settings.max_concurrent_steps - len(self._tasks))

    def adopt(self, steps: Sequence[ClaimedStep]) -> None:
        for claimed in steps:
            self._launch(claimed)

    # -- wake-ups -------------------------------------------------------------------------

    def wake(self) -> None:
        """There may be work: claim now (call from the engine's event loop)."""
        self._wake.set()

    def cancel_run(self, run_id: str) -> None:
        """The run was cancelled (or failed): stop the executions of its steps here."""
        self._stopped_runs[run_id] = None
        while len(self._stopped_runs) > 10_000:
            self._stopped_runs.popitem(last=False)
        for task, owner in list(self._tasks.values()):
            if owner == run_id:
                task.cancel()

    # -- the loop -------------------------------------------------------------------------

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self.run(), name=f"engine {self.runner_id}")

    async def run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            self._wake.clear()
            try:
                claimed, limit = await self.claim_now()
                backoff = 0.0
            except Exception as exc:
                backoff = min(max(backoff * 2, 0.1), 5.0)
                log.warning("claiming failed (%r); again in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                continue
            if claimed and claimed == limit:
                continue  # there may be more
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.poll_seconds)

    async def claim_now(self) -> tuple[int, int]:
        """Claim what this runner has room for and start executing it; (claimed, room)."""
        room = self.settings.max_concurrent_steps - len(self._tasks)
        if room <= 0 or self._stopping:
            return 0, 0
        async with self._uow() as uow:
            batch = await uow.steps.claim(
                runner_id=self.runner_id, limit=room, at=self._clock.now()
            )
            await uow.commit()
        for claimed in batch:
            self._launch(claimed)
        return len(batch), room

    def _launch(self, claimed: ClaimedStep) -> None:
        if self._stopping:
            return  # handed back by stop()
        self.stats.claimed += 1
        task = asyncio.create_task(self._execute(claimed), name=f"step {claimed.step.id}")
        self._tasks[claimed.step.id] = (task, claimed.step.run_id)
        task.add_done_callback(functools.partial(self._done, claimed.step.id))

    def _done(self, step_run_id: str, _task: object = None) -> None:
        full = len(self._tasks) >= self.settings.max_concurrent_steps
        self._tasks.pop(step_run_id, None)
        if full:
            self._wake.set()  # room again: there may be work waiting

    async def stop(self) -> None:
        """Stop claiming; let executions finish for the grace period, then stop them and
        hand their step runs back (ready, same execution id) for any runner to take."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        tasks = [t for t, _ in self._tasks.values()]
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
        left = [t for t, _ in self._tasks.values()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.release_mine()

    async def release_mine(self) -> int:
        """Hand this runner's running step runs back to the queue."""
        async with self._uow() as uow:
            steps = await uow.steps.running_claimed_by([self.runner_id])
            now = self._clock.now()
            for step in steps:
                step.recover(at=now, sent=step.id in self._sent)
            await uow.commit()
        self._sent.clear()
        return len(steps)

    async def drain(self, within: float = 30.0) -> None:
        """Wait until no execution is in flight here (tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self._tasks and loop.time() < deadline:
            await asyncio.wait([t for t, _ in self._tasks.values()], timeout=deadline - loop.time())

    # -- one step run ---------------------------------------------------------------------

    async def _execute(self, claimed: ClaimedStep) -> None:
        if claimed.step.run_id in self._stopped_runs:
            return  # already cancelled in the database; its step run says so
        loop = asyncio.get_running_loop()
        began = loop.time()
        deployment = None
        try:
            deployment = await self._deployments.get(claimed.deployment_id)
            spec = deployment.snapshot.step(claimed.step.step_id)
            request = await self._request(claimed, spec)
            sent = loop.time()
            self._sent.add(claimed.step.id)
            result, logs = await self._run_on_site(claimed, spec, request)
            done = loop.time()
        except asyncio.CancelledError:
            raise  # cancelled run (already recorded) or shutdown (released by stop())
        except Exception as exc:
            log.exception("step run %s could not be executed", claimed.step.id)
            result, logs = (
                _Transient(
                    error=StepError(kind=ErrorKind.SITE_ERROR, message=f"internal error: {exc!r}")
                ),
                None,
            )
            sent = done = loop.time()
        await self._finish(claimed, deployment, result, logs)
        self._sent.discard(claimed.step.id)
        if self._keep_timings:
            self.stats.timings.append((sent - began, done - sent, loop.time() - done))
            del self.stats.timings[:-10_000]

    def _key(self, claimed: ClaimedStep, index: int, output: str) -> str:
        prefix = run_prefix(claimed.project_id, claimed.step.run_id)
        return f"{prefix}/steps/{claimed.step.id}/outputs/{index}/{output}"

    async def _request(self, claimed: ClaimedStep, spec: StepSpec) -> ExecutionRequest:
        expires = timedelta(seconds=self.settings.url_seconds)
        inputs: dict[str, SiteValue] = {}
        for io in spec.inputs:
            if io.name not in claimed.step.inputs:
                continue
            value = claimed.step.inputs[io.name]
            if isinstance(value, FileValue):
                url = await self._filestore.presign_get(value.key, expires=expires)
                remote = RemoteFile(url=url, name=value.name, directory=io.type is IoType.DIRECTORY)
                inputs[io.name] = SiteValue(type=io.type, value=remote)
            else:
                inputs[io.name] = SiteValue(type=io.type, value=value)
        uploads = {
            o.name: [
                await self._filestore.presign_put(self._key(claimed, 0, o.name), expires=expires)
            ]
            for o in spec.outputs
            if o.type.is_file
        }
        return ExecutionRequest(
            execution_id=claimed.step.execution_id,
            inputs=inputs,
            output_uploads=uploads,
            timeout_seconds=float(spec.resources.time_seconds or 0),
        )

    async def _run_on_site(
        self, claimed: ClaimedStep, spec: StepSpec, request: ExecutionRequest
    ) -> tuple[_Result, StepLogs | None]:
        try:
            outcome = await self._site.execute(action_version(spec), request)
        except SiteUnavailable as exc:
            return _Transient(error=StepError(kind=ErrorKind.SITE_ERROR, message=str(exc))), None
        except ActionUnavailable as exc:
            return _Failed(error=StepError(kind=ErrorKind.SITE_ERROR, message=str(exc))), None
        except ExecutionTimedOut as exc:
            return _Failed(error=StepError(kind=ErrorKind.TIMEOUT, message=str(exc))), None
        logs = StepLogs(
            step_run_id=claimed.step.id,
            attempt=claimed.step.attempt,
            lines=list(outcome.logs),
            truncated=outcome.logs_truncated,
        )
        return await self._interpret(claimed, spec, outcome), logs

    async def _interpret(
        self, claimed: ClaimedStep, spec: StepSpec, outcome: ExecutionOutcome
    ) -> _Result:
        if outcome.status is ExecutionStatus.TRANSFER_ERROR:
            message = outcome.error.message if outcome.error else "a file transfer failed"
            return _Transient(error=StepError(kind=ErrorKind.TRANSFER_ERROR, message=message))
        if outcome.status is not ExecutionStatus.SUCCESS:
            error = outcome.error
            return _Failed(
                error=StepError(
                    kind=_FAILURES.get(outcome.status, ErrorKind.CRASH),
                    message=error.message if error else outcome.status.value,
                    type=error.type if error else "",
                    code=error.code if error else None,
                    traceback=error.traceback if error else "",
                )
            )
        expires = timedelta(seconds=self.settings.url_seconds)
        staged: list[tuple[str, str]] = []
        for index, values in enumerate(outcome.output_sets):
            for name, value in values.items():
                if isinstance(value, ProducedFile) and value.staged_id:
                    url = await self._filestore.presign_put(
                        self._key(claimed, index, name), expires=expires
                    )
                    staged.append((value.staged_id, url))
        if staged:
            results = await self._site.upload_staged(replica=outcome.replica, uploads=staged)
            failed = [r for r in results if not r.uploaded]
            if failed or len(results) != len(staged):
                why = failed[0].error if failed else "missing upload results"
                return _Transient(
                    error=StepError(
                        kind=ErrorKind.TRANSFER_ERROR,
                        message=f"could not store an output file: {why}",
                    )
                )
        now = self._clock.now()
        sets: OutputSets = []
        files: list[FileRecord] = []
        for index, values in enumerate(outcome.output_sets):
            converted: dict[str, Value] = {}
            for name, value in values.items():
                if isinstance(value, ProducedFile):
                    record = FileRecord(
                        id=self._ids.new(),
                        project_id=claimed.project_id,
                        run_id=claimed.step.run_id,
                        step_run_id=claimed.step.id,
                        key=self._key(claimed, index, name),
                        name=value.name,
                        size_bytes=value.size_bytes,
                        sha256=value.sha256,
                        directory=value.directory,
                        created_at=now,
                    )
                    files.append(record)
                    converted[name] = record.as_value()
                else:
                    converted[name] = value
            sets.append(converted)
        return _Succeeded(outputs=sets, files=files)

    async def _finish(
        self,
        claimed: ClaimedStep,
        deployment: Deployment | None,
        result: _Result,
        logs: StepLogs | None,
    ) -> None:
        delay = 0.05
        failures = 0
        while True:
            try:
                retry_in = await self._complete(claimed, deployment, result, logs)
            except Conflict as exc:
                self.stats.fenced += 1
                log.info("answer of step run %s dropped: %s", claimed.step.id, exc)
                return
            except StorageUnavailable as exc:
                if self._stopping:
                    return  # released on stop, or recovered after a crash
                log.warning(
                    "recording step run %s failed (%s); again in %.2f s",
                    claimed.step.id,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception:
                # A bug, or a database refusing what it accepted before: try a few times,
                # then leave the step run running; it is recovered when this runner stops.
                failures += 1
                log.exception("recording step run %s failed (%d)", claimed.step.id, failures)
                if failures >= 5 or self._stopping:
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.stats.completed += 1
            if isinstance(retry_in, float):
                self.stats.retried += 1
                asyncio.get_running_loop().call_later(retry_in, self._wake.set)
            elif retry_in:
                for claimed_next in retry_in:  # taken in the same transaction: no claim needed
                    self._launch(claimed_next)
            return

    async def _complete(
        self,
        claimed: ClaimedStep,
        deployment: Deployment | None,
        result: _Result,
        logs: StepLogs | None,
    ) -> float | list[ClaimedStep] | None:
        """Record the result; answers the delay before a retry, if one was scheduled, or
        the step runs that follow, which this runner took in the same transaction."""
        retry_in: float | list[ClaimedStep] | None = None
        async with self._uow() as uow:
            run, step = await uow.steps.with_run_locked(
                run_id=claimed.step.run_id, step_run_id=claimed.step.id
            )
            if (
                run is None
                or step is None
                or step.status is not StepStatus.RUNNING
                or step.claimed_by != self.runner_id
                or step.attempt != claimed.step.attempt
            ):
                raise Conflict(f"step run {claimed.step.id} is no longer this runner's attempt")
            if logs is not None and (logs.lines or logs.truncated):
                uow.logs.add(logs)
            now = self._clock.now()
            if isinstance(result, _Succeeded):
                assert deployment is not None
                step.succeed(outputs=result.outputs, at=now)
                for record in result.files:
                    uow.files.add(record)
                created = await advance(
                    uow, deployment=deployment, run=run, finished=step, ids=self._ids, at=now
                )
                # Eager hand-off: take what follows now, in this transaction, as far as
                # there is room (this execution's slot frees as it ends). The rest stays
                # ready for any runner.
                room = self.settings.max_concurrent_steps - len(self._tasks) + 1
                taken = []
                for follower in created[: max(0, room)]:
                    follower.start(runner_id=self.runner_id, at=now)
                    taken.append(
                        ClaimedStep(
                            step=follower,
                            project_id=claimed.project_id,
                            workflow_id=claimed.workflow_id,
                            deployment_id=claimed.deployment_id,
                        )
                    )
                retry_in = taken or None
            elif isinstance(result, _Failed) or step.attempt >= self.settings.max_attempts:
                error = result.error
                if isinstance(result, _Transient):
                    error = StepError(
                        kind=error.kind,
                        message=f"gave up after {step.attempt} attempts: {error.message}",
                    )
                step.fail(error=error, at=now)
                await fail_run(uow, run=run, failed=step, error=error, at=now)
            else:
                retry_in = retry_delay(
                    attempt=step.attempt,
                    base_seconds=self.settings.retry_base_seconds,
                    max_seconds=self.settings.retry_max_seconds,
                    jitter=0.5 + self._jitter() / 2,
                )
                step.retry(error=result.error, not_before=now + timedelta(seconds=retry_in), at=now)
            await uow.commit()
            if run.status.is_final:
                self._ended[run.id] = run
                while len(self._ended) > 1024:
                    self._ended.popitem(last=False)
        return retry_in

    def ended(self, run_id: str) -> WorkflowRun | None:
        """The run, if it ended lately in this process (as committed): who waits for a run
        here reads it without a query."""
        return self._ended.get(run_id)


async def advance(
    uow: UnitOfWork,
    *,
    deployment: Deployment,
    run: WorkflowRun,
    finished: StepRun,
    ids: IdGenerator,
    at: Any,
) -> list[StepRun]:
    """``finished`` succeeded: create the step runs that can follow (answered); end the run
    if nothing is left to do."""
    snapshot = deployment.snapshot
    others = dag.other_parents(snapshot, finished.step_id)
    candidates = await uow.steps.succeeded_of(run.id, others) if others else []
    planned = dag.plan_children(snapshot=snapshot, finished=finished, candidates=candidates)
    if planned:
        needed = dag.needed_outputs(planned) - {finished.id}
        outputs: dict[str, OutputSets] = await uow.steps.outputs_of(needed) if needed else {}
        outputs[finished.id] = finished.outputs or []
        created = []
        for item in planned:
            follower = StepRun.ready(
                step_run_id=ids.new(),
                run_id=run.id,
                step_id=item.step.step_id,
                branch_key=item.branch_key,
                context=item.context,
                inputs=dag.resolve_inputs(item.step, item.context, outputs),
                at=at,
            )
            uow.steps.add(follower)
            created.append(follower)
        return created
    if run.status.is_final or await uow.steps.count_active(run.id, besides=finished.id):
        return []
    wanted = {r.source.step_id for r in snapshot.results}
    done = await uow.steps.succeeded_of(run.id, wanted) if wanted else []
    done = [s for s in done if s.id != finished.id] + [finished]
    run.succeed(result=dag.collect_results(snapshot, done), at=at)
    return []


async def fail_run(
    uow: UnitOfWork, *, run: WorkflowRun, failed: StepRun, error: StepError, at: Any
) -> None:
    """A step failed: its run fails with the step's error; the rest of the run stops."""
    if run.status.is_final:
        return
    run.fail(
        error=RunError(
            kind=error.kind,
            message=error.message,
            code=error.code,
            step_id=failed.step_id,
            step_run_id=failed.id,
        ),
        at=at,
    )
    for other in await uow.steps.active_of_run(run.id):
        if other.id != failed.id and not other.status.is_final:
            other.cancel(at=at)


class Recovery:
    """Puts back to ready the step runs of runners that died, so that any runner (this one
    included) sends them again, with the same execution id.

    A runner counts as dead once its liveness (``RunnerLiveness``) has said so for
    ``grace_seconds``: a runner whose connection blipped gets that long to come back."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        liveness: RunnerLiveness,
        clock: Clock,
        runner_id: str,
        grace_seconds: float = 3.0,
        on_recovered: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._runner_id = runner_id
        self._liveness = liveness
        self._clock = clock
        self._grace = grace_seconds
        self._on_recovered = on_recovered
        self._suspects: dict[str, float] = {}

    async def sweep(self) -> int:
        """One pass; answers how many step runs went back to ready."""
        loop = asyncio.get_running_loop()
        # this runner is alive, whatever the database said while its connection was down
        live = sorted({*await self._liveness.live_runners(), self._runner_id})
        async with self._uow() as uow:
            holders = await uow.steps.running_by_others(live=live)
        now = loop.time()
        self._suspects = {r: self._suspects.get(r, now) for r in holders}
        dead = [r for r, since in self._suspects.items() if now - since >= self._grace]
        if not dead:
            return 0
        async with self._uow() as uow:
            steps = await uow.steps.running_claimed_by(dead)
            at = self._clock.now()
            for step in steps:
                step.recover(at=at)
            await uow.commit()
        if steps:
            log.info("recovered %d step runs of runners %s", len(steps), ", ".join(dead))
            if self._on_recovered is not None:
                self._on_recovered()
        return len(steps)
