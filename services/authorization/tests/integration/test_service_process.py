"""`python -m oryx_authorization` as a real process, on a real port, with PostgreSQL and
RabbitMQ: the README's walk-through, and the events it publishes seen on the broker."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys

import aio_pika
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oryx_authorization.infrastructure.database.engine import async_url

from ..conftest import POSTGRES_URL  # type: ignore[import-not-found]

ADMIN_PASSWORD = "process-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fresh_database() -> str:
    name = f"oryx_authorization_proc_{secrets.token_hex(4)}"
    admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    yield async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def wait_until_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            if process.poll() is not None:
                out = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"the service exited with {process.returncode}:\n{out}")
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail("the service did not become healthy in 20 s")


async def test_readme_walkthrough_with_events_on_rabbitmq(
    fresh_database: str, rabbitmq_url: str, random_name: str
) -> None:
    exchange_name = f"{random_name}.authorization"
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
    )
    watcher = await channel.declare_queue(exclusive=True)
    await watcher.bind(exchange, "#")

    port = free_port()
    env = {
        **os.environ,
        "ORYX_AUTHORIZATION_DATABASE_URL": fresh_database,
        "ORYX_AUTHORIZATION_BROKER_URL": rabbitmq_url,
        "ORYX_AUTHORIZATION_EXCHANGE": exchange_name,
        "ORYX_AUTHORIZATION_OUTBOX_POLL_SECONDS": "0.2",
        "ORYX_ADMIN_PASSWORD": ADMIN_PASSWORD,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "oryx_authorization", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/authorization"
    try:
        await wait_until_healthy(base, process)
        async with httpx.AsyncClient(base_url=base) as api:
            login = await api.post("/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            alice_id = (
                await api.post(
                    "/users",
                    headers=admin,
                    json={"username": "alice", "password": "alice-password", "role": "developer"},
                )
            ).json()["id"]
            project = (await api.post("/projects", headers=admin, json={"name": "research"})).json()
            login = await api.post(
                "/login", json={"username": "alice", "password": "alice-password"}
            )
            alice = {
                "Authorization": f"Bearer {login.json()['access_token']}",
                "X-Oryx-Project": project["id"],
            }

            async def allowed(permission: str) -> bool:
                answer = await api.get(
                    "/authorize", params={"permission": permission}, headers=alice
                )
                assert answer.status_code == 200, answer.text
                return bool(answer.json()["allowed"])

            assert not await allowed("workflow:write")
            added = await api.post(
                f"/projects/{project['id']}/members",
                headers=admin,
                json={"user_id": alice_id, "role": "developer"},
            )
            assert added.status_code == 201
            assert await allowed("workflow:write")
            assert not await allowed("project:members:manage")

            removed = await api.delete(
                f"/projects/{project['id']}/members/{alice_id}", headers=admin
            )
            assert removed.status_code == 204
            deleted = await api.delete(f"/users/{alice_id}", headers=admin)
            assert deleted.status_code == 204

        received = []
        async with watcher.iterator(timeout=10) as messages:
            async for message in messages:
                async with message.process():
                    received.append((message.routing_key, message.type, message.message_id))
                if len(received) == 2:
                    break
        assert [r[0] for r in received] == [
            "authorization.project.member_removed.v1",
            "authorization.user.deleted.v1",
        ]
        assert received[0][1] == "oryx.authorization.v1.ProjectMemberRemoved"
        assert all(r[2] for r in received)  # every message carries its outbox id
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        await exchange.delete()
        await connection.close()


def test_watch_events_needs_a_broker() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ORYX_AUTHORIZATION_BROKER_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "oryx_authorization", "watch-events"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "ORYX_AUTHORIZATION_BROKER_URL" in result.stderr


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "oryx_authorization", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "taken" in result.stderr
