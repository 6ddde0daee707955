"""The studio app on the test database, with the real authorization service (a process),
reached over HTTP through httpx's ASGI transport. Actions reach the library the real way: an
``ActionPublished`` through the (in-process) broker and the inbox consumer."""

import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from oryx_studio.config import Settings
from oryx_studio.infrastructure.api.app import create_app
from oryx_studio.infrastructure.database.engine import session_factory
from oryx_studio.infrastructure.database.tables import (
    action_versions,
    actions,
    metadata,
    outbox,
    variables,
    workflows,
)
from oryx_studio.infrastructure.messaging.generated.repository.v1 import events_pb2
from oryx_studio.infrastructure.security.secrets import FernetSecretBox
from oryx_studio.service import Resolved, build_container, start, stop

MAX_FILE_BYTES = 64 * 1024
"""The tests' upload limit: small, so that oversized uploads are cheap to send."""


@pytest.fixture(scope="session")
async def people(authorization_server) -> dict[str, str]:
    """Two projects with their people, made once (logins cost argon2 time)."""
    suffix = secrets.token_hex(3)
    p1 = await authorization_server.new_project(f"studio-a-{suffix}")
    p2 = await authorization_server.new_project(f"studio-b-{suffix}")
    return {
        "p1": p1,
        "p2": p2,
        "developer": await authorization_server.new_member(
            f"dev-{suffix}", project_id=p1, role="developer"
        ),
        "viewer": await authorization_server.new_member(
            f"viewer-{suffix}", project_id=p1, role="user"
        ),
        "outsider": await authorization_server.new_member(
            f"other-{suffix}", project_id=p2, role="developer"
        ),
    }


def io(name: str, type: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": type, **extra}


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Any
    people: dict[str, str]
    files: Path

    @property
    def p1(self) -> str:
        return self.people["p1"]

    @property
    def p2(self) -> str:
        return self.people["p2"]

    def headers(self, who: str = "developer", project: str | None = None) -> dict[str, str]:
        """A caller's headers; by default a developer of p1 in p1."""
        default = self.p2 if who == "outsider" else self.p1
        return {
            "Authorization": f"Bearer {self.people[who]}",
            "X-Oryx-Project": project or default,
        }

    @property
    def dev(self) -> dict[str, str]:
        return self.headers()

    async def publish(
        self,
        name: str,
        *,
        version: str = "1.0",
        kind: str = "processor",
        inputs: Sequence[dict[str, Any]] = (),
        outputs: Sequence[dict[str, Any]] = (),
        project: str | None = None,
        logo: bytes = b"",
        categories: Sequence[str] = ("examples",),
        dynamic_outputs: bool = False,
    ) -> str:
        """Publish an action as the repository would; answers the studio's action id."""

        def definition(d: dict[str, Any]) -> events_pb2.IoDefinition:
            d = dict(d)
            default = d.pop("default", ...)
            message = events_pb2.IoDefinition(**d)
            if default is not ...:
                message.default_value_json = json.dumps(default)
            return message

        message = events_pb2.ActionPublished(
            action_id=f"repo-{name}-{version}",
            project_id=project or self.p1,
            name=name,
            version=version,
            kind=kind,
            human_name=name.replace("-", " ").title(),
            description=f"The {name} action",
            categories=list(categories),
            type="python3",
            resources=events_pb2.Resources(cpu=0.25, memory_bytes=64 * 1024**2),
            inputs=[definition(i) for i in inputs],
            outputs=[definition(o) for o in outputs],
            dynamic_outputs=dynamic_outputs,
            logo=logo,
            logo_media_type="image/png" if logo else "",
            artifact_ref=f"local:{name}-{version}",
            source_id="source-1",
            commit_sha="c" * 40,
        )
        broker = self.container.broker()
        await broker.publish(
            exchange="oryx.repository",
            routing_key="repository.action.published.v1",
            message_id=str(uuid.uuid4()),
            message_type="oryx.repository.v1.ActionPublished",
            body=message.SerializeToString(),
        )
        await broker.join()
        listed = await self.client.get(
            "/studio/actions",
            params={"search": name, "limit": 200},
            headers=self.headers(project=project or self.p1)
            if (project or self.p1) == self.p1
            else self.headers("outsider"),
        )
        return next(a["id"] for a in listed.json()["items"] if a["name"] == name)

    async def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.dev)
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, f"{method} {url}: {response.text[:1000]}"
        return response.json() if response.content else None


@asynccontextmanager
async def serve(
    database_url: str, authorization_url: str, people: dict[str, str], files: Path
) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=database_url,
        authorization_url=authorization_url,
        outbox_poll_seconds=0.05,
        max_file_bytes=MAX_FILE_BYTES,
    )
    resolved = Resolved(
        database_url=database_url,
        secret_key=FernetSecretBox.generate_key(),
        filestore_dir=files,
    )
    container = build_container(settings, resolved)
    state = await start(container, settings)
    app = create_app(container.use_cases())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://oryx") as client:
            yield Api(client=client, container=container, people=people, files=files)
    finally:
        await stop(container, state)


@pytest.fixture
async def api(sessions, database_url, authorization_server, people, tmp_path) -> AsyncIterator[Api]:
    async with serve(database_url, authorization_server.url, people, tmp_path / "files") as a:
        yield a


