"""End-to-end latency and throughput of the HTTP API trigger.

A real runner (in this process: its container, engine, local site, PostgreSQL, its HTTP API
served by uvicorn) serves a deployed workflow whose trigger is ``http-api``: ``GET
/runner/api/bench/echo/{text}`` then two steps of an action that appends a character, on a
warm local action. A separate client process (so that client and server do not share an
event loop) calls it from N concurrent clients, each making one call after the other, and
reports, per call, the time from sending the request to reading the synchronous answer (the
run's results).

    .venv/bin/python tests/bench/http_trigger.py [--clients 10] [--seconds 15]

Prints p50 / p99 latency and the runs per second the clients sustained. Needs PostgreSQL
(``ORYX_BENCH_POSTGRES_URL``, default postgresql://postgres@127.0.0.1:5432/postgres); a scratch
database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oryx_runner.config import Settings
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import (
    Binding,
    Endpoint,
    IoSpec,
    IoType,
    OutputRef,
    ResultSpec,
    StepKind,
    StepSpec,
    WorkflowSnapshot,
)
from oryx_runner.infrastructure.database.engine import async_url
from oryx_runner.service import Resolved, build_container, make_app, start, stop

sys.path.insert(0, str(Path(__file__).parent))
from runner_overhead import make_artifact

POSTGRES = os.environ.get(
    "ORYX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)

CLIENT = r"""
import asyncio, json, sys, time
import httpx

url, clients, seconds, warmup = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])

async def main():
    latencies, errors = [], 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        for i in range(warmup):
            r = await http.get(f"{url}/warm{i}")
            assert r.status_code == 200, r.text
        stop_at = time.perf_counter() + seconds
        async def client(n):
            nonlocal errors
            i = 0
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                r = await http.get(f"{url}/c{n}-{i}")
                took = time.perf_counter() - started
                if r.status_code == 200 and r.json() == {"text": f"c{n}-{i}++"}:
                    latencies.append(took)
                else:
                    errors += 1
                i += 1
        started = time.perf_counter()
        await asyncio.gather(*(client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    print(json.dumps({"latencies": latencies, "errors": errors, "elapsed": elapsed}))

asyncio.run(main())
"""


def workflow(artifact: str) -> WorkflowSnapshot:
    text_io = IoSpec(name="text", type=IoType.STRING)
    trigger = StepSpec(
        step_id="trigger", name="HTTP", action_id="builtin-http-api", action_name="http-api",
        action_version="1.0", kind=StepKind.SOURCE, builtin_trigger="http-api",
        outputs=(IoSpec(name="text", type=IoType.STRING, origin="path"),),
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
        endpoint=Endpoint(path="echo/{text}", method="GET", success_code=200, timeout_seconds=30),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(clients: int, seconds: float, replicas: int, concurrency: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    name = f"oryx_runner_bench_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(POSTGRES), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = async_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="oryx-bench-"))
    artifact = make_artifact(tmp / "artifacts")
    port = free_port()
    settings = Settings(
        database_url=url, port=port, local_max_replicas=replicas,
        max_concurrent_steps=concurrency, log_level="warning",
    )  # fmt: skip
    resolved = Resolved(
        database_url=url, secret_key=secrets.token_hex(32), filestore_dir=tmp / "files",
        artifacts_dir=tmp / "artifacts", site_state_dir=tmp / "site",
    )  # fmt: skip
    container = build_container(settings, resolved)
    running = await start(container, settings)
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(container),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    try:
        now = datetime.now(UTC)
        deployment = Deployment(
            id="bench-1", workflow_id="wf-bench", project_id="bench", revision=1,
            snapshot=workflow(artifact), requested_by="bench", requested_at=now, received_at=now,
        )  # fmt: skip
        async with container.uow() as uow:
            await container.orders().deploy(uow, deployment=deployment)
            await uow.commit()
        for _ in range(1200):
            view = await container.deployments().get(project_id="bench", workflow_id="wf-bench")
            if view.state.status.value == "deployed":
                break
            await asyncio.sleep(0.05)
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        cpu_before = time.process_time()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, f"http://127.0.0.1:{port}/runner/api/bench/echo",
            str(clients), str(seconds), "30",
            stdout=subprocess.PIPE,
        )  # fmt: skip
        out, _ = await process.communicate()
        cpu = time.process_time() - cpu_before
        report = json.loads(out)
        latencies = report["latencies"]

        def ms(q: float) -> str:
            return f"{percentile(latencies, q) * 1000:6.2f} ms"

        print(
            "\n".join(
                [
                    "HTTP API trigger: GET /runner/api/bench/echo/{text} -> 2 steps -> "
                    f"synchronous result; warm local action, {replicas} replicas",
                    f"  {clients} concurrent clients for {seconds:g} s (separate process, "
                    "keep-alive connections)",
                    f"  calls answered: {len(latencies)}   errors: {report['errors']}",
                    f"  latency:  p50 {ms(0.5)}   p90 {ms(0.9)}   p99 {ms(0.99)}",
                    f"  sustained: {len(latencies) / report['elapsed']:.1f} runs/s",
                    f"  runner process CPU per call: {cpu / max(1, len(latencies)) * 1000:.2f} ms "
                    "(HTTP, run start, 2 steps, answer; the load on the machine does not change "
                    "it much)",
                ]
            )
        )
    finally:
        server.should_exit = True
        await serving
        await stop(container, running)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.seconds, args.replicas, args.concurrency))
