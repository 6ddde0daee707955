"""One execution of a processor or publisher, from checked inputs to stored outputs.

    check inputs -> download files -> worker runs handle -> upload or stage files -> clean up

Idempotency: an execution id seen again gets the first answer (or joins the running one).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

from .capture import WRAPPER, LogRecord
from .errors import ErrorInfo
from .metadata import ActionMetadata
from .pool import WorkerPool
from .protocol import CRASH, INVALID_OUTPUT, SUCCESS, USER_ERROR, WorkRequest
from .staging import Staging, output_name, stage_output
from .transfer import (
    TransferError,
    archive_stem,
    place_output,
    safe_name,
    unpack_archive,
    upload,
)
from .transfer import download as http_download
from .values import InvalidValues, LocalPath, RemoteFile, StoredFile, check_inputs


class Status(Enum):
    SUCCESS = "success"
    USER_ERROR = "user_error"
    TIMEOUT = "timeout"
    CRASH = "crash"
    INVALID_INPUT = "invalid_input"
    INVALID_OUTPUT = "invalid_output"
    TRANSFER_ERROR = "transfer_error"


_FROM_WORKER = {
    SUCCESS: Status.SUCCESS,
    USER_ERROR: Status.USER_ERROR,
    INVALID_OUTPUT: Status.INVALID_OUTPUT,
    CRASH: Status.CRASH,
}


@dataclass(frozen=True)
class ExecutionRequest:
    execution_id: str
    inputs: dict[str, Any]  # plain values, None, or RemoteFile
    uploads: dict[str, list[str]] = field(default_factory=dict)  # output -> PUT URL per set
    timeout: float | None = None


@dataclass(frozen=True)
class ExecutionResult:
    execution_id: str
    status: Status
    output_sets: list[dict[str, Any]] = field(default_factory=list)  # plain values, StoredFile
    error: ErrorInfo | None = None
    logs: list[LogRecord] = field(default_factory=list)
    logs_truncated: bool = False
    duration: float = 0.0
    handler_seconds: float = 0.0
    replayed: bool = False


_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]")


async def download_inputs(
    inputs: dict[str, Any], workdir: Path, *, transfer_timeout: float
) -> dict[str, Any]:
    """The inputs with each RemoteFile replaced by the local path of its download."""
    remote = {k: v for k, v in inputs.items() if isinstance(v, RemoteFile)}
    if not remote:
        return inputs
    local = dict(inputs)
    paths = await asyncio.gather(
        *(
            asyncio.to_thread(_fetch, name, value, workdir, transfer_timeout)
            for name, value in remote.items()
        )
    )
    local.update(zip(remote, paths, strict=True))
    return local


def _fetch(name: str, value: RemoteFile, workdir: Path, timeout: float) -> str:
    folder = workdir / "inputs" / name
    folder.mkdir(parents=True)
    file_name = safe_name(value.name, fallback=f"{name}.tar.gz" if value.directory else name)
    if not value.directory:
        target = folder / file_name
        http_download(value.url, target, timeout=timeout)
        return str(target)
    archive = workdir / "inputs" / f".{name}.archive"
    http_download(value.url, archive, timeout=timeout)
    target = folder / (archive_stem(file_name) or name)
    unpack_archive(archive, target, name=f"input {name!r}")
    archive.unlink()
    return str(target)


class Executor:
    def __init__(
        self,
        *,
        metadata: ActionMetadata,
        pool: WorkerPool,
        workroot: Path,
        staging: Staging,
        transfer_timeout: float = 300.0,
        remember: int = 1024,
        remember_bytes: int = 64_000_000,
    ) -> None:
        self.metadata = metadata
        self.pool = pool
        self.workroot = workroot
        self.staging = staging
        self.transfer_timeout = transfer_timeout
        self.remember = remember
        self.remember_bytes = remember_bytes
        self._answers: OrderedDict[str, asyncio.Future[ExecutionResult]] = OrderedDict()
        self._sizes: dict[str, int] = {}  # roughly, the bytes each settled answer holds
        self._total = 0
        self._tasks: set[asyncio.Task[ExecutionResult]] = set()

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run it once per execution id; a repeated id waits for, or gets, the first answer."""
        key = request.execution_id
        known = self._answers.get(key) if key else None
        if known is not None:
            self._answers.move_to_end(key)
            result = await asyncio.shield(known)
            return replace(result, replayed=True)
        task = asyncio.create_task(self._execute(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key:
            self._answers[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
            self._trim()
        # the client going away does not stop the execution: a retry with the same id gets it
        return await asyncio.shield(task)

    def _settle(self, key: str, task: asyncio.Task[ExecutionResult]) -> None:
        if self._answers.get(key) is not task:
            return
        failed = task.cancelled() or task.exception() is not None
        if failed or task.result().status is Status.TRANSFER_ERROR:
            del self._answers[key]
            return
        result = task.result()
        values = [value for output_set in result.output_sets for value in output_set.values()]
        size = 200 + sum(len(line.text) + 64 for line in result.logs)
        size += sum(len(str(value)) + 64 for value in values)
        self._sizes[key] = size
        self._total += size
        self._trim()

    def _trim(self) -> None:
        """Forget the oldest answers beyond `remember` of them or `remember_bytes`."""
        while self._answers and (
            len(self._answers) > self.remember or self._total > self.remember_bytes
        ):
            key, _ = self._answers.popitem(last=False)
            self._total -= self._sizes.pop(key, 0)

    async def _execute(self, request: ExecutionRequest) -> ExecutionResult:
        started = time.perf_counter()

        def result(status: Status, **fields: Any) -> ExecutionResult:
            return ExecutionResult(
                execution_id=request.execution_id,
                status=status,
                duration=time.perf_counter() - started,
                **fields,
            )

        try:
            inputs = check_inputs(self.metadata.inputs, request.inputs)
        except InvalidValues as invalid:
            error = ErrorInfo(message="; ".join(invalid.problems), type="InvalidInput")
            return result(Status.INVALID_INPUT, error=error)
        safe_id = _ID_CHARS.sub("_", request.execution_id)[:64] or "execution"
        workdir = self.workroot / f"{safe_id}-{secrets.token_hex(4)}"
        workdir.mkdir(parents=True)
        try:
            try:
                local = await download_inputs(
                    inputs, workdir, transfer_timeout=self.transfer_timeout
                )
            except TransferError as failure:
                error = ErrorInfo(message=str(failure), type="TransferError")
                return result(Status.TRANSFER_ERROR, error=error)
            limits = [t for t in (self.metadata.time_limit, request.timeout) if t]
            timeout = min(limits) if limits else None
            work = WorkRequest(request.execution_id, local, str(workdir))
            outcome = await self.pool.run(work, timeout)
            if outcome.load_error is not None:
                error = replace(
                    outcome.load_error,
                    message=f"the action cannot load: {outcome.load_error.message}",
                )
                return result(Status.CRASH, error=error)
            if outcome.timed_out or outcome.reply is None:
                logs = list(outcome.logs)
                if outcome.timed_out:
                    message = f"the handler ran for more than {timeout:g} s and was stopped"
                    status = Status.TIMEOUT
                else:
                    message = f"the handler's process died: {outcome.crash}"
                    status = Status.CRASH
                logs.append(LogRecord(time=time.time(), stream=WRAPPER, text=message))
                error = ErrorInfo(message=message, type=status.name.title().replace("_", ""))
                return result(status, error=error, logs=logs)
            reply = outcome.reply
            status = _FROM_WORKER.get(reply.status, Status.CRASH)
            common: dict[str, Any] = {
                "logs": reply.logs,
                "logs_truncated": reply.logs_truncated,
                "handler_seconds": reply.handler_seconds,
            }
            if status is not Status.SUCCESS:
                return result(status, error=reply.error, **common)
            try:
                sets = await asyncio.to_thread(self._store, reply.outputs, request.uploads, workdir)
            except TransferError as failure:
                error = ErrorInfo(message=str(failure), type="TransferError")
                return result(Status.TRANSFER_ERROR, error=error, **common)
            return result(Status.SUCCESS, output_sets=sets, **common)
        finally:
            try:
                workdir.rmdir()  # the common case, and cheap: nothing was left there
            except OSError:
                await asyncio.to_thread(shutil.rmtree, workdir, True)

    def _store(
        self, outputs: list[dict[str, Any]], uploads: dict[str, list[str]], workdir: Path
    ) -> list[dict[str, Any]]:
        stored_sets: list[dict[str, Any]] = []
        for index, values in enumerate(outputs):
            stored: dict[str, Any] = {}
            for name, value in values.items():
                if isinstance(value, LocalPath):
                    urls = uploads.get(name, [])
                    url = urls[index] if index < len(urls) else ""
                    stored[name] = self.store_file(value, url=url, workdir=workdir)
                else:
                    stored[name] = value
            stored_sets.append(stored)
        return stored_sets

    def store_file(self, value: LocalPath, *, url: str, workdir: Path | None) -> StoredFile:
        """Upload an output to `url`, or stage it when there is no URL (blocking)."""
        if not url:
            stored = stage_output(value, self.staging.root)
            self.staging.register(stored.staged_id)
            return stored
        path = Path(value.path)
        if value.directory:
            scratch = (workdir or self.staging.root) / f".out-{secrets.token_hex(6)}.tar.gz"
            place_output(path, scratch, directory=True)
            try:
                digest = upload(scratch, url, timeout=self.transfer_timeout)
            finally:
                scratch.unlink(missing_ok=True)
        else:
            digest = upload(path, url, timeout=self.transfer_timeout)
        return StoredFile(
            name=output_name(value),
            size=digest.size,
            sha256=digest.sha256,
            directory=value.directory,
            url=url,
        )

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
