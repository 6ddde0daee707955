"""One ASGI application in front of the services: each keeps its own path prefix."""

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class PrefixRouter:
    """Sends ``/<prefix>/...`` to the service mounted there, untouched (the services' routes
    already carry their prefix), answers ``/`` with an index, anything else with a 404 in the
    platform's error shape. The lifespan runs ``on_startup`` and ``on_shutdown``."""

    def __init__(
        self,
        apps: Mapping[str, Asgi],
        *,
        on_startup: Callable[[], Awaitable[None]],
        on_shutdown: Callable[[], Awaitable[None]],
    ) -> None:
        self._apps = dict(apps)
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        for prefix, app in self._apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                await app(scope, receive, send)
                return
        if scope["type"] != "http":
            return
        if path in ("", "/"):
            body = {
                "service": "oryx",
                "apis": {
                    p: {"docs": f"{p}/docs", "openapi": f"{p}/openapi.json"} for p in self._apps
                },
            }
            await _json(send, 200, body)
        else:
            await _json(
                send,
                404,
                {
                    "detail": f"no route {path}; the APIs live under {', '.join(self._apps)}",
                    "code": "not_found",
                },
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._on_startup()
                except Exception as exc:  # uvicorn prints the message and exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self._on_shutdown()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Send, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
