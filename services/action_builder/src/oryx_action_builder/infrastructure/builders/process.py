"""Running a build step (pip, venv) as a subprocess: logged, bounded in time, killable.

Each step runs in a process group of its own, with its output appended to the build log. A
timeout or a cancellation stops the whole group (pip and whatever it started: build backends,
compilers): SIGTERM, then SIGKILL after a grace period.
"""

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

KILL_GRACE_SECONDS = 3.0


class StepTimedOut(Exception):
    pass


async def run_step(
    command: Sequence[str],
    *,
    log: Path,
    limit_seconds: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdout: Path | None = None,
) -> int:
    """Run ``command`` and return its exit code; ``StepTimedOut`` after ``limit_seconds``.

    The output goes to ``log`` (stdout to ``stdout`` instead, when given). Cancelling the
    caller kills the step's process group before ``CancelledError`` goes on.
    """
    with log.open("ab") as out, contextlib.ExitStack() as stack:
        out.write(("$ " + " ".join(command) + "\n").encode())
        out.flush()
        captured = stack.enter_context(stdout.open("wb")) if stdout is not None else None
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=captured if captured is not None else out,
            stderr=out if captured is not None else subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,  # its own process group: the pgid is its pid
        )
    try:
        if limit_seconds <= 0:
            raise TimeoutError
        return await asyncio.wait_for(process.wait(), timeout=limit_seconds)
    except TimeoutError:
        await _stop_group(process)
        raise StepTimedOut(" ".join(command)) from None
    except asyncio.CancelledError:
        await _stop_group(process)
        raise
    finally:
        _kill_group(process.pid, signal.SIGKILL)  # whatever the step left behind


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    _kill_group(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(process.wait()), timeout=KILL_GRACE_SECONDS)
    _kill_group(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(process.wait()), timeout=KILL_GRACE_SECONDS)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail(log: Path, *, lines: int, max_chars: int = 8000) -> str:
    """The last ``lines`` lines of a log (at most ``max_chars`` characters), for BuildFinished."""
    try:
        with log.open("rb") as file:
            file.seek(0, os.SEEK_END)
            size = file.tell()
            file.seek(max(0, size - max_chars * 4))
            data = file.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = "\n".join(text.splitlines()[-lines:])
    return kept[-max_chars:]
