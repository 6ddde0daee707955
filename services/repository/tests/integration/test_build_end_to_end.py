"""Scan, then build, then ActionPublished: the repository service and the real action builder
over the real RabbitMQ, PostgreSQL and S3 server (SeaweedFS), with the examples repository."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import httpx
import pytest

from oryx_repository.config import Settings
from oryx_repository.infrastructure.api.app import create_app
from oryx_repository.infrastructure.messaging.routing import decode
from oryx_repository.infrastructure.security.secrets import FernetSecretBox
from oryx_repository.service import Resolved, build_container, start, stop

from .api.conftest import make_repository

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture
async def platform(
    sessions,
    database_url,
    authorization_server,
    rabbitmq_url,
    s3_server,
    random_name,
    tmp_path,
) -> AsyncIterator[dict]:
    """The repository (in this process) and the builder (a real process), on exchanges and
    queues named for this test only."""
    exchanges = {
        "repository": f"{random_name}.repository",
        "builder": f"{random_name}.action_builder",
        "authorization": f"{random_name}.authorization",
    }
    bucket = f"oryx-e2e-{random_name.rsplit('.', 1)[-1]}"
    settings = Settings(
        database_url=database_url,
        broker_url=rabbitmq_url,
        authorization_url=authorization_server.url,
        allow_file_urls=True,
        outbox_poll_seconds=0.05,
        exchange=exchanges["repository"],
        builder_exchange=exchanges["builder"],
        authorization_exchange=exchanges["authorization"],
        queue_prefix=f"{random_name}.repository",
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=bucket,
        s3_region=s3_server.region,
    )
    resolved = Resolved(
        database_url=database_url,
        secret_key=FernetSecretBox.generate_key(),
        filestore_dir=tmp_path / "unused",
    )
    container = build_container(settings, resolved)

    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    watched = await channel.declare_exchange(
        exchanges["repository"], aio_pika.ExchangeType.TOPIC, durable=True
    )
    published = await channel.declare_queue(exclusive=True)
    await published.bind(watched, "repository.action.published.v1")

    state = await start(container, settings)
    builder_env = {
        **os.environ,
        "ORYX_ACTION_BUILDER_BROKER_URL": rabbitmq_url,
        "ORYX_ACTION_BUILDER_EXCHANGE": exchanges["builder"],
        "ORYX_ACTION_BUILDER_REPOSITORY_EXCHANGE": exchanges["repository"],
        "ORYX_ACTION_BUILDER_QUEUE_PREFIX": f"{random_name}.builder",
        "ORYX_ACTION_BUILDER_DATA_DIR": str(tmp_path / "builder"),
        "ORYX_ACTION_BUILDER_S3_ENDPOINT": s3_server.endpoint,
        "ORYX_ACTION_BUILDER_S3_ACCESS_KEY": s3_server.access_key,
        "ORYX_ACTION_BUILDER_S3_SECRET_KEY": s3_server.secret_key,
        "ORYX_ACTION_BUILDER_S3_BUCKET": bucket,
        "ORYX_ACTION_BUILDER_S3_REGION": s3_server.region,
        "ORYX_ACTION_BUILDER_WRAPPER_PATH": str(ROOT / "sdk" / "wrapper"),
    }
    log = (tmp_path / "builder.log").open("wb")
    builder = subprocess.Popen(
        [sys.executable, "-m", "oryx_action_builder", "serve"],
        env=builder_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    app = create_app(container.use_cases())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    project = await authorization_server.new_project(f"e2e-{random_name[-8:]}")
    token = await authorization_server.new_member(
        f"builder-{random_name[-8:]}", project_id=project, role="developer"
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://oryx") as client:
            yield {
                "client": client,
                "headers": {"Authorization": f"Bearer {token}", "X-Oryx-Project": project},
                "published": published,
                "builder_log": tmp_path / "builder.log",
                "project": project,
            }
    finally:
        builder.send_signal(signal.SIGTERM)
        try:
            builder.wait(timeout=20)
        except subprocess.TimeoutExpired:
            builder.kill()
        log.close()
        await stop(container, state)
        channel = await connection.channel()
        for name in exchanges.values():
            await channel.exchange_delete(name)
        for queue in (
            "repository.build-started", "repository.build-finished", "repository.project-deleted",
            "builder.build-requested", "builder.build-cancelled",
        ):  # fmt: skip
            for suffix in ("", ".dlq"):
                await channel.queue_delete(f"{random_name}.{queue}{suffix}")
        await connection.close()


async def test_examples_scan_build_and_publish(platform, tmp_path) -> None:
    client, headers = platform["client"], platform["headers"]
    url = make_repository(tmp_path / "examples")
    source = (
        await client.post(
            "/repository/sources", headers=headers, json={"name": "examples", "url": url}
        )
    ).json()
    scan = (await client.post(f"/repository/sources/{source['id']}/scan", headers=headers)).json()
    assert scan["status"] == "ok", scan
    actions = {a["id"]: a for a in scan["actions"]}
    assert actions and all(a["status"] == "scanned" for a in actions.values())

    started = time.monotonic()
    response = await client.post(f"/repository/sources/{source['id']}/build", headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()) == len(actions)

    statuses: dict[str, str] = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        page = (
            await client.get(
                "/repository/actions",
                headers=headers,
                params={"source_id": source["id"], "limit": 200},
            )
        ).json()
        statuses = {a["name"]: a["status"] for a in page["items"]}
        if all(s in ("built", "build_error") for s in statuses.values()):
            break
        await asyncio.sleep(0.5)
    log = platform["builder_log"].read_text(errors="replace")[-3000:]
    assert set(statuses.values()) == {"built"}, f"{statuses}\n--- builder log ---\n{log}"
    elapsed = time.monotonic() - started
    print(f"\nbuilt the {len(actions)} example actions in {elapsed:.1f} s")

    received = {}
    async with platform["published"].iterator(timeout=30) as messages:
        async for message in messages:
            async with message.process():
                event = decode(message.type or "", message.body)
                received[event.action_id] = event
            if len(received) == len(actions):
                break
    assert set(received) == set(actions)
    echo = next(e for e in received.values() if e.name == "echo")
    assert echo.project_id == platform["project"]
    assert echo.artifact_ref.startswith("local:")
    assert echo.kind == "processor"
    assert {i.type for i in echo.inputs} >= {"string", "file", "directory", "enum"}
    assert echo.commit_sha == scan["commit_sha"]
    one = await client.get(f"/repository/actions/{echo.action_id}", headers=headers)
    assert one.json()["artifact_ref"] == echo.artifact_ref
