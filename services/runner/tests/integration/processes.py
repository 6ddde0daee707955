"""Runner processes for the durability tests (``python -m oryx_runner``), and a client side
that deploys and starts runs through the same database, as another runner process would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from oryx_runner.config import Settings
from oryx_runner.container import Container
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import WorkflowSnapshot
from oryx_runner.service import Resolved, build_container

from ..conftest import free_port


@dataclass
class RunnerProcess:
    database_url: str
    data_dir: Path
    artifacts_dir: Path
    side_effects: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.data_dir / f"runner-{self.port}-{int(time.time() * 1000)}.log"
        env = {
            **os.environ,
            "ORYX_RUNNER_DATABASE_URL": self.database_url,
            "ORYX_RUNNER_ARTIFACTS_DIR": str(self.artifacts_dir),
            "ORYX_RUNNER_AUTHORIZATION_URL": "http://127.0.0.1:9",
            "ORYX_RUNNER_LOG_LEVEL": "warning",
            "ORYX_RUNNER_RECOVERY_SECONDS": "0.5",
            "ORYX_RUNNER_RECOVERY_GRACE_SECONDS": "0.5",
            "ORYX_RUNNER_RETRY_BASE_SECONDS": "0.1",
            "ORYX_RUNNER_RETRY_MAX_SECONDS": "1",
            "ORYX_RUNNER_LOCAL_ORPHAN_GRACE_SECONDS": "30",
            "ORYX_RUNNER_SHUTDOWN_GRACE_SECONDS": "2",
            "ORYX_TEST_SIDE_EFFECTS": str(self.side_effects),
            **self.env,
        }
        env.pop("ORYX_RUNNER_BROKER_URL", None)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "oryx_runner",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if self.process.poll() is not None:
                    raise AssertionError(f"the runner exited:\n{self.output()[-3000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (
                        await client.get(f"http://127.0.0.1:{self.port}/runner/healthz")
                    ).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise AssertionError(f"the runner did not start:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def kill_leftover_replicas(state_dir: Path) -> int:
    """Stop the wrapper watchdogs a test left behind (after a SIGKILL nobody recovered)."""
    killed = 0
    for lease in state_dir.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(lease.read_text() or "{}")
            for key in ("watchdog_pid", "wrapper_pid"):
                pid = int(data.get(key, 0))
                if pid > 0:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                        killed += 1
    return killed


class Client:
    """Deploys and starts runs by writing to the runners' database, as the inbox consumer
    and the manual-run route would; the runner processes do the rest."""

    def __init__(self, container: Container) -> None:
        self.container = container

    async def deploy(self, snapshot: WorkflowSnapshot, *, project_id: str) -> str:
        workflow_id = f"wf-{secrets.token_hex(4)}"
        now = datetime.now(UTC)
        deployment = Deployment(
            id=f"dep-{secrets.token_hex(4)}", workflow_id=workflow_id, project_id=project_id,
            revision=1, snapshot=snapshot, requested_by="u", requested_at=now, received_at=now,
        )  # fmt: skip
        async with self.container.uow() as uow:
            await self.container.orders().deploy(uow, deployment=deployment)
            await uow.commit()
        for _ in range(1200):
            view = await self.container.deployments().get(
                project_id=project_id, workflow_id=workflow_id
            )
            if view.state.status.value == "deployed":
                return workflow_id
            assert view.state.status.value != "error", view.state.message
            await asyncio.sleep(0.05)
        raise AssertionError("not deployed in time")

    async def start(self, workflow_id: str, *, project_id: str, **values: Any) -> str:
        run = await self.container.runs().start_manual(
            project_id=project_id,
            workflow_id=workflow_id,
            values=values,
            files={},
            requested_by="u",
        )
        return str(run.id)

    async def count(self, sql: str, **params: Any) -> int:
        async with self.container.sessions()() as session:
            return int(await session.scalar(text(sql), params) or 0)

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.container.sessions()() as session:
            return list(await session.execute(text(sql), params))


@contextlib.asynccontextmanager
async def client_for(database_url: str, work: Path) -> AsyncIterator[Client]:
    settings = Settings(database_url=database_url, data_dir=work)
    resolved = Resolved(
        database_url=database_url,
        secret_key=secrets.token_hex(32),
        filestore_dir=work / "files",
        artifacts_dir=work / "artifacts",
        site_state_dir=work / "site",
    )
    container = build_container(settings, resolved)
    try:
        yield Client(container)
    finally:
        await container.engine().dispose()


def executions(side_effects: Path) -> Counter[str]:
    if not side_effects.exists():
        return Counter()
    return Counter(line for line in side_effects.read_text().splitlines() if line)
