"""The bad-input suite on every route: malformed JSON, wrong types, oversized fields,
injection strings, unknown ids, another project's ids, expired, revoked and malformed tokens,
a role without the permission. Each gets the right 4xx and leaves the data unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from oryx_runner.domain.workflows import WorkflowSnapshot

from ...actions import io, step, trigger
from ..harness import Harness
from .conftest import People, poll_result

ROUTES = [
    ("GET", "/runner/deployments", None),
    ("GET", "/runner/deployments/{workflow}", None),
    ("POST", "/runner/workflows/{workflow}/runs", {"inputs": {"text": "x", "n": 1}}),
    ("GET", "/runner/runs", None),
    ("GET", "/runner/runs/{run}", None),
    ("DELETE", "/runner/runs/{run}", None),
    ("POST", "/runner/runs/{run}/cancel", None),
    ("GET", "/runner/runs/{run}/steps/{step}/logs", None),
    ("GET", "/runner/runs/{run}/events", None),
    ("GET", "/runner/results/{run}", None),
    ("GET", "/runner/files/{file}/{filename}", None),
    ("GET", "/runner/api-keys", None),
    ("POST", "/runner/api-keys", {"name": "a key"}),
    ("DELETE", "/runner/api-keys/{key}", None),
    ("GET", "/runner/api-settings", None),
    ("PUT", "/runner/api-settings", {"require_api_key": False}),
]
PROJECT_WIDE = ("/runner/deployments", "/runner/runs", "/runner/api-keys", "/runner/api-settings")
BAD_TOKENS: dict[str, str | None] = {
    "missing": None,
    "empty": "",
    "basic": "Basic YWRtaW46YWRtaW4=",
    "bearer_alone": "Bearer",
    "garbage": "Bearer garbage",
    "look_alike": "Bearer oryx_s_" + "A" * 43,
    "two_tokens": "Bearer abc def",
    "huge": "Bearer " + "x" * 5000,
    "sql": "Bearer ' OR 1=1 --",
}
INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE runs; --",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "${jndi:ldap://x/a}",
    "{{7*7}}",
    "%00",
    "\u202egnp.exe",
    "$(rm -rf /)",
]


@dataclass
class World:
    client: httpx.AsyncClient
    runner: Harness
    people: People
    ids: dict[str, str]

    def path(self, template: str) -> str:
        return template.format(**self.ids)

    async def counts(self) -> tuple[int, ...]:
        counts = []
        async with self.runner.container.sessions()() as session:
            for table in (
                "runs",
                "step_runs",
                "run_events",
                "files",
                "workflow_deployments",
                "api_keys",
                "api_settings",
            ):
                counts.append(int(await session.scalar(text(f"SELECT count(*) FROM {table}")) or 0))
        return tuple(counts)

    async def refused(self, method: str, path: str, status: int, **kwargs: Any) -> httpx.Response:
        before = await self.counts()
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        body = response.json()
        assert isinstance(body.get("detail"), str) and body["detail"]
        assert isinstance(body.get("code"), str) and "Traceback" not in response.text
        assert await self.counts() == before, f"{method} {path} changed data"
        return response


@pytest.fixture(scope="module")
async def world(runner: Harness, people: People, refs) -> World:  # type: ignore[no-untyped-def]
    snapshot = WorkflowSnapshot(
        name="targets",
        steps=(
            trigger(outputs=(io("text"), io("n", "integer"), io("data", "file", optional=True))),
            step("s1", "append", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
        ),
    )
    workflow = await runner.deploy(snapshot)
    headers = people.headers()
    async with httpx.AsyncClient(base_url=runner.url, timeout=30) as client:
        response = await client.post(
            f"/runner/workflows/{workflow}/runs",
            data={"text": "x", "n": "1"},
            files={"data": ("a.txt", b"abc", "text/plain")},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        await poll_result(client, run_id, headers)
        detail = (await client.get(f"/runner/runs/{run_id}", headers=headers)).json()
        key = await client.post("/runner/api-keys", json={"name": "target"}, headers=headers)
        assert key.status_code == 201, key.text
    data = detail["steps"][0]["outputs"][0]["data"]
    return World(
        client=httpx.AsyncClient(base_url=runner.url, timeout=30),
        runner=runner,
        people=people,
        ids={
            "workflow": workflow,
            "run": run_id,
            "step": detail["steps"][1]["id"],
            "file": data["file_id"],
            "filename": data["name"],
            "key": key.json()["id"],
        },
    )


def _kwargs(body: Any, headers: dict[str, str]) -> dict[str, Any]:
    return {"headers": headers, **({"json": body} if body is not None else {})}


@pytest.mark.parametrize("token", BAD_TOKENS)
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_every_route_needs_a_valid_token(
    world: World, method: str, path: str, body: Any, token: str
) -> None:
    header = BAD_TOKENS[token]
    headers = {"X-Oryx-Project": world.people.p1}
    if header is not None:
        headers["Authorization"] = header
    response = await world.refused(method, world.path(path), 401, **_kwargs(body, headers))
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("who", ["expired", "revoked"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_expired_and_revoked_tokens_are_refused(
    world: World, method: str, path: str, body: Any, who: str
) -> None:
    await world.refused(method, world.path(path), 401, **_kwargs(body, world.people.headers(who)))


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_another_projects_ids_are_unknown(
    world: World, method: str, path: str, body: Any
) -> None:
    if path in PROJECT_WIDE:
        if method != "GET":
            return  # acts on the caller's own project: nothing of the other one to see
        response = await world.client.get(
            path, headers=world.people.headers("outsider", world.people.p2)
        )
        assert response.status_code == 200 and world.ids["run"] not in response.text
        assert world.ids["key"] not in response.text
        return
    headers = world.people.headers("outsider", world.people.p2)
    await world.refused(method, world.path(path), 404, **_kwargs(body, headers))


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_a_project_the_caller_is_not_in_is_unknown(
    world: World, method: str, path: str, body: Any
) -> None:
    headers = world.people.headers("outsider", world.people.p1)
    response = await world.refused(method, world.path(path), 404, **_kwargs(body, headers))
    assert response.json()["field"] == "X-Oryx-Project"


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if "{" in r[1]])
@pytest.mark.parametrize("unknown", ["no-such-id", "01a20000-0000-7000-8000-000000000000"])
async def test_unknown_ids_are_404(
    world: World, method: str, path: str, body: Any, unknown: str
) -> None:
    ids = {k: unknown for k in world.ids}
    await world.refused(method, path.format(**ids), 404, **_kwargs(body, world.people.headers()))


async def test_a_role_without_the_permission_is_403(world: World) -> None:
    response = await world.refused(
        "DELETE", world.path("/runner/runs/{run}"), 403, headers=world.people.headers("viewer")
    )
    assert "run:delete" in response.json()["detail"]
    viewer = world.people.headers("viewer")
    for method, path, body in ROUTES:
        if "api-" in path and (method, path) != ("GET", "/runner/api-settings"):
            response = await world.refused(method, world.path(path), 403, **_kwargs(body, viewer))
            assert "api_key:manage" in response.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "field"),
    [
        (b'{"inputs": {"text": "x",', "application/json", None),
        (b"\xff\xfe not utf-8", "application/json", None),
        (b"[1, 2]", "application/json", None),
        (b'{"inputs": []}', "application/json", "inputs"),
        (b'{"inputs": {"text": "x", "n": 1}, "extra": 1}', "application/json", "extra"),
        (b'{"inputs": {"text": 5, "n": 1}}', "application/json", "inputs.text"),
        (b'{"inputs": {"text": "x", "n": "many"}}', "application/json", "inputs.n"),
        (b'{"inputs": {"text": "x", "n": 1.5}}', "application/json", "inputs.n"),
        (b'{"inputs": {"text": "x", "n": true}}', "application/json", "inputs.n"),
        (
            b'{"inputs": {"text": "x", "n": 99999999999999999999999}}',
            "application/json",
            "inputs.n",
        ),
        (b'{"inputs": {"text": "x"}}', "application/json", "inputs.n"),
        (b'{"inputs": {"text": "x", "n": 1, "nope": 1}}', "application/json", "inputs.nope"),
        (
            b'{"inputs": {"text": "x", "n": 1, "data": "/etc/passwd"}}',
            "application/json",
            "inputs.data",
        ),
        (b'{"inputs": {"text": "a\\u0000b", "n": 1}}', "application/json", "inputs.text"),
    ],
)
async def test_malformed_or_mistyped_inputs_are_422(
    world: World, content: bytes, content_type: str, field: str | None
) -> None:
    headers = {**world.people.headers(), "Content-Type": content_type}
    response = await world.refused(
        "POST",
        world.path("/runner/workflows/{workflow}/runs"),
        422,
        content=content,
        headers=headers,
    )
    if field is not None:
        assert response.json()["field"] == field


async def test_an_oversized_value_is_422_and_a_huge_body_413(world: World) -> None:
    headers = world.people.headers()
    path = world.path("/runner/workflows/{workflow}/runs")
    response = await world.refused(
        "POST", path, 422, json={"inputs": {"text": "x" * 1_000_001, "n": 1}}, headers=headers
    )
    assert response.json()["field"] == "inputs.text"
    await world.refused(
        "POST", "/runner/runs/x/cancel", 413, content=b"x" * (2 * 1024 * 1024), headers=headers
    )


async def test_other_content_types_and_bad_multipart(world: World) -> None:
    headers = world.people.headers()
    path = world.path("/runner/workflows/{workflow}/runs")
    await world.refused(
        "POST", path, 415, content=b"text=x", headers={**headers, "Content-Type": "text/plain"}
    )
    await world.refused(
        "POST",
        path,
        422,
        content=b"--x\r\nbroken",
        headers={**headers, "Content-Type": "multipart/form-data; boundary=x"},
    )
    await world.refused(
        "POST",
        path,
        422,
        data={"text": "x", "n": "1"},
        files={"nope": ("a.txt", b"1")},
        headers=headers,
    )
    response = await world.refused(
        "POST", path, 422, data={"text": "x", "n": "one"}, headers=headers
    )
    assert response.json()["field"] == "inputs.n"


@pytest.mark.parametrize("injection", INJECTIONS)
async def test_injection_in_values_is_kept_verbatim(world: World, injection: str) -> None:
    headers = world.people.headers()
    response = await world.client.post(
        world.path("/runner/workflows/{workflow}/runs"),
        json={"inputs": {"text": injection, "n": 1}},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    await poll_result(world.client, response.json()["id"], headers)
    detail = (
        await world.client.get(f"/runner/runs/{response.json()['id']}", headers=headers)
    ).json()
    assert detail["steps"][1]["outputs"] == [{"text": injection + "+"}]


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if "{" in r[1]])
async def test_injection_in_ids_is_404_or_422(
    world: World, method: str, path: str, body: Any, injection: str
) -> None:
    before = await world.counts()
    ids = {k: injection for k in world.ids}
    url = path.format(
        **{k: httpx.URL(f"/{v}").raw_path.decode()[1:].replace("/", "%2F") for k, v in ids.items()}
    )
    response = await world.client.request(method, url, **_kwargs(body, world.people.headers()))
    assert response.status_code in (404, 422), (url, response.status_code, response.text)
    assert await world.counts() == before


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"limit": "ten"},
        {"cursor": "not-a-cursor"},
        {"cursor": "x" * 600},
        {"status": "exploded"},
        {"since": "yesterday"},
        {"until": "2026-13-45"},
        {"since": "2026-01-01T00:00:00"},
        {"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"workflow_id": "x" * 65},
        {"workflow_id": "a\x00b"},
    ],
)
async def test_bad_list_parameters_are_422(world: World, params: dict[str, Any]) -> None:
    await world.refused("GET", "/runner/runs", 422, params=params, headers=world.people.headers())


@pytest.mark.parametrize("injection", INJECTIONS)
async def test_injection_in_filters_finds_nothing_or_is_422(world: World, injection: str) -> None:
    response = await world.client.get(
        "/runner/runs", params={"workflow_id": injection}, headers=world.people.headers()
    )
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert response.json()["total"] == 0


async def test_bad_event_ids_and_log_attempts_are_422(world: World) -> None:
    headers = world.people.headers()
    await world.refused(
        "GET",
        world.path("/runner/runs/{run}/events"),
        422,
        headers={**headers, "Last-Event-ID": "abc"},
    )
    await world.refused(
        "GET", world.path("/runner/runs/{run}/events"), 422, params={"after": -1}, headers=headers
    )
    await world.refused(
        "GET",
        world.path("/runner/runs/{run}/steps/{step}/logs"),
        422,
        params={"attempt": 0},
        headers=headers,
    )


async def test_unknown_routes_and_methods(world: World) -> None:
    headers = world.people.headers()
    await world.refused("GET", "/runner/nothing-here", 404, headers=headers)
    response = await world.refused("PUT", world.path("/runner/runs/{run}"), 405, headers=headers)
    assert "GET" in response.headers["allow"] and "DELETE" in response.headers["allow"]
