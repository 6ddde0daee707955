"""A cap on request bodies: a megabyte for JSON, more for the routes that take files."""

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
UPLOAD_PATHS = re.compile(
    r"^/studio/(workflows/import|workflows/[^/]+/steps/[^/]+/inputs/[^/]+/file|variables(/[^/]+)?)$"
)
"""Routes whose body may hold a file (an import, a static file, a file variable)."""


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Answers 413 when a body is larger than ``limit`` bytes, before it is read entirely."""

    def __init__(
        self, app: ASGIApp, *, limit: int = MAX_BODY_BYTES, upload_limit: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.default_limit = limit
        self.upload_limit = max(limit, upload_limit + MULTIPART_OVERHEAD)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.upload_limit if UPLOAD_PATHS.match(path) else self.default_limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "detail": f"the request body is larger than {limit} bytes",
                "code": "payload_too_large",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
