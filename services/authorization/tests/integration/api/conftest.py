"""The real app on the test database, reached over HTTP through httpx's ASGI transport."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from oryx_authorization.config import Settings
from oryx_authorization.infrastructure.api.app import create_app
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


@pytest.fixture
async def api(sessions, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    monkeypatch.setenv("ORYX_ADMIN_PASSWORD", ADMIN_PASSWORD)
    settings = Settings(database_url=database_url, broker_url=None, outbox_poll_seconds=0.05)
    container = build_container(settings, database_url)
    state = await start(container, settings)
    app = create_app(container.use_cases())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://oryx") as client:
        yield Api(client=client, container=container)
    await stop(container, state)
