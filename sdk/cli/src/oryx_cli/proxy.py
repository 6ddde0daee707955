"""The front door of the distributed mode: one port, each ``/<prefix>/...`` forwarded to the
service that owns it, so that a client speaks to both modes the same way.

Requests and answers are streamed both ways (uploads, downloads and Server-Sent Events are
never held in memory), the path is kept as it is (every service serves under its prefix), and
the caller's ``Host`` is passed on. A service that cannot be reached answers 502 in the
platform's error shape.
"""

import logging
from collections.abc import AsyncIterator, Mapping

import httpx

from oryx_cli.routing import Receive, Scope, Send, _json

log = logging.getLogger(__name__)

# Hop-by-hop headers (RFC 9110, 7.6.1) belong to one connection, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


class ProxyApp:
    """An ASGI application forwarding ``/<prefix>/...`` to ``upstreams[prefix]`` (a base URL
    such as ``http://127.0.0.1:8081``)."""

    def __init__(self, upstreams: Mapping[str, str], *, timeout: float | None = None) -> None:
        self._upstreams = {p.rstrip("/"): u.rstrip("/") for p, u in upstreams.items()}
        # No read timeout by default: a user API may wait for its result for minutes, an
        # event stream stays open as long as its run goes on.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5.0, read=timeout, write=timeout, pool=None),
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no WebSocket route exists; the connection is simply not accepted
        path: str = scope.get("path", "")
        upstream = self._upstream(path)
        if upstream is None:
            if path in ("", "/"):
                await _json(send, 200, self._index())
            else:
                await _json(
                    send,
                    404,
                    {
                        "detail": f"no route {path}; the APIs live under "
                        f"{', '.join(self._upstreams)}",
                        "code": "not_found",
                    },
                )
            return
        await self._forward(upstream, scope, receive, send)

    def _upstream(self, path: str) -> str | None:
        for prefix, url in self._upstreams.items():
            if path == prefix or path.startswith(prefix + "/"):
                return url
        return None

    def _index(self) -> dict[str, object]:
        return {
            "service": "oryx",
            "apis": {
                p: {"docs": f"{p}/docs", "openapi": f"{p}/openapi.json"} for p in self._upstreams
            },
        }

    async def _forward(self, upstream: str, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url = (
            upstream + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        )
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode()))
        names = {k.lower() for k, _ in scope["headers"]}
        has_body = b"transfer-encoding" in names or any(
            k.lower() == b"content-length" and v.strip() != b"0" for k, v in scope["headers"]
        )
        request = self._client.build_request(
            scope["method"], url, headers=headers, content=_body(receive) if has_body else b""
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("front door: %s %s: %r", scope["method"], url, exc)
            await _json(
                send,
                502,
                {
                    "detail": f"the service behind {scope['path']} cannot be reached ({exc!r}); "
                    "is it running?",
                    "code": "service_unavailable",
                },
            )
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP
                    ],
                }
            )
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
