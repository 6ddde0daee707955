"""``python -m oryx_action_builder`` as a real process: its help, a one-off build, and the
service on RabbitMQ configured by its environment, stopped by SIGTERM (mid-build too)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from oryx_action_builder.infrastructure.messaging.generated.action_builder.v1 import (
    events_pb2 as builder_pb2,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)

from ..conftest import (  # type: ignore[import-not-found]
    archive_of,
    eventually,
    process_gone,
    slow_package_files,
)

MODULE = [sys.executable, "-m", "oryx_action_builder"]


def test_help_says_what_it_is() -> None:
    run = subprocess.run([*MODULE, "--help"], capture_output=True, text=True, check=True)

    assert "The Oryx action builder" in run.stdout
    assert "serve" in run.stdout and "build" in run.stdout


def test_a_folder_builds_once_from_the_command_line(
    make_action: Callable[..., Path], fake_wrapper_wheel: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "ORYX_ACTION_BUILDER_WRAPPER_PATH": str(fake_wrapper_wheel)}
    command = [*MODULE, "build", str(make_action("cli")), "--artifacts-dir", str(tmp_path / "a")]

    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events] == ["BuildStarted", "BuildFinished"]
    assert events[-1]["status"] == "succeeded"
    assert events[-1]["artifact_ref"].startswith("local:")


@dataclass
class Bus:
    env: dict[str, str]
    channel: aio_pika.abc.AbstractChannel
    filestore: Path
    requests_queue: str
    seen: list[str] = field(default_factory=list)

    async def request(self, build_id: str, folder: Path) -> None:
        data, sha = archive_of(folder)
        (self.filestore / f"{build_id}.tar.gz").write_bytes(data)
        message = repository_pb2.BuildRequested(
            build_id=build_id,
            action_id=folder.name,
            source_archive_key=f"{build_id}.tar.gz",
            source_sha256=sha,
        )
        exchange = await self.channel.get_exchange(
            self.env["ORYX_ACTION_BUILDER_REPOSITORY_EXCHANGE"]
        )
        await exchange.publish(
            aio_pika.Message(
                message.SerializeToString(),
                message_id=f"{build_id}.requested",
                type=message.DESCRIPTOR.full_name,
            ),
            routing_key="repository.build.requested.v1",
        )

    async def ready_requests(self) -> int:
        queue = await self.channel.declare_queue(self.requests_queue, passive=True)
        return queue.declaration_result.message_count or 0


@pytest.fixture
async def bus(
    rabbitmq_url: str, random_name: str, tmp_path: Path, fake_wrapper_wheel: Path
) -> AsyncIterator[Bus]:
    env = {
        **os.environ,
        "ORYX_ACTION_BUILDER_BROKER_URL": rabbitmq_url,
        "ORYX_ACTION_BUILDER_EXCHANGE": f"{random_name}.action_builder",
        "ORYX_ACTION_BUILDER_REPOSITORY_EXCHANGE": f"{random_name}.repository",
        "ORYX_ACTION_BUILDER_QUEUE_PREFIX": random_name,
        "ORYX_ACTION_BUILDER_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "ORYX_ACTION_BUILDER_FILESTORE_DIR": str(tmp_path / "filestore"),
        "ORYX_ACTION_BUILDER_WRAPPER_PATH": str(fake_wrapper_wheel),
    }
    (tmp_path / "filestore").mkdir()
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    for name in (
        env["ORYX_ACTION_BUILDER_EXCHANGE"],
        env["ORYX_ACTION_BUILDER_REPOSITORY_EXCHANGE"],
    ):
        await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    observer = await channel.declare_queue(exclusive=True)
    await observer.bind(env["ORYX_ACTION_BUILDER_EXCHANGE"], "#")
    (tmp_path / "filestore" / "objects").mkdir()
    found = Bus(env, channel, tmp_path / "filestore" / "objects", f"{random_name}.build-requested")

    async def observe(message: AbstractIncomingMessage) -> None:
        async with message.process():
            if message.type == "oryx.action_builder.v1.BuildFinished":
                finished = builder_pb2.BuildFinished.FromString(message.body)
                outcome = builder_pb2.BuildFinished.Outcome.Name(finished.outcome).lower()
                found.seen.append(f"{finished.build_id} {outcome}")
            else:
                started = builder_pb2.BuildStarted.FromString(message.body)
                found.seen.append(f"{started.build_id} started")

    await observer.consume(observe)
    yield found
    for queue in (f"{random_name}.build-requested", f"{random_name}.build-cancelled"):
        await channel.queue_delete(queue)
        await channel.queue_delete(f"{queue}.dlq")
    for name in (
        env["ORYX_ACTION_BUILDER_EXCHANGE"],
        env["ORYX_ACTION_BUILDER_REPOSITORY_EXCHANGE"],
    ):
        await channel.exchange_delete(name)
    await connection.close()


async def start_service(env: dict[str, str]) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *MODULE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines = []
    while True:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        if not line:
            pytest.fail("the service exited:\n" + b"".join(lines).decode())
        lines.append(line)
        if b"waiting for builds on RabbitMQ" in line:
            return process


async def stop(process: asyncio.subprocess.Process) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(process.wait(), timeout=20)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("the service did not stop within 20 s of SIGTERM")


async def test_the_service_builds_what_rabbitmq_brings_and_stops_on_sigterm(
    bus: Bus, make_action: Callable[..., Path]
) -> None:
    process = await start_service(bus.env)
    try:
        await bus.request("b1", make_action("trivial"))
        await eventually(lambda: len(bus.seen) == 2, within=60)
    finally:
        code = await stop(process)

    assert bus.seen == ["b1 started", "b1 succeeded"]
    assert code == 0
    assert await bus.ready_requests() == 0


async def test_sigterm_mid_build_kills_pip_and_leaves_the_request_queued(
    bus: Bus, make_action: Callable[..., Path], tmp_path: Path
) -> None:
    pid_file = tmp_path / "backend.pid"
    slow = make_action("slow", requirements="./slowpkg\n", files=slow_package_files(pid_file))
    process = await start_service(bus.env)
    try:
        await bus.request("b1", slow)
        await eventually(pid_file.exists, within=30)
    finally:
        code = await stop(process)

    assert code == 0
    assert bus.seen == ["b1 started"]  # no report: the build was abandoned, not finished
    await eventually(lambda: process_gone(int(pid_file.read_text())), within=10)
    assert await bus.ready_requests() == 1  # back in the queue for the next builder
