"""The runner's HTTP API with the real authorization service: one runner and one set of
people for the package (logins cost argon2 time; wrappers cost a start)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ..harness import Harness, running_runner


@dataclass
class People:
    p1: str
    p2: str
    developer: str
    viewer: str
    outsider: str
    expired: str
    revoked: str

    def headers(self, who: str = "developer", project: str | None = None) -> dict[str, str]:
        token = getattr(self, who)
        return {"Authorization": f"Bearer {token}", "X-Oryx-Project": project or self.p1}


@pytest.fixture(scope="package")
async def people(authorization_server) -> People:  # type: ignore[no-untyped-def]
    suffix = secrets.token_hex(3)
    p1 = await authorization_server.new_project(f"runner-a-{suffix}")
    p2 = await authorization_server.new_project(f"runner-b-{suffix}")
    expired = await authorization_server.new_member(
        f"expired-{suffix}", project_id=p1, role="developer"
    )
    await authorization_server.expire_tokens_of(f"expired-{suffix}")
    revoked = await authorization_server.new_member(
        f"revoked-{suffix}", project_id=p1, role="developer"
    )
    await authorization_server.logout(revoked)
    return People(
        p1=p1,
        p2=p2,
        developer=await authorization_server.new_member(
            f"dev-{suffix}", project_id=p1, role="developer"
        ),
        viewer=await authorization_server.new_member(
            f"viewer-{suffix}", project_id=p1, role="user"
        ),
        outsider=await authorization_server.new_member(
            f"other-{suffix}", project_id=p2, role="developer"
        ),
        expired=expired,
        revoked=revoked,
    )


@pytest.fixture(scope="package")
async def runner(
    database_url, artifacts, authorization_server, people, tmp_path_factory
) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    root, _ = artifacts
    async with running_runner(
        artifacts_dir=root,
        work=tmp_path_factory.mktemp("api-runner"),
        authorization_url=authorization_server.url,
    ) as harness:
        harness.project_id = people.p1
        yield harness


@pytest.fixture(scope="package")
def refs(artifacts) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return artifacts[1]


@pytest.fixture
async def client(runner: Harness) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=runner.url, timeout=30) as http:
        yield http


async def poll_result(client: httpx.AsyncClient, run_id: str, headers: dict[str, str]) -> Any:
    import asyncio

    for _ in range(600):
        response = await client.get(f"/runner/results/{run_id}", headers=headers)
        if response.status_code != 202:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not finish")