# the bad-input discipline ---------------------------------------------------------------------

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
# What an error body must never show: a stack trace, the ORM or driver, generated SQL.
LEAKS = ("Traceback", 'File "', "sqlalchemy", "asyncpg", "[SQL:", "SELECT ", "INSERT INTO")
ANY_FIELD = object()
"""Pass as ``field`` when the field of an error does not matter."""
BODY_KEYS = {"detail", "code", "field", "errors", "used_by", "missing"}


def check_error(
    response: httpx.Response, status: int, *, field: Any = ANY_FIELD, code: str | None = None
) -> dict[str, Any]:
    """The response is an error of the contract's shape, and gives nothing away."""
    assert response.status_code == status, f"{response.status_code}: {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) <= BODY_KEYS, body
    assert isinstance(body["detail"], str) and len(body["detail"].strip()) >= 8, body
    assert SNAKE_CASE.fullmatch(body["code"]), body
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
    """Data that many read-mostly cases share, in two projects:

    - p1: actions ``upper`` (processor, 1.0 and 2.0) and ``sink`` (publisher, with a file
      input); a workflow ``alpha`` (emit-every -> upper -> sink) and a workflow ``solo``;
      variables ``token`` (password) and ``greeting`` (string);
    - p2: an action ``theirs`` and a workflow ``beta`` with the same step ids as ``alpha``,
      and a variable ``theirs_var``.
    """

    api: Api
    sessions: async_sessionmaker[AsyncSession]
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.api.client

    def url(self, template: str) -> str:
        """``/workflows/{alpha}`` -> ``/studio/workflows/<id of alpha>``."""
        return "/studio" + template.format(**self.ids)

    async def snapshot(self) -> dict[str, Any]:
        """Every row that matters, to compare before and after a refused request."""
        async with self.sessions() as session:
            rows: dict[str, Any] = {}
            for table in (actions, action_versions, workflows, variables, outbox):
                query = select(*table.c).order_by(*table.primary_key.columns)
                rows[table.name] = [tuple(r) for r in await session.execute(query)]
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
        """Send a request that must fail with ``status`` and leave every table as it was."""
        before = await self.snapshot()
        url = template if template.startswith(("/studio", "http")) else self.url(template)
        kwargs.setdefault("headers", self.api.dev)
        response = await self.client.request(method, url, **kwargs)
        body = check_error(response, status, field=field, code=code)
        assert await self.snapshot() == before, "a refused request changed data"
        return body


async def _build_world(api: Api, sessions: async_sessionmaker[AsyncSession]) -> World:
    w = World(api=api, sessions=sessions)
    ids = w.ids
    ids["p1"], ids["p2"] = api.p1, api.p2
    ids["upper"] = await api.publish(
        "upper", inputs=[io("text"), io("times", "integer", default=1)], outputs=[io("text")]
    )
    await api.publish(
        "upper", version="2.0", inputs=[io("text"), io("flag", "boolean")], outputs=[io("text")]
    )
    ids["sink"] = await api.publish(
        "sink",
        kind="publisher",
        inputs=[io("text", optional=True), io("doc", "file", optional=True)],
    )
    ids["theirs"] = await api.publish("theirs", project=api.p2, outputs=[io("text")])

    async def compose(name: str, headers: dict[str, str], second: str) -> tuple[str, dict]:
        made = await api.ok("POST", "/studio/workflows", 201, json={"name": name}, headers=headers)
        wid = made["id"]
        steps = f"/studio/workflows/{wid}/steps"
        t = (
            await api.ok(
                "POST", steps, 201, json={"action_id": "builtin-emit-every"}, headers=headers
            )
        )["step_id"]
        u = (
            await api.ok(
                "POST", steps, 201, json={"action_id": second, "after_step_id": t}, headers=headers
            )
        )["step_id"]
        return wid, {"trigger": t, "step": u}

    ids["alpha"], alpha = await compose("alpha", api.dev, ids["upper"])
    ids["trigger"], ids["step"] = alpha["trigger"], alpha["step"]
    sink = await api.ok(
        "POST",
        w.url("/workflows/{alpha}/steps"),
        201,
        json={"action_id": ids["sink"], "after_step_id": ids["step"]},
    )
    ids["sink_step"] = sink["step_id"]
    ids["beta"], _ = await compose("beta", api.headers("outsider"), ids["theirs"])
    ids["beta_only"] = "theirs"  # a step id of beta that alpha does not have
    ids["solo"] = (await api.ok("POST", "/studio/workflows", 201, json={"name": "solo"}))["id"]
    token = await api.ok(
        "POST", "/studio/variables", 201, json={"name": "token", "type": "password", "value": "pw"}
    )
    ids["token"] = token["id"]
    greeting = await api.ok(
        "POST", "/studio/variables", 201, json={"name": "greeting", "type": "string", "value": "hi"}
    )
    ids["greeting"] = greeting["id"]
    theirs = await api.ok(
        "POST",
        "/studio/variables",
        201,
        json={"name": "theirs_var", "type": "string", "value": "x"},
        headers=api.headers("outsider"),
    )
    ids["theirs_var"] = theirs["id"]
    return w


@pytest.fixture(scope="module")
async def world(
    engine: AsyncEngine, database_url: str, authorization_server, people, tmp_path_factory
) -> AsyncIterator[World]:
    """One populated database for a whole module of bad-input cases; each case checks that
    the tables are unchanged after its request. Do not use ``api`` in the same module."""
    async with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))
    files = tmp_path_factory.mktemp("world-files")
    async with serve(database_url, authorization_server.url, people, files) as api:
        yield await _build_world(api, session_factory(engine))


@pytest.fixture
def check() -> Any:
    return check_error
