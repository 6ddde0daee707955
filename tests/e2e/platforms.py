"""The platform under test, in either mode, as real processes: `oryx up` (embedded) or
`scripts/run_distributed.py` (the five services, PostgreSQL, RabbitMQ, SeaweedFS, a front door).

Both are reached the same way, on one port; both can be stopped and started again on the same
data; both check, when stopped, that no process of theirs is left (PostgreSQL, services,
watchdogs, action wrappers, SeaweedFS).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_PASSWORD = "e2e-admin-password"
PREFIXES = ("/authorization", "/repository", "/studio", "/runner")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_using(folder: Path) -> list[str]:
    """Processes whose command line, working directory or environment name ``folder``."""
    needle = str(folder)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text()
            if stat.rpartition(")")[2].split()[0] == "Z":
                continue  # finished, waiting to be reaped by its parent: not running
            cwd = ""
            with contextlib.suppress(OSError):
                cwd = os.readlink(proc / "cwd")
            environ = ""
            with contextlib.suppress(OSError):
                environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if needle in cmdline or cwd.startswith(needle) or needle in environ:
            found.append(f"{proc.name}: {cmdline[:160]}")
    return found


@dataclass
class Platform:
    """One platform instance on ``data_dir``, served on ``port``."""

    mode: str
    data_dir: Path
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, "ORYX_ADMIN_PASSWORD": ADMIN_PASSWORD}

    def start(self) -> None:
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        pending = set(PREFIXES)
        while pending:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.mode} platform exited with {self.process.returncode}:\n{self.tail()}"
                )
            if time.monotonic() - started > START_TIMEOUT:
                raise AssertionError(f"{self.mode} platform not ready:\n{self.tail()}")
            for prefix in list(pending):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.url}{prefix}/healthz", timeout=2).status_code == 200:
                        pending.discard(prefix)
            time.sleep(0.1)
        self.starts.append(time.monotonic() - started)

    def stop(self) -> None:
        """Stop as a person would, wait for the process, and find nothing of it left."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            self.ask_to_stop(process)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"{self.mode} platform did not stop:\n{self.tail()}") from None
        deadline = time.monotonic() + 10
        left = processes_using(self.data_dir)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = processes_using(self.data_dir)
        assert not left, f"processes left after stopping the {self.mode} platform: {left}"
        assert code == 0, f"{self.mode} platform stopped with {code}:\n{self.tail()}"

    def ask_to_stop(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGINT)  # Ctrl-C

    def restart(self) -> None:
        self.stop()
        self.start()

    def kill(self) -> None:
        """Last resort at the end of a failed test: nothing may outlive it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for line in processes_using(self.data_dir):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Embedded(Platform):
    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "oryx_cli", "up",
            "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning",
        ]  # fmt: skip

    def ask_to_stop(self, process: subprocess.Popen[bytes]) -> None:
        down = subprocess.run(
            [sys.executable, "-m", "oryx_cli", "down", "--data-dir", str(self.data_dir)],
            capture_output=True, text=True, timeout=STOP_TIMEOUT,
        )  # fmt: skip
        assert down.returncode == 0, down.stdout + down.stderr


@dataclass
class Distributed(Platform):
    postgres_url: str = ""
    rabbitmq_url: str = ""
    namespace: str = ""

    def command(self) -> list[str]:
        return [
            sys.executable, str(REPO_ROOT / "scripts" / "run_distributed.py"),
            "--port", str(self.port), "--base-port", "0", "--data-dir", str(self.data_dir),
            "--postgres-url", self.postgres_url, "--rabbitmq-url", self.rabbitmq_url,
            "--namespace", self.namespace, "--quiet",
        ]  # fmt: skip

    def drop_everything(self) -> None:
        """The databases, queues and exchanges of this namespace."""
        asyncio.run(self._drop())

    async def _drop(self) -> None:
        import aio_pika
        import asyncpg

        dsn = self.postgres_url.rstrip("/") + "/postgres"
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(dsn)
            try:
                for service in ("authorization", "repository", "studio", "runner"):
                    await conn.execute(
                        f'DROP DATABASE IF EXISTS "{self.namespace}_{service}" WITH (FORCE)'
                    )
            finally:
                await conn.close()
        queues = {
            "repository": ("build-started", "build-finished", "project-deleted"),
            "studio": ("action-published", "deployment-status-changed", "project-deleted"),
            "runner": ("deployment-orders", "project-deleted"),
            "action_builder": ("build-requested", "build-cancelled"),
        }
        with contextlib.suppress(Exception):
            connection = await aio_pika.connect(self.rabbitmq_url)
            async with connection:
                channel = await connection.channel()
                for service, names in queues.items():
                    for name in names:
                        queue = f"{self.namespace}.{service}.{name}"
                        for each in (queue, f"{queue}.dlq"):
                            with contextlib.suppress(Exception):
                                await channel.queue_delete(each)
                for owner in ("authorization", "repository", "studio", "runner", "action_builder"):
                    with contextlib.suppress(Exception):
                        await channel.exchange_delete(f"{self.namespace}.{owner}")
