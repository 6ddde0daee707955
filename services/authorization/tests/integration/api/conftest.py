"""The real app on the test database, reached over HTTP through httpx's ASGI transport."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oryx_authorization.config import Settings
from oryx_authorization.infrastructure.api.app import create_app
from oryx_authorization.infrastructure.database.engine import session_factory
from oryx_authorization.infrastructure.database.tables import (
    access_tokens,
    login_throttles,
    metadata,
    outbox,
    project_members,
    projects,
    users,
)
from oryx_authorization.service import build_container, start, stop

ADMIN_PASSWORD = "admin-password-for-tests"


@dataclass
class Api:
    client: httpx.AsyncClient
    container: object

    async def login(self, username: str, password: str) -> dict[str, str]:
        response = await self.client.post(
            "/authorization/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def admin(self) -> dict[str, str]:
        return await self.login("admin", ADMIN_PASSWORD)

    async def create_user(
        self, username: str, role: str = "user", password: str | None = None
    ) -> tuple[str, dict[str, str]]:
        password = password or f"{username}-password"
        response = await self.client.post(
            "/authorization/users",
            headers=await self.admin(),
            json={"username": username, "password": password, "role": role},
        )
        assert response.status_code == 201, response.text
        return response.json()["id"], await self.login(username, password)


@asynccontextmanager
async def serve(database_url: str) -> AsyncIterator[Api]:
    settings = Settings(database_url=database_url, broker_url=None, outbox_poll_seconds=0.05)
    container = build_container(settings, database_url)
    state = await start(container, settings)
    app = create_app(container.use_cases())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://oryx") as client:
        yield Api(client=client, container=container)
    await stop(container, state)


@pytest.fixture
async def api(sessions, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("ORYX_ADMIN_PASSWORD", ADMIN_PASSWORD)
    async with serve(database_url) as api:
        yield api


# A shared world for the bad-input suites ------------------------------------------------------

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
CODES_BY_STATUS = {
    401: {"not_authenticated", "authentication_failed"},
    403: {"permission_denied"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    409: {"conflict"},
    413: {"payload_too_large"},
    422: {"invalid_input", "invalid_value", "malformed_json"},
}
# What an error body must never show: a stack trace, the ORM or driver, generated SQL.
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "[SQL:", "SELECT ", "INSERT INTO")
ANY_FIELD = object()
"""Pass as ``field`` when the field of an error does not matter."""


def check_error(
    response: httpx.Response, status: int, *, field: Any = ANY_FIELD, code: str | None = None
) -> dict[str, Any]:
    """The response is an error of the contract's shape, and gives nothing away."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) <= {"detail", "code", "field", "errors"}, body
    assert isinstance(body["detail"], str) and len(body["detail"].strip()) >= 8, body
    assert SNAKE_CASE.fullmatch(body["code"]), body
    assert body["code"] in CODES_BY_STATUS[status], body
    if code is not None:
        assert body["code"] == code, body
    if field is not ANY_FIELD:
        assert body.get("field") == field, body
    for leak in LEAKS:
        assert leak not in response.text, (leak, response.text[:500])
    if status == 401:
        assert response.headers.get("www-authenticate") == "Bearer", response.headers
    return body


