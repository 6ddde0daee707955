"""A runner in the test process: the real container, database, local site and wrappers, its
HTTP API served by uvicorn on a free port (wrappers download and upload files through it).
Deploy orders go through the in-process broker, as the studio's would."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from oryx_runner.config import Settings
from oryx_runner.container import Container
from oryx_runner.domain.errors import NotFound
from oryx_runner.domain.runs import WorkflowRun
from oryx_runner.domain.workflows import WorkflowSnapshot
from oryx_runner.infrastructure.messaging import routing
from oryx_runner.service import Resolved, build_container, make_app, start, stop

from ..actions import deployment_message, undeployment_message
from ..conftest import drop_database, free_port, new_database


@dataclass
class Harness:
    container: Container
    settings: Settings
    url: str
    side_effects: Path
    project_id: str

    @property
    def runs(self) -> Any:
        return self.container.runs()

    @property
    def engine(self) -> Any:
        return self.container.executor()

    @property
    def site(self) -> Any:
        return self.container.site()

    async def publish(self, routing_key: str, message_type: str, body: bytes) -> None:
        await self.container.broker().publish(
            exchange=self.settings.studio_exchange,
            routing_key=routing_key,
            message_id=secrets.token_hex(8),
            message_type=message_type,
            body=body,
        )

    async def deploy(
        self,
        snapshot: WorkflowSnapshot,
        *,
        workflow_id: str | None = None,
        project_id: str | None = None,
        expect: str = "deployed",
        revision: int = 1,
    ) -> str:
        workflow_id = workflow_id or f"wf-{secrets.token_hex(4)}"
        deployment_id = f"dep-{secrets.token_hex(4)}"
        body = deployment_message(
            snapshot,
            deployment_id=deployment_id,
            workflow_id=workflow_id,
            project_id=project_id or self.project_id,
            revision=revision,
        )
        await self.publish(routing.DEPLOYMENT_REQUESTED, "oryx.studio.v1.DeploymentRequested", body)
        await self.wait_status(
            workflow_id, expect, project_id=project_id, deployment_id=deployment_id
        )
        return workflow_id

    async def undeploy(self, workflow_id: str, *, cancel_running: bool = False) -> None:
        await self.undeploy_in(workflow_id, self.project_id, cancel_running=cancel_running)

    async def undeploy_in(
        self, workflow_id: str, project_id: str, *, cancel_running: bool = False
    ) -> None:
        body = undeployment_message(
            workflow_id=workflow_id, project_id=project_id, cancel_running=cancel_running
        )
        await self.publish(
            routing.UNDEPLOYMENT_REQUESTED, "oryx.studio.v1.UndeploymentRequested", body
        )
        await self.wait_status(workflow_id, "undeployed", project_id=project_id)

    async def wait_status(
        self,
        workflow_id: str,
        status: str,
        *,
        project_id: str | None = None,
        deployment_id: str | None = None,
        within: float = 60,
    ) -> Any:
        deadline = time.monotonic() + within
        view = None
        while time.monotonic() < deadline:
            with contextlib.suppress(NotFound):
                view = await self.container.deployments().get(
                    project_id=project_id or self.project_id, workflow_id=workflow_id
                )
                mine = deployment_id is None or view.state.deployment_id == deployment_id
                if mine and view.state.status.value == status:
                    return view
                if mine and view.state.status.value == "error" and status != "error":
                    raise AssertionError(f"deployment failed: {view.state.message}")
            await asyncio.sleep(0.02)
        raise AssertionError(f"{workflow_id} is not {status}: {view and view.state}")

    async def start(self, workflow_id: str, *, project_id: str | None = None, **values: Any) -> str:
        run = await self.runs.start_manual(
            project_id=project_id or self.project_id,
            workflow_id=workflow_id,
            values=values,
            files={},
            requested_by="user-1",
        )
        return str(run.id)

    async def wait(
        self, run_id: str, *, within: float = 60, project_id: str | None = None
    ) -> WorkflowRun:
        run: WorkflowRun = await self.runs.wait_final(
            project_id=project_id or self.project_id, run_id=run_id, within=within
        )
        assert run.status.is_final, f"run {run_id} still {run.status.value} after {within} s"
        return run

    def executions(self) -> Counter[str]:
        """How many times each execution id ran a handler."""
        try:
            text = self.side_effects.read_text()
        except FileNotFoundError:
            return Counter()
        return Counter(line for line in text.splitlines() if line)


@contextlib.asynccontextmanager
async def running_runner(
    *,
    artifacts_dir: Path,
    work: Path,
    authorization_url: str = "http://127.0.0.1:9",
    **overrides: Any,
) -> AsyncIterator[Harness]:
    """A runner on a database of its own (runners sharing one would take each other's work)."""
    import os

    database_url = await new_database("oryx_runner_harness")
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (test set-up)
    side_effects = work / "side-effects.txt"
    os.environ["ORYX_TEST_SIDE_EFFECTS"] = str(side_effects)  # wrappers inherit it
    values: dict[str, Any] = {
        "database_url": database_url,
        "host": "127.0.0.1",
        "port": port,
        "authorization_url": authorization_url,
        "poll_seconds": 0.5,
        "recovery_seconds": 0.5,
        "recovery_grace_seconds": 0.5,
        "retry_base_seconds": 0.1,
        "retry_max_seconds": 1.0,
        "local_orphan_grace_seconds": 10,
        "outbox_poll_seconds": 0.1,
        "shutdown_grace_seconds": 2,
        **overrides,
    }
    settings = Settings(**values)
    resolved = Resolved(
        database_url=database_url,
        secret_key=secrets.token_hex(32),
        filestore_dir=work / "files",
        artifacts_dir=artifacts_dir,
        site_state_dir=work / "site",
    )
    container = build_container(settings, resolved, keep_timings=True)
    running = await start(container, settings)
    app = make_app(container)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield Harness(
            container=container,
            settings=settings,
            url=f"http://127.0.0.1:{port}",
            side_effects=side_effects,
            project_id=f"project-{secrets.token_hex(3)}",
        )
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
        await stop(container, running)
        await drop_database(database_url)
