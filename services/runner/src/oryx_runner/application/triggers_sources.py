"""Users' own sources (``ryax_run.py``): a long-lived process on the site, each of its
``create_run`` a run of the workflow.

- **One runner runs it.** Every runner process has a driver task for each workflow deployed
  with a source, but only the one holding the workflow's lease (``SourceLeases``: a
  PostgreSQL advisory lock held on a connection of its own) runs the source; the others
  wait and try again every few seconds, so one of them takes over when the holder dies (its
  connection goes, and its lock with it).
- **Runs.** Each ``create_run`` is checked against the trigger's outputs; its files (staged
  by the wrapper) are uploaded to the filestore under the run's folder, then the run starts
  with those values as the trigger's outputs (``TriggerRuns.fire``). A
  ``create_run_error`` records a failed run with the source's message.
- **Restarts.** When the source ends (``run`` returned or raised, its process died, the
  site lost it), it is started again after a delay that doubles each time it ends early (up
  to ``restart_max_seconds``); meanwhile the deployment's status message says what happened
  and when it restarts. The message is cleared once the source has run for
  ``healthy_seconds`` or created a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from oryx_runner.application.deployments import action_version
from oryx_runner.application.filestore import Filestore
from oryx_runner.application.ports import (
    ActionUnavailable,
    ActionVersion,
    Clock,
    ExecutionError,
    FileRecord,
    IdGenerator,
    LogLine,
    ProducedFile,
    RemoteFile,
    SiteUnavailable,
    SiteValue,
    StorageUnavailable,
    UploadResult,
)
from oryx_runner.application.runs import run_prefix
from oryx_runner.application.triggers import FireRun, Firing, static_inputs
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.application.triggers_timing import Timer
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.errors import InvalidValue
from oryx_runner.domain.runs import ErrorKind, RunError
from oryx_runner.domain.workflows import FileValue, IoSpec, IoType, Value, check_inputs

log = logging.getLogger(__name__)
source_log = logging.getLogger("oryx_runner.sources")

KIND = "source"
MAX_MESSAGE = 1000


# --- ports -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SourceRequest:
    run_id: str
    """This start of the source (for the site's logs)."""
    inputs: Mapping[str, SiteValue]
    outputs: Sequence[IoSpec]
    """The workflow's outputs of the trigger (used when the action's outputs are dynamic)."""


@dataclass(frozen=True, kw_only=True)
class SourceRunCreated:
    values: Mapping[str, Any]
    """By output name; files are ``ProducedFile`` (staged on ``replica``)."""
    replica: str


@dataclass(frozen=True, kw_only=True)
class SourceRunFailed:
    message: str
    code: int | None = None


@dataclass(frozen=True, kw_only=True)
class SourceLogs:
    lines: Sequence[LogLine]


@dataclass(frozen=True, kw_only=True)
class SourceEnded:
    reason: str
    """returned, user_error, crash, invalid_input or transfer_error."""
    error: ExecutionError | None = None


SourceEvent = SourceRunCreated | SourceRunFailed | SourceLogs | SourceEnded


class SourceSite(Protocol):
    def run_source(
        self, action: ActionVersion, request: SourceRequest
    ) -> AsyncIterator[SourceEvent]:
        """Run the source; its events until the last, ``SourceEnded``. Closing the iterator
        stops the source. ``SiteUnavailable`` or ``ActionUnavailable`` when it cannot run
        or the site lost it."""
        ...

    async def upload_staged(
        self, *, replica: str, uploads: Sequence[tuple[str, str]]
    ) -> list[UploadResult]: ...


class Lease(Protocol):
    async def wait_lost(self) -> None:
        """Returns if the lease is lost (the database connection holding it went away)."""
        ...

    async def release(self) -> None: ...


class SourceLeases(Protocol):
    async def try_acquire(self, workflow_id: str) -> Lease | None:
        """The workflow's lease if no runner process holds it, else None."""
        ...


# --- the driver --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SourceSettings:
    restart_base_seconds: float = 1.0
    restart_max_seconds: float = 60.0
    healthy_seconds: float = 10.0
    """A source that ran this long is fine again (message cleared, delay back to the base)."""
    standby_seconds: float = 5.0
    """How often a runner that does not hold a source's lease tries to take it."""
    url_seconds: float = 6 * 3600.0
    fire_attempts: int = 5


_ENDED = {
    "returned": "run() returned",
    "user_error": "run() raised an exception",
    "crash": "its process died",
    "invalid_input": "its inputs are invalid",
    "transfer_error": "an input file could not be downloaded",
}


class SourceDriver:
    """Implements ``TriggerDriver`` for users' sources."""

    def __init__(
        self,
        *,
        site: SourceSite,
        leases: SourceLeases,
        filestore: Filestore,
        runs: TriggerRuns,
        clock: Clock,
        timer: Timer,
        ids: IdGenerator,
        settings: SourceSettings | None = None,
    ) -> None:
        self._site = site
        self._leases = leases
        self._filestore = filestore
        self._runs = runs
        self._clock = clock
        self._timer = timer
        self._ids = ids
        self.settings = settings or SourceSettings()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.holding: set[str] = set()
        """Workflows whose source this process runs (it holds their lease)."""

    def check(self, deployment: Deployment) -> None:
        trigger = deployment.snapshot.trigger
        if not trigger.artifact_ref:
            raise InvalidValue(
                f"the source {trigger.action_name} {trigger.action_version} has no built "
                "artifact; build the action, then deploy again"
            )

    async def start(self, deployment: Deployment, fire: FireRun) -> None:
        await self.stop(deployment.workflow_id)
        self.check(deployment)
        self._tasks[deployment.workflow_id] = asyncio.create_task(
            self._keep(deployment, fire), name=f"source of {deployment.workflow_id}"
        )

    async def stop(self, workflow_id: str) -> None:
        task = self._tasks.pop(workflow_id, None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for workflow_id in list(self._tasks):
            await self.stop(workflow_id)

    async def _keep(self, deployment: Deployment, fire: FireRun) -> None:
        workflow_id = deployment.workflow_id
        while True:
            try:
                lease = await self._leases.try_acquire(workflow_id)
            except Exception as exc:
                log.warning("%s: could not ask for the source's lease: %s", workflow_id, exc)
                lease = None
            if lease is None:
                await self._timer.sleep(self.settings.standby_seconds)
                continue
            self.holding.add(workflow_id)
            try:
                await self._serve(deployment, fire, lease)
            finally:
                self.holding.discard(workflow_id)
                with contextlib.suppress(Exception):
                    await asyncio.shield(lease.release())

    async def _serve(self, deployment: Deployment, fire: FireRun, lease: Lease) -> None:
        """Run the source, restarting it when it ends, for as long as the lease holds."""
        lost = asyncio.ensure_future(lease.wait_lost())
        failures = 0
        try:
            while True:
                began = self._clock.now()
                running = asyncio.ensure_future(self._run_once(deployment, fire))
                try:
                    await asyncio.wait({running, lost}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not running.done():
                        running.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await running
                if lost.done():
                    log.warning(
                        "%s: lost the source's lease (database connection); another runner "
                        "takes over",
                        deployment.workflow_id,
                    )
                    return
                why = running.result()
                lived = (self._clock.now() - began).total_seconds()
                failures = 1 if lived >= self.settings.healthy_seconds else failures + 1
                delay = min(
                    self.settings.restart_max_seconds,
                    self.settings.restart_base_seconds * 2 ** (failures - 1),
                )
                message = f"the source stopped: {why}; it restarts in {delay:g} s"
                log.warning("%s: %s", deployment.workflow_id, message)
                await self._report(deployment, message[:MAX_MESSAGE])
                waiting = asyncio.ensure_future(self._timer.sleep(delay))
                try:
                    await asyncio.wait({waiting, lost}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
                if lost.done():
                    return
        finally:
            lost.cancel()

    async def _run_once(self, deployment: Deployment, fire: FireRun) -> str:
        """Run the source once; answers why it ended."""
        healthy = asyncio.ensure_future(self._healthy_after(deployment))
        recent: deque[str] = deque(maxlen=3)
        try:
            request = await self._request(deployment)
            trigger = deployment.snapshot.trigger
            events = self._site.run_source(action_version(trigger), request)
            try:
                async for event in events:
                    if isinstance(event, SourceRunCreated):
                        await self._created(deployment, fire, event)
                        if not healthy.done():
                            healthy.cancel()
                            await self._report(deployment, "")
                    elif isinstance(event, SourceRunFailed):
                        error = RunError(
                            kind=ErrorKind.USER_ERROR,
                            message=event.message or "the source reported an error",
                            code=event.code,
                        )
                        await self._fire(deployment, fire, Firing(error=error))
                    elif isinstance(event, SourceLogs):
                        for line in event.lines:
                            source_log.info("%s: %s", deployment.workflow_id, line.text)
                            if line.text.strip():
                                recent.append(line.text.strip())
                    else:
                        return _why(event, recent)
            finally:
                await _close(events)
            return "its stream ended without saying why"
        except (SiteUnavailable, ActionUnavailable) as exc:
            return str(exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s: the source failed", deployment.workflow_id)
            return f"internal error ({exc!r})"
        finally:
            healthy.cancel()

    async def _healthy_after(self, deployment: Deployment) -> None:
        await self._timer.sleep(self.settings.healthy_seconds)
        await self._report(deployment, "")

    async def _report(self, deployment: Deployment, message: str) -> None:
        try:
            await self._runs.report(deployment, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: could not record the source's status: %s", deployment.workflow_id, exc)

    async def _request(self, deployment: Deployment) -> SourceRequest:
        trigger = deployment.snapshot.trigger
        values = static_inputs(trigger)
        expires = timedelta(seconds=self.settings.url_seconds)
        inputs: dict[str, SiteValue] = {}
        for io in trigger.inputs:
            if io.name not in values:
                continue
            value = values[io.name]
            if isinstance(value, FileValue):
                url = await self._filestore.presign_get(value.key, expires=expires)
                remote = RemoteFile(url=url, name=value.name, directory=io.type is IoType.DIRECTORY)
                inputs[io.name] = SiteValue(type=io.type, value=remote)
            else:
                inputs[io.name] = SiteValue(type=io.type, value=value)
        return SourceRequest(run_id=self._ids.new(), inputs=inputs, outputs=trigger.outputs)

    async def _created(
        self, deployment: Deployment, fire: FireRun, event: SourceRunCreated
    ) -> None:
        """Store the run's files, check its values, start it."""
        trigger = deployment.snapshot.trigger
        specs = {o.name: o for o in trigger.outputs}
        run_id = self._ids.new()
        prefix = run_prefix(deployment.project_id, run_id)
        expires = timedelta(seconds=self.settings.url_seconds)
        raw: dict[str, Any] = {}
        records: list[FileRecord] = []
        staged: list[tuple[str, str]] = []
        now = self._clock.now()
        for name, value in event.values.items():
            if name not in specs:
                continue  # an output of the action the workflow does not use
            if not isinstance(value, ProducedFile):
                raw[name] = value
                continue
            key = f"{prefix}/inputs/{name}/{_plain_name(value.name, fallback=name)}"
            if value.staged_id:
                staged.append(
                    (value.staged_id, await self._filestore.presign_put(key, expires=expires))
                )
            record = FileRecord(
                id=self._ids.new(),
                project_id=deployment.project_id,
                run_id=run_id,
                step_run_id=None,
                key=key,
                name=key.rsplit("/", 1)[-1],
                size_bytes=value.size_bytes,
                sha256=value.sha256,
                directory=value.directory,
                created_at=now,
            )
            records.append(record)
            raw[name] = record.as_value()
        try:
            if staged:
                await self._upload(event.replica, staged)
            values: dict[str, Value] = check_inputs(trigger.outputs, raw, prefix="outputs")
        except InvalidValue as exc:
            error = RunError(kind=ErrorKind.INVALID_OUTPUT, message=exc.message)
            await self._forget(prefix, records)
            await self._fire(deployment, fire, Firing(error=error, run_id=run_id))
            return
        except SiteUnavailable as exc:
            error = RunError(
                kind=ErrorKind.TRANSFER_ERROR, message=f"could not store a file: {exc}"
            )
            await self._forget(prefix, records)
            await self._fire(deployment, fire, Firing(error=error, run_id=run_id))
            return
        started = await self._fire(
            deployment, fire, Firing(values=values, run_id=run_id, files=records)
        )
        if started is None:
            await self._forget(prefix, records)

    async def _upload(self, replica: str, staged: list[tuple[str, str]]) -> None:
        """Upload the staged files (a few tries); ``SiteUnavailable`` when they cannot."""
        why = ""
        for attempt in range(3):
            if attempt:
                await self._timer.sleep(0.5 * 2**attempt)
            try:
                results = await self._site.upload_staged(replica=replica, uploads=staged)
            except SiteUnavailable as exc:
                why = str(exc)
                continue
            failed = [r for r in results if not r.uploaded]
            if not failed and len(results) == len(staged):
                return
            why = failed[0].error if failed else "missing upload results"
            done = {r.staged_id for r in results if r.uploaded}
            staged = [s for s in staged if s[0] not in done]
        raise SiteUnavailable(why)

    async def _forget(self, prefix: str, records: list[FileRecord]) -> None:
        if records:
            with contextlib.suppress(Exception):
                await self._filestore.delete_prefix(prefix)

    async def _fire(self, deployment: Deployment, fire: FireRun, firing: Firing) -> str | None:
        """Start the run, retrying while the database is unreachable."""
        for attempt in range(self.settings.fire_attempts):
            try:
                return await fire(firing)
            except StorageUnavailable as exc:
                log.warning("%s: could not start a run (%s)", deployment.workflow_id, exc)
                await self._timer.sleep(min(10.0, 0.5 * 2**attempt))
        log.error("%s: a run of the source was lost: the database", deployment.workflow_id)
        return None


def _why(event: SourceEnded, recent: deque[str]) -> str:
    why = _ENDED.get(event.reason, event.reason or "it ended")
    if event.error is not None and event.error.message:
        error = event.error
        kind = f"{error.type}: " if error.type and not error.message.startswith(error.type) else ""
        why += f": {kind}{error.message}"
    elif recent and event.reason != "returned":
        why += f" (its last output: {recent[-1]})"
    return why


def _plain_name(name: str, *, fallback: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or any(ord(c) < 32 for c in base):
        return fallback
    return base[:200]


async def _close(events: AsyncIterator[SourceEvent]) -> None:
    closing = getattr(events, "aclose", None)
    if closing is not None:
        with contextlib.suppress(Exception):
            await closing()
