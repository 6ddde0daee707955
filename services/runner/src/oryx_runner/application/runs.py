"""Runs: start one by hand, list them, look at one, its logs and result, cancel, delete."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from oryx_runner.application.filestore import Filestore
from oryx_runner.application.lifecycle import cancel_run, start_run_with_steps
from oryx_runner.application.ports import (
    ClaimedStep,
    Clock,
    Dispatcher,
    FileRecord,
    IdGenerator,
    Page,
    RunFilter,
    StepLogs,
    StorageUnavailable,
    StoredRunEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_runner.application.triggers import manual_inputs
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.errors import Conflict, InvalidValue, NotFound
from oryx_runner.domain.runs import RunStatus, StepRun, StepStatus, WorkflowRun
from oryx_runner.domain.workflows import IoSpec, IoType, check_inputs

MAX_UPLOAD_NAME = 255


def run_prefix(project_id: str, run_id: str) -> str:
    """The filestore folder of a run's files."""
    return f"projects/{project_id}/runs/{run_id}"


class DeploymentCache:
    """Deployments are immutable: each is read from the database once per process."""

    def __init__(self, *, uow: UnitOfWorkFactory, size: int = 512) -> None:
        self._uow = uow
        self._size = size
        self._known: dict[str, Deployment] = {}

    async def get(self, deployment_id: str) -> Deployment:
        known = self._known.get(deployment_id)
        if known is not None:
            return known
        async with self._uow() as uow:
            deployment = await uow.deployments.get(deployment_id)
        if deployment is None:
            raise NotFound(f"deployment {deployment_id} not found")
        if len(self._known) >= self._size:
            self._known.pop(next(iter(self._known)))
        self._known[deployment_id] = deployment
        return deployment


@dataclass(frozen=True, kw_only=True)
class UploadedFile:
    """A file given with a manual run (multipart)."""

    name: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, kw_only=True)
class RunDetail:
    run: WorkflowRun
    deployment: Deployment
    steps: Sequence[StepRun]


class ResultState(StrEnum):
    DONE = "done"
    RUNNING = "running"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class RunResult:
    state: ResultState
    run: WorkflowRun


