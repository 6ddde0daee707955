"""``python -m oryx_studio`` as a real process, on a real port, with PostgreSQL, RabbitMQ and
the real authorization service: it starts alone, serves its API, and stops on SIGTERM."""

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oryx_studio.config import Settings
from oryx_studio.infrastructure.database.engine import async_url
from oryx_studio.infrastructure.security.secrets import FernetSecretBox

from ..conftest import POSTGRES_URL  # type: ignore[import-not-found]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_default_port_is_8083(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORYX_STUDIO_PORT", raising=False)
    assert Settings().port == 8083


async def test_python_m_oryx_studio_serves_alone(
    authorization_server, rabbitmq_url: str, random_name: str, tmp_path
) -> None:
    name = f"oryx_studio_proc_{secrets.token_hex(4)}"
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    env = {
        **os.environ,
        "ORYX_STUDIO_DATABASE_URL": url,
        "ORYX_STUDIO_SECRET_KEY": FernetSecretBox.generate_key(),
        "ORYX_STUDIO_BROKER_URL": rabbitmq_url,
        "ORYX_STUDIO_EXCHANGE": f"{random_name}.studio",
        "ORYX_STUDIO_QUEUE_PREFIX": f"{random_name}.studio",
        "ORYX_STUDIO_REPOSITORY_EXCHANGE": f"{random_name}.repository",
        "ORYX_STUDIO_RUNNER_EXCHANGE": f"{random_name}.runner",
        "ORYX_STUDIO_AUTHORIZATION_EXCHANGE": f"{random_name}.authorization",
        "ORYX_STUDIO_AUTHORIZATION_URL": authorization_server.url,
        "ORYX_STUDIO_FILESTORE_DIR": str(tmp_path / "files"),
        "ORYX_STUDIO_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "oryx_studio", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(200):
                if process.poll() is not None:
                    out = process.stdout.read().decode() if process.stdout else ""
                    pytest.fail(f"the service exited with {process.returncode}:\n{out}")
                try:
                    if (await client.get("/studio/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the studio did not become healthy in 20 s")
            token = await authorization_server.admin_token()
            project = await authorization_server.new_project(f"proc-{secrets.token_hex(3)}")
            headers = {"Authorization": f"Bearer {token}", "X-Oryx-Project": project}
            actions = await client.get("/studio/actions", headers=headers)
            assert actions.status_code == 200, actions.text
            assert {a["id"] for a in actions.json()["items"]} == {
                "builtin-http-api",
                "builtin-cron",
                "builtin-emit-every",
                "builtin-one-run",
                "builtin-manual",
            }
            made = await client.post("/studio/workflows", headers=headers, json={"name": "p"})
            assert made.status_code == 201, made.text
            assert (await client.get("/studio/healthz")).json()["service"] == "studio"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            # uvicorn shuts down cleanly, then re-raises the signal it received
            assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
            admin = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()
            import aio_pika

            connection = await aio_pika.connect(rabbitmq_url)
            async with connection:
                channel = await connection.channel()
                for suffix in ("action-published", "deployment-status-changed", "project-deleted"):
                    for queue in (
                        f"{random_name}.studio.{suffix}",
                        f"{random_name}.studio.{suffix}.dlq",
                    ):
                        await channel.queue_delete(queue)
                for exchange in ("studio", "repository", "runner", "authorization"):
                    await channel.exchange_delete(f"{random_name}.{exchange}")
