"""Sources: `run(service, input_values)` from `ryax_run.py`, in a child process of its own.

    python -m oryx_wrapper.source --action-dir DIR --fd N

The parent (`SourceRun`) sends one `SourceStart`; the child answers `Ready` (or `LoadFailed`),
then sends a message for each `create_run`, `create_run_error` and batch of log lines, and a
last `SourceFinished` when `run` returns or raises. Killing the child stops the source.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from ryax_execution.ryax_source_protocol import RyaxRunStatus, RyaxSourceProtocol

from .capture import Capture
from .errors import ErrorInfo, describe_exception
from .metadata import ActionMetadata, IoDefinition
from .pool import WorkerProcess
from .protocol import (
    CRASH,
    RETURNED,
    USER_ERROR,
    LoadFailed,
    LogLines,
    Ready,
    RunFailed,
    RunMade,
    SourceFinished,
    SourceStart,
)
from .staging import Staging, stage_output
from .values import InvalidValues, LocalPath, check_output_set
from .worker import exit_with_parent, load

LOG_FLUSH_SECONDS = 0.5


class InvalidRunData(ValueError):
    """`create_run` got data that does not match the source's outputs."""


class OryxSourceService(RyaxSourceProtocol):
    """The `service` a source's `run` gets, in the source's own process."""

    def __init__(
        self, *, start: SourceStart, send: Any, base: Path, capture: Capture | None = None
    ) -> None:
        self.input_values = dict(start.inputs)
        self._outputs = start.outputs
        self._staging = Path(start.staging_dir)
        self._send = send
        self._base = base
        self._capture = capture

    def _flush_logs(self) -> None:
        buffer = self._capture.buffer if self._capture else None
        if buffer is not None:
            lines, _ = buffer.drain()
            if lines:
                self._send(LogLines(lines))

    def _make_run(self, checked: dict[str, Any], running_time: float) -> None:
        values = {
            name: stage_output(value, self._staging) if isinstance(value, LocalPath) else value
            for name, value in checked.items()
        }
        self._flush_logs()
        self._send(RunMade(values=values, running_time=float(running_time), at=time.time()))

    async def create_run(
        self,
        data: dict[str, Any],
        running_time: float = 0.001,
        status: RyaxRunStatus = RyaxRunStatus.DONE,
    ) -> None:
        if getattr(status, "name", status) == "ERROR":
            await self._failed("the source created a run with status ERROR", None)
            return
        try:
            checked = check_output_set(self._outputs, data, base=self._base, where="the run data")
        except InvalidValues as invalid:
            raise InvalidRunData("create_run: " + "; ".join(invalid.problems)) from None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._make_run, checked, running_time)

    async def create_run_error(self, message: str = "", code: int | None = None) -> None:
        await self._failed(message or "the source reported an error", code)

    async def _failed(self, message: str, code: int | None) -> None:
        def send() -> None:
            self._flush_logs()
            self._send(RunFailed(message=message, code=code, at=time.time()))

        await asyncio.get_running_loop().run_in_executor(None, send)

    def get_output_definitions(self) -> dict[str, Any]:
        return {
            output.name: {
                "name": output.name,
                "type": output.type.value,
                "human_name": output.human_name,
                "help": output.help,
                "optional": output.optional,
                "enum_values": list(output.enum_values),
            }
            for output in self._outputs
        }


