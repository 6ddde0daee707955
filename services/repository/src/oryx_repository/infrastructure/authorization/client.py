"""The HTTP client of ``GET /authorization/authorize``, with a short cache.

Every user request of this service is checked by the authorization service. Answers are kept
for at most 5 seconds (the platform's rule), keyed by a digest of the token, the project and
the permission, so a revoked token stops working within 5 seconds everywhere.
"""

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, kw_only=True)
class Caller:
    user_id: str
    username: str
    role: str
    project_id: str | None
    """None when the project is unknown or invisible to the caller (or none was chosen)."""
    project_role: str | None
    allowed: bool


class NotAuthenticated(Exception):
    """The token is missing, malformed, expired or revoked."""


class AuthorizationUnavailable(Exception):
    """The authorization service could not answer."""


MAX_CACHE_SECONDS = 5.0


class HttpAuthorizer:
    def __init__(
        self,
        base_url: str,
        *,
        cache_seconds: float = MAX_CACHE_SECONDS,
        timeout: float = 5.0,
        max_entries: int = 10_000,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s)
        # would close them under a request.
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=2.0),
        )
        self._ttl = min(cache_seconds, MAX_CACHE_SECONDS)
        self._max = max_entries
        self._cache: OrderedDict[tuple[str, str, str], tuple[float, Caller]] = OrderedDict()

    async def close(self) -> None:
        await self._client.aclose()

    async def authorize(self, *, token: str, permission: str, project: str | None) -> Caller:
        key = (hashlib.sha256(token.encode()).hexdigest(), project or "", permission)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        headers = {"Authorization": f"Bearer {token}"}
        if project:
            headers["X-Oryx-Project"] = project
        response = None
        for attempt in (1, 2):
            try:
                response = await self._client.get(
                    "/authorization/authorize",
                    params={"permission": permission},
                    headers=headers,
                )
                break
            except httpx.TransportError as exc:
                # A kept-alive connection the server closed at that very moment, a reset:
                # the question is a read, asked again once on a fresh connection.
                if attempt == 2:
                    raise AuthorizationUnavailable(
                        f"the authorization service is unreachable: {exc!r}"
                    ) from exc
            except httpx.HTTPError as exc:
                raise AuthorizationUnavailable(
                    f"the authorization service is unreachable: {exc!r}"
                ) from exc
        assert response is not None
        if response.status_code == 401:
            raise NotAuthenticated(_detail(response, "not authenticated"))
        if response.status_code != 200:
            raise AuthorizationUnavailable(
                f"the authorization service answered {response.status_code}: "
                f"{_detail(response, 'no detail')}"
            )
        body = response.json()
        caller = Caller(
            user_id=body["user_id"],
            username=body["username"],
            role=body["role"],
            project_id=body.get("project_id"),
            project_role=body.get("project_role"),
            allowed=bool(body.get("allowed")),
        )
        self._cache[key] = (now + self._ttl, caller)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return caller


def _detail(response: httpx.Response, default: str) -> str:
    try:
        return str(response.json().get("detail", default))
    except ValueError:
        return default
