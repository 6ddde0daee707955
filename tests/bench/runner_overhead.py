"""Per-step orchestration overhead and sustained throughput of the runner's engine.

A real runner (in this process: its container, engine, local site, PostgreSQL) runs a trivial
3-step workflow (the manual trigger, then two steps of an action that appends a character)
on a warm local action: the wrapper processes are started before measuring.

- **Overhead per step**: for runs made one after the other, the run's wall time (from its
  creation to its end, as the database records them) minus the action's compute (the
  handler's own seconds, as the wrapper reports them), divided by the two executed steps. It
  is split into where the time goes: claim → sent, the gRPC execution (wrapper included, minus
  the handler), and the completion transaction.
- **Sustained runs per second**: N runs started at once, until the last one ends.

    .venv/bin/python tests/bench/runner_overhead.py [--runs 200] [--burst 500]

Needs PostgreSQL (``ORYX_BENCH_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres);
a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import site
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oryx_runner.config import Settings
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import (
    Binding,
    IoSpec,
    IoType,
    OutputRef,
    ResultSpec,
    StepKind,
    StepSpec,
    WorkflowSnapshot,
)
from oryx_runner.infrastructure.database.engine import async_url
from oryx_runner.service import Resolved, build_container, start, stop

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
METADATA = """\
apiVersion: "ryax.tech/v2.0"
kind: Processor
spec:
  id: bench-append
  human_name: Bench append
  description: Appends a character
  version: "1"
  type: python3
  inputs:
    - {name: text, human_name: Text, help: Text, type: string}
  outputs:
    - {name: text, human_name: Text, help: Text, type: string}
