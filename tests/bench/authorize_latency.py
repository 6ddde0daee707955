"""Latency of `GET /authorization/authorize`, which every other service calls per request.

Starts `python -m oryx_authorization` as a real process on a fresh PostgreSQL database,
logs in, then times sequential calls over HTTP and prints p50/p95/p99 in milliseconds.

    .venv/bin/python tests/bench/authorize_latency.py [--requests 2000]

Needs PostgreSQL at ORYX_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
"""

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from oryx_authorization.infrastructure.database.engine import async_url

POSTGRES_URL = os.environ.get(
    "ORYX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "bench-admin-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def main(requests: int) -> None:
    name = f"oryx_bench_{secrets.token_hex(4)}"
    url = async_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    port = free_port()
    env = {
        **os.environ,
        "ORYX_AUTHORIZATION_DATABASE_URL": url,
        "ORYX_ADMIN_PASSWORD": PASSWORD,
        "ORYX_AUTHORIZATION_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "oryx_authorization", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/authorization"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(300):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            login = await client.post("/login", json={"username": "admin", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            params = {"permission": "workflow:write"}
            for _ in range(50):  # warm-up
                await client.get("/authorize", params=params, headers=headers)
            timings = []
            for _ in range(requests):
                start = time.perf_counter()
                response = await client.get("/authorize", params=params, headers=headers)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
        timings.sort()
        quantiles = statistics.quantiles(timings, n=100)
        print(
            f"GET /authorization/authorize over HTTP, {requests} sequential requests: "
            f"p50 {quantiles[49]:.2f} ms, p95 {quantiles[94]:.2f} ms, p99 {quantiles[98]:.2f} ms, "
            f"{requests / (sum(timings) / 1000):.0f} req/s"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        engine = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
