"""``python -m oryx_runner.infrastructure.sites.watchdog``: the keeper of one wrapper process.

The local site starts each action replica through this small program (standard library only):

    watchdog --lease STATE.json --grace 60 --log wrapper.log [--memory BYTES] -- CMD...

It starts ``CMD`` (the wrapper) in a session of its own, with its output in ``--log`` and,
with ``--memory``, an address-space limit (``RLIMIT_AS``); prints the wrapper's pid on its
first line of output; then exits with the wrapper's status when the wrapper ends.

The runner that started it holds an exclusive ``flock`` on the lease file for as long as it
lives. When no process holds it any more (the runner died, even by SIGKILL) for ``--grace``
seconds, the watchdog stops the wrapper and removes the lease: a wrapper never outlives its
runner by more than the grace, unless a runner adopts it first (by taking the lock), which is
how a restarted runner gets the answers of executions that ran on while it was down.

Signals: SIGTERM or SIGINT stop the wrapper gracefully (SIGTERM, then SIGKILL after
``--stop-grace`` seconds); SIGUSR1 kills it at once (the executions in it are abandoned).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

_stop = False
_abort = False


def _on_stop(_signum: int, _frame: object) -> None:
    global _stop
    _stop = True


def _on_abort(_signum: int, _frame: object) -> None:
    global _abort
    _abort = True


def _descendants(pid: int) -> list[int]:
    """The processes under ``pid`` (Linux ``/proc``); the wrapper's workers live in sessions
    of their own, so killing its group does not reach them."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill_all(pid: int, sig: int) -> None:
    for target in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError):
            os.killpg(target, sig)
        with contextlib.suppress(OSError):
            os.kill(target, sig)


def _orphaned(fd: int) -> bool:
    """True when no process holds the lease's lock (the lock is let go at once)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="oryx-runner-watchdog")
    parser.add_argument("--lease", type=Path, required=True)
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--stop-grace", type=float, default=6.0)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--memory", type=int, default=0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to run")
    signal.signal(signal.SIGTERM, _on_stop)
    signal.signal(signal.SIGINT, _on_stop)
    signal.signal(signal.SIGUSR1, _on_abort)

    def limits() -> None:
        if args.memory > 0:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_AS, (args.memory, args.memory))

    log = args.log.open("ab")
    os.dup2(log.fileno(), 2)  # this program's own complaints go to the log too
    env = dict(os.environ)
    if args.memory > 0:
        env.setdefault("MALLOC_ARENA_MAX", "2")  # fewer reserved arenas under RLIMIT_AS
    child = subprocess.Popen(  # noqa: S603 (the runner's own command line)
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        preexec_fn=limits if args.memory > 0 else None,
        env=env,
    )
    try:
        print(child.pid, flush=True)
        sys.stdout.close()
    except OSError:
        pass
    lease = os.open(args.lease, os.O_RDONLY)
    orphan_since: float | None = None
    next_check = 0.0
    while True:
        try:
            code = child.wait(timeout=0.1)
            return code if code >= 0 else 128 - code
        except subprocess.TimeoutExpired:
            pass
        if _abort:
            _kill_all(child.pid, signal.SIGKILL)
            continue
        if _stop:
            return _stop_child(child, args.stop_grace)
        now = time.monotonic()
        if now < next_check:
            continue
        next_check = now + 1.0
        if not _orphaned(lease):
            orphan_since = None
        elif orphan_since is None:
            orphan_since = now
        elif now - orphan_since >= args.grace:
            code = _stop_child(child, args.stop_grace)
            if _orphaned(lease):  # still nobody's: nobody will clean up after us
                for suffix in (".json", ".dispatch", ".log"):
                    with contextlib.suppress(OSError):
                        args.lease.with_suffix(suffix).unlink()
            return code


def _stop_child(child: subprocess.Popen[bytes], grace: float) -> int:
    workers = _descendants(child.pid)
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGTERM)
    try:
        code = child.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        _kill_all(child.pid, signal.SIGKILL)
        code = child.wait()
    for pid in workers:  # normally gone with the wrapper; never left behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
