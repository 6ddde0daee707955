"""The worker: a child process that imports `ryax_handler.py` once and runs `handle` on request.

    python -m oryx_wrapper.worker --action-dir DIR --fd N

Started by the pool (`pool.py`) with one end of a socket pair as file descriptor N. It answers
`Ready` (or `LoadFailed`), then, for each `WorkRequest`, one `WorkReply`. A handler that kills
the process ends the conversation; the pool notices and starts another worker.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .capture import WRAPPER, Capture
from .context import enter_execution, leave_execution
from .errors import ErrorInfo, describe_exception
from .metadata import ActionMetadata, load_metadata
from .protocol import (
    CRASH,
    INVALID_OUTPUT,
    SUCCESS,
    USER_ERROR,
    LoadFailed,
    Ready,
    WorkReply,
    WorkRequest,
)
from .values import InvalidValues, check_outputs


def _call(handle: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    result = handle(inputs)
    if inspect.isawaitable(result):

        async def wait() -> Any:
            return await result

        result = asyncio.run(wait())
    return result


class Worker:
    def __init__(
        self, metadata: ActionMetadata, handle: Callable[..., Any], capture: Capture, base: Path
    ) -> None:
        self.metadata = metadata
        self.handle = handle
        self.capture = capture
        self.base = base

    def run(self, request: WorkRequest) -> WorkReply:
        # temporary files go to the execution's directory, removed after the execution
        saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
        tempfile.tempdir = request.workdir
        os.environ["TMPDIR"] = request.workdir
        enter_execution(request.execution_id)
        self.capture.start()
        started = time.perf_counter()
        status, outputs, error, stop = SUCCESS, [], None, False
        try:
            result = _call(self.handle, dict(request.inputs))
            elapsed = time.perf_counter() - started
            try:
                outputs = check_outputs(self.metadata.outputs, result, base=self.base)
            except InvalidValues as invalid:
                status = INVALID_OUTPUT
                error = ErrorInfo(message="; ".join(invalid.problems), type="InvalidOutput")
        except MemoryError as crash:
            elapsed = time.perf_counter() - started
            status, stop = CRASH, True
            error = describe_exception(crash)
        except BaseException as failure:
            elapsed = time.perf_counter() - started
            status = USER_ERROR
            error = describe_exception(failure)
        finally:
            leave_execution()  # a long-lived worker never shows this id to the next call
            tempfile.tempdir = saved_tempdir
            if saved_env is None:
                os.environ.pop("TMPDIR", None)
            else:
                os.environ["TMPDIR"] = saved_env
        buffer = self.capture.stop()
        if status == CRASH:
            buffer.add(WRAPPER, "the worker ran out of memory; a new worker takes its place")
        logs, truncated = buffer.drain()
        return WorkReply(
            status=status,
            outputs=outputs,
            error=error,
            logs=logs,
            logs_truncated=truncated,
            handler_seconds=elapsed,
            exit=stop,
        )


def exit_with_parent() -> None:
    """End this process soon after the wrapper dies, even in the middle of user code."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="oryx-parent-watch", daemon=True).start()


def load(action_dir: Path) -> tuple[ActionMetadata, Any]:
    """Import the action's code (from its own folder, which becomes the working directory)."""
    leave_execution()  # an id in the wrapper's own environment is no execution of this process
    os.chdir(action_dir)
    sys.path.insert(0, str(action_dir))
    metadata = load_metadata(action_dir)
    module = importlib.import_module(metadata.code_file.removesuffix(".py"))
    return metadata, module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oryx_wrapper.worker")
    parser.add_argument("--action-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--capture-dir", type=Path, default=None)
    parser.add_argument("--log-limit", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    connection = Connection(args.fd)
    exit_with_parent()
    capture = Capture(limit_bytes=args.log_limit, directory=args.capture_dir)
    capture.install()
    action_dir: Path = args.action_dir.resolve()
    try:
        metadata, module = load(action_dir)
        handle = getattr(module, "handle", None)
        if not callable(handle):
            raise AttributeError(f"{metadata.code_file} has no function `handle(inputs)`")
    except BaseException as error:
        connection.send(LoadFailed(describe_exception(error)))
        return 1
    worker = Worker(metadata, handle, capture, action_dir)
    connection.send(Ready(pid=os.getpid()))
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return 0  # the wrapper went away
        reply = worker.run(request)
        connection.send(reply)
        if reply.exit:
            return 3


if __name__ == "__main__":
    sys.exit(main())