class Runs:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        deployments: DeploymentCache,
        filestore: Filestore,
        clock: Clock,
        ids: IdGenerator,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self._uow = uow
        self._deployments = deployments
        self._filestore = filestore
        self._clock = clock
        self._ids = ids
        self._dispatcher = dispatcher

    # -- starting -----------------------------------------------------------------------

    async def start_manual(
        self,
        *,
        project_id: str,
        workflow_id: str,
        values: Mapping[str, Any],
        files: Mapping[str, UploadedFile],
        requested_by: str,
    ) -> WorkflowRun:
        """Start a run of the workflow's deployed version with typed ``values`` (JSON or
        form text) and ``files`` for its file and directory values."""
        async with self._uow() as uow:
            state = await uow.workflows.get(workflow_id=workflow_id, project_id=project_id)
        if state is None:
            raise NotFound(f"workflow {workflow_id} is not deployed", field="workflow_id")
        if not state.accepts_runs:
            raise Conflict(
                f"workflow {workflow_id} is {state.status.value}, not deployed", field="workflow_id"
            )
        deployment = await self._deployments.get(state.deployment_id)
        specs = manual_inputs(deployment.snapshot.trigger)
        by_name = {s.name: s for s in specs}
        for name in values:
            if name in files:
                raise InvalidValue(f"inputs.{name}: given twice", field=f"inputs.{name}")
        for name in files:
            spec = by_name.get(name)
            if spec is None or not spec.type.is_file:
                raise InvalidValue(
                    f"inputs.{name}: no file input of this name; file inputs: "
                    + (", ".join(s.name for s in specs if s.type.is_file) or "none"),
                    field=f"inputs.{name}",
                )
        return await self.start(
            deployment,
            specs=specs,
            values=values,
            files=files,
            trigger="manual",
            requested_by=requested_by,
        )

    async def start(
        self,
        deployment: Deployment,
        *,
        specs: Sequence[IoSpec],
        values: Mapping[str, Any],
        files: Mapping[str, UploadedFile],
        trigger: str,
        requested_by: str,
        field_of: Callable[[IoSpec], str] | None = None,
        run_id: str | None = None,
    ) -> WorkflowRun:
        """Start a run of ``deployment``: ``values`` and ``files`` (whose names are file
        inputs of ``specs``) are checked against ``specs``, the files stored with the run."""
        run_id = run_id or self._ids.new()
        by_name = {s.name: s for s in specs}
        records: list[FileRecord] = []
        raw: dict[str, Any] = dict(values)
        try:
            for name, upload in files.items():
                record = await self._store_input(
                    project_id=deployment.project_id,
                    run_id=run_id,
                    name=name,
                    upload=upload,
                    directory=by_name[name].type is IoType.DIRECTORY,
                    field=field_of(by_name[name]) if field_of else f"inputs.{name}",
                )
                records.append(record)
                raw[name] = record.as_value()
            given = check_inputs(specs, raw, field_of=field_of)
            taken: list[ClaimedStep] = []
            async with self._uow() as uow:
                now = self._clock.now()
                run, steps = start_run_with_steps(
                    uow,
                    deployment,
                    trigger=trigger,
                    given=given,
                    requested_by=requested_by,
                    ids=self._ids,
                    at=now,
                    run_id=run_id,
                )
                for record in records:
                    uow.files.add(record)
                dispatcher = self._dispatcher
                if dispatcher is not None:
                    ready = [s for s in steps if s.status is StepStatus.READY]
                    for step in ready[: dispatcher.room()]:
                        step.start(runner_id=dispatcher.runner_id, at=now)
                        taken.append(
                            ClaimedStep(
                                step=step,
                                project_id=deployment.project_id,
                                workflow_id=deployment.workflow_id,
                                deployment_id=deployment.id,
                            )
                        )
                await uow.commit()
        except BaseException:
            if records:
                await self._filestore.delete_prefix(run_prefix(deployment.project_id, run_id))
            raise
        if taken and self._dispatcher is not None:
            self._dispatcher.adopt(taken)
        return run

    async def _store_input(
        self,
        *,
        project_id: str,
        run_id: str,
        name: str,
        upload: UploadedFile,
        directory: bool,
        field: str,
    ) -> FileRecord:
        filename = _safe_name(upload.name, field=field)
        key = f"{run_prefix(project_id, run_id)}/inputs/{name}/{filename}"
        await self._filestore.put(key, upload.data, content_type=upload.content_type)
        return FileRecord(
            id=self._ids.new(),
            project_id=project_id,
            run_id=run_id,
            step_run_id=None,
            key=key,
            name=filename,
            size_bytes=len(upload.data),
            sha256=hashlib.sha256(upload.data).hexdigest(),
            directory=directory,
            created_at=self._clock.now(),
        )

    # -- reading ------------------------------------------------------------------------

    async def list(
        self, *, project_id: str, filters: RunFilter, limit: int, cursor: str | None
    ) -> Page[WorkflowRun]:
        if filters.since and filters.until and filters.since > filters.until:
            raise InvalidValue("since must not be after until", field="since")
        async with self._uow() as uow:
            return await uow.runs.page(
                project_id=project_id, filters=filters, limit=limit, cursor=cursor
            )

    async def get(self, *, project_id: str, run_id: str) -> RunDetail:
        async with self._uow() as uow:
            run = await _get_run(uow, project_id=project_id, run_id=run_id)
            steps = await uow.steps.of_run(run.id)
        deployment = await self._deployments.get(run.deployment_id)
        return RunDetail(run=run, deployment=deployment, steps=steps)

    async def deployment_of(self, run: WorkflowRun) -> Deployment:
        return await self._deployments.get(run.deployment_id)

    async def logs(
        self, *, project_id: str, run_id: str, step_run_id: str
    ) -> builtins.list[StepLogs]:
        async with self._uow() as uow:
            run = await _get_run(uow, project_id=project_id, run_id=run_id)
            step = await uow.steps.get(step_run_id)
            if step is None or step.run_id != run.id:
                raise NotFound(
                    f"step run {step_run_id} not found in run {run_id}", field="step_run_id"
                )
            return await uow.logs.of_step(step.id)

    async def events(
        self, *, project_id: str, run_id: str, after_id: int, limit: int = 500
    ) -> tuple[WorkflowRun, builtins.list[StoredRunEvent]]:
        async with self._uow() as uow:
            run = await _get_run(uow, project_id=project_id, run_id=run_id)
            return run, await uow.run_events.after(run_id=run.id, after_id=after_id, limit=limit)

    async def find_file(self, file_id: str) -> tuple[FileRecord, WorkflowRun]:
        """A file and its run by the file's id alone (the caller checks access)."""
        async with self._uow() as uow:
            record = await uow.files.get(project_id=None, file_id=file_id)
            run = await uow.runs.find(record.run_id) if record is not None else None
        if record is None or run is None:
            raise NotFound(f"file {file_id} not found", field="file_id")
        return record, run

    async def find(self, run_id: str) -> WorkflowRun:
        """A run by its id alone, whatever its project (the caller checks access)."""
        async with self._uow() as uow:
            run = await uow.runs.find(run_id)
        if run is None:
            raise NotFound(f"run {run_id} not found", field="run_id")
        return run

    async def result(self, *, project_id: str, run_id: str) -> RunResult:
        async with self._uow() as uow:
            run = await _get_run(uow, project_id=project_id, run_id=run_id)
        if run.status is RunStatus.SUCCEEDED:
            return RunResult(state=ResultState.DONE, run=run)
        if run.status is RunStatus.RUNNING:
            return RunResult(state=ResultState.RUNNING, run=run)
        return RunResult(state=ResultState.FAILED, run=run)

    async def file(self, *, project_id: str, file_id: str) -> tuple[FileRecord, bytes]:
        async with self._uow() as uow:
            record = await uow.files.get(project_id=project_id, file_id=file_id)
        if record is None:
            raise NotFound(f"file {file_id} not found", field="file_id")
        return record, await self._filestore.get(record.key)

    # -- changing -----------------------------------------------------------------------

    async def cancel(self, *, project_id: str, run_id: str) -> WorkflowRun:
        async with self._uow() as uow:
            await _get_run(uow, project_id=project_id, run_id=run_id)
            run = await uow.runs.lock(run_id)
            assert run is not None
            await cancel_run(uow, run, at=self._clock.now(), reason="canceled by a user")
            await uow.commit()
        return run

    async def delete(self, *, project_id: str, run_id: str) -> None:
        """Delete a finished run, its step runs, events, logs and files."""
        async with self._uow() as uow:
            await _get_run(uow, project_id=project_id, run_id=run_id)
            run = await uow.runs.lock(run_id)
            assert run is not None
            if not run.status.is_final:
                raise Conflict(f"run {run_id} is still running; cancel it first", field="run_id")
            await uow.runs.remove(run)
            await uow.commit()
        # after the rows: a file left by a failure here is unreachable, never a broken link
        await self._filestore.delete_prefix(run_prefix(project_id, run_id))

    async def wait_final(self, *, project_id: str, run_id: str, within: float) -> WorkflowRun:
        """For tests and tools: poll until the run is final or ``within`` seconds pass."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            try:
                async with self._uow() as uow:
                    run = await _get_run(uow, project_id=project_id, run_id=run_id)
            except StorageUnavailable:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)
                continue
            if run.status.is_final or loop.time() >= deadline:
                return run
            await asyncio.sleep(0.05)


async def _get_run(uow: UnitOfWork, *, project_id: str, run_id: str) -> WorkflowRun:
    run = await uow.runs.get(project_id=project_id, run_id=run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", field="run_id")
    return run


def _safe_name(name: str, *, field: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base in (".", "..") or any(ord(c) < 32 for c in base):
        raise InvalidValue(f"{field}: the file needs a plain name", field=field)
    if len(base.encode()) > MAX_UPLOAD_NAME:
        raise InvalidValue(f"{field}: the file name is too long", field=field)
    return base
