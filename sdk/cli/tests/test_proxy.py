"""The distributed mode's front door, between a real HTTP client and a real upstream server
(uvicorn on a free port): paths, queries, bodies and headers pass through; hop-by-hop headers
do not; unknown prefixes are 404 and an unreachable service 502, in the platform's shape."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn

from oryx_cli.proxy import ProxyApp

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def echo(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """An upstream answering what it received."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "headers": {k.decode(): v.decode() for k, v in scope["headers"]},
        "body": body.decode(),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 207,
            "headers": [(b"content-type", b"application/json"), (b"x-upstream", b"yes")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(answer).encode()})


async def serve(app, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:  # type: ignore[no-untyped-def]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        await asyncio.sleep(0.01)
    return server, task


@pytest.fixture
async def door() -> AsyncIterator[str]:
    upstream_port, door_port, dead_port = free_port(), free_port(), free_port()
    upstream, upstream_task = await serve(echo, upstream_port)
    proxy = ProxyApp(
        {
            "/studio": f"http://127.0.0.1:{upstream_port}",
            "/runner": f"http://127.0.0.1:{dead_port}",
        }
    )
    front, front_task = await serve(proxy, door_port)
    try:
        yield f"http://127.0.0.1:{door_port}"
    finally:
        for server in (front, upstream):
            server.should_exit = True
        await asyncio.gather(front_task, upstream_task)
        await proxy.aclose()


async def test_requests_pass_through_with_their_path_query_body_and_headers(door: str) -> None:
    async with httpx.AsyncClient(base_url=door) as client:
        response = await client.post(
            "/studio/workflows/a%2Fb?x=1&y=%20",
            json={"name": "w"},
            headers={"Authorization": "Bearer t", "Connection": "keep-alive", "TE": "trailers"},
        )
    assert response.status_code == 207 and response.headers["x-upstream"] == "yes"
    seen = response.json()
    assert seen["method"] == "POST"
    assert seen["path"] == "/studio/workflows/a/b"  # decoded by the upstream's server
    assert seen["query"] == "x=1&y=%20"
    assert json.loads(seen["body"]) == {"name": "w"}
    assert seen["headers"]["authorization"] == "Bearer t"
    assert "te" not in seen["headers"]
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"


async def test_a_large_upload_is_streamed_through(door: str) -> None:
    data = b"x" * (5 * 1024 * 1024)
    async with httpx.AsyncClient(base_url=door, timeout=30) as client:
        response = await client.put("/studio/files", content=data)
    assert response.status_code == 207 and len(response.json()["body"]) == len(data)


async def test_unknown_prefixes_unreachable_services_and_the_index(door: str) -> None:
    async with httpx.AsyncClient(base_url=door) as client:
        unknown = await client.get("/nothing/here")
        assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
        assert "/studio" in unknown.json()["detail"]
        # a prefix is a whole path segment: /studios is not /studio
        assert (await client.get("/studios")).status_code == 404
        down = await client.get("/runner/healthz")
        assert down.status_code == 502 and down.json()["code"] == "service_unavailable"
        index = (await client.get("/")).json()
        assert index["apis"]["/studio"] == {
            "docs": "/studio/docs",
            "openapi": "/studio/openapi.json",
        }