@dataclass
class World:
    """Users, projects and tokens that many read-mostly cases share.

    - ``admin``: the platform admin (the only one), member of the ``default`` project;
    - ``alice``: platform developer, developer in ``alpha``, owns a personal token;
    - ``bob``: platform user, user in ``beta``; not in ``alpha``, so ``alpha`` is invisible
      to him (and ``beta`` to alice).

    Each value is the caller's auth headers; ``*_id`` the ids.
    """

    api: Api
    sessions: async_sessionmaker[AsyncSession]
    admin: dict[str, str]
    admin_id: str
    alice: dict[str, str]
    alice_id: str
    alice_token_id: str
    bob: dict[str, str]
    bob_id: str
    bob_login_token_id: str
    alpha: str
    beta: str

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    @property
    def ids(self) -> dict[str, str]:
        """``{"alpha": <id of alpha>, "bob_id": ..., ...}``, to fill templates."""
        return {k: v for k, v in vars(self).items() if isinstance(v, str)}

    def url(self, template: str) -> str:
        """``/projects/{alpha}`` -> ``/authorization/projects/<id of alpha>``."""
        return "/authorization" + template.format(**self.ids)

    async def snapshot(self) -> dict[str, Any]:
        """Every row that matters, to compare before and after a refused request.

        ``last_used_at`` is left out: checking a token legitimately records its use.
        """
        tables = (users, projects, project_members, access_tokens, login_throttles)
        async with self.sessions() as session:
            rows: dict[str, Any] = {}
            for table in tables:
                columns = [c for c in table.c if c.name != "last_used_at"]
                query = select(*columns).order_by(*table.primary_key.columns)
                rows[table.name] = [tuple(r) for r in await session.execute(query)]
            rows["outbox"] = await session.scalar(select(func.count()).select_from(outbox))
        return rows

    async def refused(
        self,
        method: str,
        template: str,
        status: int,
        *,
        field: Any = ANY_FIELD,
        code: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Send a request that must fail with ``status`` and leave every table as it was.

        ``template`` is a path under /authorization with ``{ids}`` to fill, or a finished
        URL (starting with /authorization or http) sent as it is.
        """
        before = await self.snapshot()
        finished = template.startswith(("/authorization", "http"))
        url = template if finished else self.url(template)
        response = await self.client.request(method, url, **kwargs)
        body = check_error(response, status, field=field, code=code)
        assert await self.snapshot() == before, "a refused request changed data"
        return body

    async def users_still_queryable(self) -> None:
        async with self.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(users)) >= 3


async def _build_world(api: Api, sessions: async_sessionmaker[AsyncSession]) -> World:
    client = api.client
    admin = await api.admin()
    admin_id = (await client.get("/authorization/me", headers=admin)).json()["id"]

    async def user(name: str, role: str) -> tuple[str, dict[str, str]]:
        body = {"username": name, "password": f"{name}-password", "role": role}
        response = await client.post("/authorization/users", headers=admin, json=body)
        assert response.status_code == 201, response.text
        return response.json()["id"], await api.login(name, f"{name}-password")

    async def project(name: str, member_id: str, role: str) -> str:
        response = await client.post("/authorization/projects", headers=admin, json={"name": name})
        assert response.status_code == 201, response.text
        project_id: str = response.json()["id"]
        member = {"user_id": member_id, "role": role}
        url = f"/authorization/projects/{project_id}/members"
        assert (await client.post(url, headers=admin, json=member)).status_code == 201
        return project_id

    alice_id, alice = await user("alice", "developer")
    bob_id, bob = await user("bob", "user")
    alpha = await project("alpha", alice_id, "developer")
    beta = await project("beta", bob_id, "user")
    token = await client.post("/authorization/tokens", headers=alice, json={"name": "alice-cli"})
    assert token.status_code == 201, token.text
    async with sessions() as session:
        bob_login_token_id = await session.scalar(
            select(access_tokens.c.id).where(
                access_tokens.c.user_id == bob_id, access_tokens.c.kind == "login"
            )
        )
    return World(
        api=api,
        sessions=sessions,
        admin=admin,
        admin_id=admin_id,
        alice=alice,
        alice_id=alice_id,
        alice_token_id=token.json()["id"],
        bob=bob,
        bob_id=bob_id,
        bob_login_token_id=bob_login_token_id,
        alpha=alpha,
        beta=beta,
    )


@pytest.fixture(scope="module")
async def world(engine: AsyncEngine, database_url: str) -> AsyncIterator[World]:
    """One populated database for a whole module of bad-input cases.

    Logging in runs argon2, so a world per case would make hundreds of cases slow; instead
    every case checks that the tables are unchanged after its request, so a case that
    changes data fails itself. Do not use ``api`` or ``sessions`` in the same module: they
    empty the database under the world.
    """
    async with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("ORYX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        async with serve(database_url) as api:
            yield await _build_world(api, session_factory(engine))


@pytest.fixture
def check() -> Any:
    """``check(response, status, field=..., code=...)``: the contract's error shape."""
    return check_error