def _child(action_dir: Path, connection: Connection) -> int:
    lock = threading.Lock()

    def send(message: object) -> None:
        with lock:
            connection.send(message)

    exit_with_parent()
    capture = Capture()
    capture.install()
    try:
        metadata, module = load(action_dir)
        run = getattr(module, "run", None)
        if not callable(run):
            raise AttributeError(f"{metadata.code_file} has no function `run(service, inputs)`")
    except BaseException as error:
        send(LoadFailed(describe_exception(error)))
        return 1
    start = connection.recv()
    capture.start()
    service = OryxSourceService(start=start, send=send, base=action_dir, capture=capture)
    send(Ready(pid=os.getpid()))
    stop = threading.Event()

    def flush_periodically() -> None:
        while not stop.wait(LOG_FLUSH_SECONDS):
            service._flush_logs()

    flusher = threading.Thread(target=flush_periodically, daemon=True)
    flusher.start()
    finished: SourceFinished
    try:
        asyncio.run(run(service, dict(start.inputs)))
        finished = SourceFinished(reason=RETURNED)
    except MemoryError as error:
        finished = SourceFinished(reason=CRASH, error=describe_exception(error))
    except BaseException as error:
        finished = SourceFinished(reason=USER_ERROR, error=describe_exception(error))
    stop.set()
    flusher.join()
    service._flush_logs()
    send(finished)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oryx_wrapper.source")
    parser.add_argument("--action-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    return _child(args.action_dir.resolve(), Connection(args.fd))


# --- the parent's side -----------------------------------------------------------------------


SourceMessage = RunMade | RunFailed | LogLines | SourceFinished


def _spawn(action_dir: Path, start: SourceStart, startup_timeout: float) -> WorkerProcess:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen(  # noqa: S603 (our own module, with the running Python)
            [
                sys.executable,
                "-m",
                "oryx_wrapper.source",
                "--action-dir",
                str(action_dir),
                "--fd",
                str(theirs.fileno()),
            ],
            pass_fds=[theirs.fileno()],
            start_new_session=True,
            cwd=action_dir,
        )
        connection = Connection(os.dup(ours.fileno()))
    child = WorkerProcess(process, connection)
    try:
        connection.send(start)
        ready = connection.poll(startup_timeout)
    except OSError:
        ready = True  # the child is gone already: its last words, or its exit, say why
    if not ready:
        child.kill()
        message = f"the source did not start within {startup_timeout:g} s"
        raise SourceLoadError(ErrorInfo(message=message))
    return child


class SourceLoadError(Exception):
    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


def _receive(child: WorkerProcess) -> Any:
    try:
        return child.connection.recv()
    except (EOFError, OSError):
        return SourceFinished(reason=CRASH, error=ErrorInfo(message=child.exit_reason()))


class SourceRun:
    """One running source, seen from the wrapper: an async iterator of its messages."""

    def __init__(
        self,
        *,
        metadata: ActionMetadata,
        action_dir: Path,
        staging: Staging,
        inputs: dict[str, Any],
        dynamic_outputs: Sequence[IoDefinition] = (),
        startup_timeout: float = 120.0,
    ) -> None:
        declared = {o.name for o in metadata.outputs}
        extra = tuple(o for o in dynamic_outputs if o.name not in declared)
        outputs = metadata.outputs + (extra if metadata.dynamic_outputs else ())
        self._start = SourceStart(inputs=inputs, outputs=outputs, staging_dir=str(staging.root))
        self._action_dir = action_dir
        self._staging = staging
        self._startup_timeout = startup_timeout
        self._child: WorkerProcess | None = None

    async def messages(self) -> AsyncIterator[SourceMessage]:
        try:
            child = await asyncio.to_thread(
                _spawn, self._action_dir, self._start, self._startup_timeout
            )
        except SourceLoadError as error:
            yield SourceFinished(reason=CRASH, error=error.error)
            return
        self._child = child
        try:
            first = await asyncio.to_thread(_receive, child)
            if isinstance(first, LoadFailed):
                message = f"the action cannot load: {first.error.message}"
                yield SourceFinished(reason=CRASH, error=replace(first.error, message=message))
                return
            if isinstance(first, SourceFinished):
                yield first
                return
            while True:
                message = await asyncio.to_thread(_receive, child)
                if isinstance(message, RunMade):
                    for value in message.values.values():
                        staged_id = getattr(value, "staged_id", "")
                        if staged_id:
                            self._staging.register(staged_id)
                if isinstance(message, RunMade | RunFailed | LogLines | SourceFinished):
                    yield message
                if isinstance(message, SourceFinished):
                    return
        finally:
            await self.stop()

    async def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            await asyncio.shield(asyncio.to_thread(child.kill))


if __name__ == "__main__":
    sys.exit(main())