"""
HANDLER = "def handle(inputs):\n    return {'text': inputs['text'] + '+'}\n"


def make_artifact(root: Path) -> str:
    folder = root / "bench-append"
    (folder / "action").mkdir(parents=True)
    (folder / "action" / "ryax_metadata.yaml").write_text(METADATA)
    (folder / "action" / "ryax_handler.py").write_text(HANDLER)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = next(venv.glob("lib/python3*/site-packages"))
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in site.getsitepackages())
    (packages / "oryx_dev.pth").write_text(lines)
    return "local:bench-append"


def workflow(artifact: str) -> WorkflowSnapshot:
    text_io = IoSpec(name="text", type=IoType.STRING)
    trigger = StepSpec(
        step_id="trigger", name="Trigger", action_id="manual", action_name="manual",
        action_version="1.0", kind=StepKind.SOURCE, builtin_trigger="manual", outputs=(text_io,),
    )  # fmt: skip

    def action(step_id: str, parent: str) -> StepSpec:
        return StepSpec(
            step_id=step_id, name=step_id, action_id="bench", action_name="bench-append",
            action_version="1", kind=StepKind.PROCESSOR, artifact_ref=artifact,
            inputs=(text_io,), outputs=(text_io,), parents=(parent,),
            bindings=(Binding(input="text", source=OutputRef(step_id=parent, output="text")),),
        )  # fmt: skip

    return WorkflowSnapshot(
        name="bench",
        steps=(trigger, action("a", "trigger"), action("b", "a")),
        results=(ResultSpec(key="text", source=OutputRef(step_id="b", output="text")),),
    )


class RecordingSite:
    """The site, recording each answer's handler and wrapper seconds."""

    def __init__(self, site: object) -> None:
        self._site = site
        self.handler: dict[str, float] = {}
        self.wrapper: dict[str, float] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self._site, name)

    async def execute(self, action, request):  # type: ignore[no-untyped-def]
        outcome = await self._site.execute(action, request)  # type: ignore[attr-defined]
        self.handler[request.execution_id] = outcome.handler_seconds
        self.wrapper[request.execution_id] = outcome.duration_seconds
        return outcome


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(runs: int, burst: int, replicas: int, concurrency: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    name = f"oryx_runner_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(POSTGRES), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = async_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="oryx-bench-"))
    artifact = make_artifact(tmp / "artifacts")
    settings = Settings(
        database_url=url, port=1, local_max_replicas=replicas, max_concurrent_steps=concurrency,
        log_level="warning",
    )  # fmt: skip
    resolved = Resolved(
        database_url=url, secret_key=secrets.token_hex(32), filestore_dir=tmp / "files",
        artifacts_dir=tmp / "artifacts", site_state_dir=tmp / "site",
    )  # fmt: skip
    container = build_container(settings, resolved, keep_timings=True)
    recording = RecordingSite(container.site())
    from dependency_injector import providers

    container.site.override(providers.Object(recording))
    running = await start(container, settings)
    try:
        now = datetime.now(UTC)
        deployment = Deployment(
            id="bench-1", workflow_id="wf-bench", project_id="bench", revision=1,
            snapshot=workflow(artifact), requested_by="bench", requested_at=now, received_at=now,
        )  # fmt: skip
        async with container.uow() as uow:
            await container.orders().deploy(uow, deployment=deployment)
            await uow.commit()
        deployments = container.deployments()
        for _ in range(1200):  # the deployment starts the wrapper: about a second
            view = await deployments.get(project_id="bench", workflow_id="wf-bench")
            if view.state.status.value == "deployed":
                break
            await asyncio.sleep(0.05)
        runs_api = container.runs()
        signals = container.signals()
        engine = container.executor()

        async def one(text_value: str) -> str:
            run = await runs_api.start_manual(
                project_id="bench",
                workflow_id="wf-bench",
                values={"text": text_value},
                files={},
                requested_by="b",
            )
            with signals.watch_end(run.id) as ended:
                now_ = await runs_api.result(project_id="bench", run_id=run.id)
                if not now_.run.status.is_final:
                    await asyncio.wait_for(ended.wait(), timeout=30)
            return str(run.id)

        for i in range(30):  # warm-up: replicas started, connections pooled, code paths hot
            await one(f"warm-{i}")
        engine.stats.timings.clear()

        overheads, walls = [], []
        for i in range(runs):
            run_id = await one(f"run-{i}")
            detail = await runs_api.get(project_id="bench", run_id=run_id)
            wall = (detail.run.ended_at - detail.run.submitted_at).total_seconds()
            executed = [s for s in detail.steps if s.step_id != "trigger"]
            compute = sum(recording.handler.get(s.id, 0.0) for s in executed)
            walls.append(wall)
            overheads.append((wall - compute) / len(executed))
        timings = engine.stats.timings[-2 * runs :]
        claim_to_sent = [t[0] for t in timings]
        execute = [t[1] for t in timings]
        complete = [t[2] for t in timings]
        wrapper = list(recording.wrapper.values())[-2 * runs :]

        started = time.perf_counter()
        await asyncio.gather(*(one(f"burst-{i}") for i in range(burst)))
        elapsed = time.perf_counter() - started

        def ms(values: list[float], q: float = 0.5) -> str:
            return f"{percentile(values, q) * 1000:6.2f} ms"

        lines = [
            f"runner engine, trivial 3-step workflow (trigger + 2 steps), warm local action, "
            f"{replicas} replicas",
            f"  sequential runs: {runs}",
            f"  run wall time:        p50 {ms(walls)}   p95 {ms(walls, 0.95)}",
            f"  overhead per step:    p50 {ms(overheads)}   p95 {ms(overheads, 0.95)}   "
            f"mean {statistics.mean(overheads) * 1000:6.2f} ms",
            "  where a step's time goes (p50):",
            f"    claimed -> sent (request, presigning)   {ms(claim_to_sent)}",
            f"    execution over gRPC (wrapper included)  {ms(execute)}   "
            f"of which inside the wrapper {ms(wrapper)}",
            f"    completion transaction                  {ms(complete)}",
            f"  sustained: {burst} runs started at once, done in {elapsed:.2f} s = "
            f"{burst / elapsed:.1f} runs/s",
        ]
        print("\n".join(lines))
    finally:
        await stop(container, running)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    import os

    POSTGRES = os.environ.get("ORYX_BENCH_POSTGRES_URL", POSTGRES)
    asyncio.run(main(args.runs, args.burst, args.replicas, args.concurrency))
