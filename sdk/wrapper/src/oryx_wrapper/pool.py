"""Worker processes that run `handle`, one execution at a time each.

A worker is `python -m oryx_wrapper.worker`, started in its own session (so that killing its
process group also kills what the handler started) and talking over a socket pair. A worker
that times out is killed; one that dies is replaced; the pool starts a new worker in the
background at once, so that the next execution does not wait for Python to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path

from .capture import LogRecord, read_journal
from .errors import ErrorInfo
from .protocol import LoadFailed, Ready, WorkReply, WorkRequest


class LoadError(Exception):
    """The worker could not import the action."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class Outcome:
    """How one exchange with a worker ended: a reply, a timeout or a dead worker."""

    reply: WorkReply | None = None
    timed_out: bool = False
    crash: str = ""  # why the worker is gone, when it is
    load_error: ErrorInfo | None = None
    logs: list[LogRecord] = field(default_factory=list)  # what a dead worker had caught


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "the worker stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the worker was killed by {name}"
    return f"the worker exited with code {returncode}"


class WorkerProcess:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        connection: Connection,
        capture_dir: Path | None = None,
    ) -> None:
        self.process = process
        self.connection = connection
        self.capture_dir = capture_dir

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill_process(self) -> None:
        """SIGKILL the worker's whole process group, and reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()

    def kill(self) -> None:
        """Kill the worker and forget it: its connection and its capture files."""
        self.kill_process()
        self.connection.close()
        if self.capture_dir is not None:
            shutil.rmtree(self.capture_dir, ignore_errors=True)

    def last_logs(self) -> list[LogRecord]:
        """The lines the worker had caught in its last execution (read before `kill`)."""
        return read_journal(self.capture_dir) if self.capture_dir is not None else []

    def exit_reason(self) -> str:
        try:
            returncode = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            returncode = None
        return _exit_reason(returncode)

    async def exchange(self, request: WorkRequest, time_limit: float | None) -> Outcome:
        """Send one request and wait for its reply, at most `time_limit` seconds.

        The reply is awaited on the event loop (no thread hop: this is the per-step overhead).
        """
        loop = asyncio.get_running_loop()
        try:
            self.connection.send(request)
        except OSError:
            return Outcome(crash=await asyncio.to_thread(self.exit_reason))
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        fd = self.connection.fileno()
        loop.add_reader(fd, ready)
        try:
            done, _ = await asyncio.wait({readable}, timeout=time_limit)
        finally:
            loop.remove_reader(fd)
        if not done:
            return Outcome(timed_out=True)
        try:
            reply = self.connection.recv()
        except (EOFError, OSError):
            return Outcome(crash=await asyncio.to_thread(self.exit_reason))
        if not isinstance(reply, WorkReply):
            return Outcome(crash=f"the worker answered {type(reply).__name__}")
        return Outcome(reply=reply)


def spawn_worker(
    action_dir: Path,
    *,
    capture_dir: Path,
    startup_timeout: float,
    python: str = sys.executable,
) -> WorkerProcess:
    """Start one worker and wait until it has imported the action (blocking)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        process = subprocess.Popen(  # noqa: S603 (our own module, with the running Python)
            [
                python,
                "-m",
                "oryx_wrapper.worker",
                "--action-dir",
                str(action_dir),
                "--fd",
                str(theirs.fileno()),
                "--capture-dir",
                str(capture_dir),
            ],
            pass_fds=[theirs.fileno()],
            start_new_session=True,
            cwd=action_dir,
        )
        connection = Connection(os.dup(ours.fileno()))
    worker = WorkerProcess(process, connection, capture_dir)
    try:
        if not connection.poll(startup_timeout):
            worker.kill()
            raise LoadError(
                ErrorInfo(message=f"the action did not load within {startup_timeout:g} s")
            )
        message = connection.recv()
    except (EOFError, OSError):
        reason = worker.exit_reason()
        worker.kill()
        raise LoadError(ErrorInfo(message=f"the action could not load: {reason}")) from None
    if isinstance(message, LoadFailed):
        worker.kill()
        raise LoadError(message.error)
    if not isinstance(message, Ready):
        worker.kill()
        raise LoadError(ErrorInfo(message=f"the worker said {type(message).__name__}"))
    return worker


class WorkerPool:
    """`size` workers; `run` waits for an idle one."""

    def __init__(
        self,
        action_dir: Path,
        *,
        capture_root: Path,
        size: int = 1,
        startup_timeout: float = 120.0,
    ) -> None:
        self.action_dir = action_dir
        self.capture_root = capture_root
        self.size = size
        self.startup_timeout = startup_timeout
        self.load_error: ErrorInfo | None = None
        self.restarts = 0
        self._idle: asyncio.Queue[WorkerProcess | None] = asyncio.Queue()
        self._all: set[WorkerProcess] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Start every worker; a worker that cannot load the action sets `load_error`."""
        await asyncio.gather(*(self._add_worker() for _ in range(self.size)))

    async def _add_worker(self) -> None:
        try:
            worker = await asyncio.to_thread(
                spawn_worker,
                self.action_dir,
                capture_dir=self.capture_root / f"worker-{secrets.token_hex(4)}",
                startup_timeout=self.startup_timeout,
            )
        except LoadError as error:
            self.load_error = error.error
            self._idle.put_nowait(None)  # wakes a waiter, who passes it on
            return
        if self._closed:
            await asyncio.to_thread(worker.kill)
            return
        self._all.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self) -> None:
        self.restarts += 1
        task = asyncio.create_task(self._add_worker())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self, request: WorkRequest, time_limit: float | None) -> Outcome:
        if self.load_error is not None:
            return Outcome(load_error=self.load_error)
        worker = await self._idle.get()
        if worker is None:
            self._idle.put_nowait(None)
            return Outcome(load_error=self.load_error)
        try:
            outcome = await worker.exchange(request, time_limit)
        except BaseException:
            # cancelled while the worker runs: it cannot be reused safely
            self._all.discard(worker)
            await asyncio.shield(asyncio.to_thread(worker.kill))
            self._replace()
            raise
        if outcome.reply is not None and not outcome.reply.exit:
            self._idle.put_nowait(worker)
            return outcome
        self._all.discard(worker)
        await asyncio.to_thread(worker.kill_process)
        if outcome.reply is None:
            outcome = replace(outcome, logs=await asyncio.to_thread(worker.last_logs))
        await asyncio.to_thread(worker.kill)
        self._replace()
        return outcome

    @property
    def pids(self) -> list[int]:
        return sorted(worker.pid for worker in self._all)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        workers, self._all = list(self._all), set()
        await asyncio.gather(*(asyncio.to_thread(w.kill) for w in workers))
