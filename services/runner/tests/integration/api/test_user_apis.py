"""The HTTP API trigger over HTTP: synchronous answers, 202 then the result, a RyaxException
as the HTTP status, typed inputs from path, query, header and body, files, API keys on and
off, and the per-project OpenAPI document that appears and disappears with the deployments."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx

from oryx_runner.domain.workflows import (
    BuiltinTrigger,
    Endpoint,
    IoSpec,
    OutputRef,
    ResultSpec,
    StepKind,
    StepSpec,
    WorkflowSnapshot,
)

from ...actions import io, step
from ..harness import Harness
from .conftest import People


def http_trigger(*outputs: IoSpec) -> StepSpec:
    return StepSpec(
        step_id="trigger",
        name="HTTP",
        action_id="builtin-http-api",
        action_name="http-api",
        action_version="1.0",
        kind=StepKind.SOURCE,
        builtin_trigger=BuiltinTrigger.HTTP_API.value,
        outputs=outputs,
    )


def api(
    path: str,
    action: str,
    refs: dict[str, str],
    *,
    outputs: tuple[IoSpec, ...],
    bind: dict[str, Any],
    results: dict[str, str],
    method: str = "GET",
    timeout: float = 20.0,
    success_code: int = 200,
) -> WorkflowSnapshot:
    return WorkflowSnapshot(
        name=f"api {path}",
        steps=(http_trigger(*outputs), step("s1", action, refs, after=("trigger",), bind=bind)),
        results=tuple(
            ResultSpec(key=k, source=OutputRef(step_id="s1", output=v)) for k, v in results.items()
        ),
        endpoint=Endpoint(
            path=path, method=method, success_code=success_code, timeout_seconds=timeout
        ),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


async def test_a_get_endpoint_answers_synchronously_with_its_results(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    base = unique("greet")
    await runner.deploy(
        api(
            f"{base}/{{name}}",
            "append",
            refs,
            outputs=(
                io("name", origin="path"),
                io("suffix", origin="query", has_default=True, default="!"),
            ),
            bind={"text": ("trigger", "name"), "suffix": ("trigger", "suffix")},
            results={"greeting": "text"},
        )
    )
    response = await client.get(f"/runner/api/{people.p1}/{base}/world?suffix=%3F&other=1")
    assert response.status_code == 200, response.text
    assert response.json() == {"greeting": "world?"}
    run_id = response.headers["X-Oryx-Run-Id"]
    default = await client.get(f"/runner/api/{people.p1}/{base}/you")
    assert default.status_code == 200 and default.json() == {"greeting": "you!"}
    # the run is an ordinary run: visible with its steps, started by the http-api trigger
    detail = (await client.get(f"/runner/runs/{run_id}", headers=people.headers())).json()
    assert detail["trigger"] == "http-api" and detail["status"] == "succeeded"
    assert detail["steps"][0]["outputs"] == [{"name": "world", "suffix": "?"}]
    # the result link works without credentials for an open project
    result = await client.get(f"/runner/results/{run_id}")
    assert result.status_code == 200 and result.json()["result"] == {"greeting": "world?"}


async def test_body_and_header_inputs_are_typed_and_refused_with_their_field(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("echo")
    await runner.deploy(
        api(
            path,
            "sleep",
            refs,
            method="POST",
            success_code=201,
            outputs=(
                io("text", origin="body"),
                io("seconds", "float", origin="body"),
                io("x_trace", origin="header", optional=True),
            ),
            bind={"text": ("trigger", "text"), "seconds": ("trigger", "seconds")},
            results={"text": "text"},
        )
    )
    url = f"/runner/api/{people.p1}/{path}"
    ok = await client.post(url, json={"text": "hi", "seconds": 0}, headers={"X-Trace": "t-1"})
    assert ok.status_code == 201 and ok.json() == {"text": "hi"}
    run = (
        await client.get(f"/runner/runs/{ok.headers['X-Oryx-Run-Id']}", headers=people.headers())
    ).json()
    assert run["steps"][0]["outputs"] == [{"text": "hi", "seconds": 0.0, "x_trace": "t-1"}]
    cases: list[tuple[dict[str, Any], int, str | None]] = [
        ({"json": {"text": "hi", "seconds": "soon"}}, 422, "body.seconds"),
        ({"json": {"text": "hi"}}, 422, "body.seconds"),
        ({"json": {"text": "hi", "seconds": 1, "extra": 1}}, 422, "body.extra"),
        ({"json": ["hi"]}, 422, "body"),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, None),
        ({"content": b"text", "headers": {"Content-Type": "text/plain"}}, 415, None),
        ({"json": {"text": 5, "seconds": 1}}, 422, "body.text"),
        ({"json": {"text": "a\u0000b", "seconds": 1}}, 422, "body.text"),
    ]
    for kwargs, status, field in cases:
        response = await client.post(url, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        body = response.json()
        assert body["detail"] and body.get("field") == field, (kwargs, body)
    # the form of the same fields works too
    form = await client.post(url, data={"text": "formed", "seconds": "0"})
    assert form.status_code == 201 and form.json() == {"text": "formed"}


async def test_a_slow_run_answers_202_then_its_result_link(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("slow")
    await runner.deploy(
        api(
            path,
            "sleep",
            refs,
            method="POST",
            timeout=0.2,
            outputs=(io("text", origin="body"), io("seconds", "float", origin="body")),
            bind={"text": ("trigger", "text"), "seconds": ("trigger", "seconds")},
            results={"text": "text"},
        )
    )
    response = await client.post(
        f"/runner/api/{people.p1}/{path}", json={"text": "later", "seconds": 1.0}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["result_link"] == f"/runner/results/{body['workflow_run_id']}"
    assert response.headers["Location"] == body["result_link"]
    for _ in range(200):
        result = await client.get(body["result_link"])
        if result.status_code != 202:
            break
        await asyncio.sleep(0.05)
    assert result.status_code == 200, result.text
    assert result.json()["result"] == {"text": "later"}


async def test_a_timeout_of_zero_always_answers_202(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("async")
    await runner.deploy(
        api(
            path,
            "append",
            refs,
            timeout=0,
            outputs=(io("text", origin="query"),),
            bind={"text": ("trigger", "text")},
            results={"text": "text"},
        )
    )
    response = await client.get(f"/runner/api/{people.p1}/{path}?text=a")
    assert response.status_code == 202
    assert (await client.get(f"/runner/api/{people.p1}/{path}")).status_code == 422


async def test_a_ryax_exception_becomes_the_http_status(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("refuse")
    await runner.deploy(
        api(
            path,
            "fail",
            refs,
            outputs=(io("text", origin="query"),),
            bind={"text": ("trigger", "text")},
            results={"text": "text"},
        )
    )
    response = await client.get(f"/runner/api/{people.p1}/{path}", params={"text": "tea"})
    assert response.status_code == 418, response.text
    body = response.json()
    assert body["detail"] == "refused tea" and body["workflow_run_id"]
    result = await client.get(f"/runner/results/{body['workflow_run_id']}")
    assert result.status_code == 422


async def test_files_go_in_as_multipart_and_come_out_as_links(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("upper")
    await runner.deploy(
        api(
            path,
            "upper",
            refs,
            method="POST",
            outputs=(io("data", "file", origin="body"),),
            bind={"data": ("trigger", "data")},
            results={"data": "data", "size": "size"},
        )
    )
    url = f"/runner/api/{people.p1}/{path}"
    response = await client.post(url, files={"data": ("in.txt", b"hello file")})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["size"] == 10 and result["data"]["name"] == "UPPER-in.txt"
    link = result["data"]["download_url"]
    assert link.startswith("/runner/files/")
    download = await client.get(link, headers=people.headers())
    assert download.status_code == 200 and download.content == b"HELLO FILE"
    # the caller of the API downloads it with the same credentials as the call: none here
    anonymous = await client.get(link)
    assert anonymous.status_code == 200 and anonymous.content == b"HELLO FILE"
    refused = await client.post(url, json={"data": "not a file"})
    assert refused.status_code == 422 and refused.json()["field"] == "body.data"


async def test_unknown_paths_and_methods(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    path = unique("only-get")
    await runner.deploy(
        api(
            path,
            "append",
            refs,
            outputs=(io("text", origin="query", has_default=True, default="x"),),
            bind={"text": ("trigger", "text")},
            results={"text": "text"},
        )
    )
    base = f"/runner/api/{people.p1}"
    assert (await client.get(f"{base}/{path}/more")).status_code == 404
    assert (await client.get(f"{base}/nothing-here")).status_code == 404
    assert (await client.get(f"/runner/api/{secrets.token_hex(8)}/{path}")).status_code == 404
    wrong = await client.delete(f"{base}/{path}")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"
    assert (await client.get(f"{base}/{path}?text=%00")).status_code == 422


async def test_api_keys_on_and_off(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    project = people.p2
    headers = people.headers("outsider", project)
    path = unique("locked")
    workflow = await runner.deploy(
        api(
            path,
            "append",
            refs,
            outputs=(io("text", origin="query"),),
            bind={"text": ("trigger", "text")},
            results={"text": "text"},
        ),
        project_id=project,
    )
    url = f"/runner/api/{project}/{path}?text=k"
    assert (await client.get(url)).status_code == 200  # open by default
    settings = await client.get("/runner/api-settings", headers=headers)
    assert settings.status_code == 200 and settings.json()["require_api_key"] is False
    created = await client.post("/runner/api-keys", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith(key["prefix"]) and key["name"] == "ci"
    listed = (await client.get("/runner/api-keys", headers=headers)).json()
    assert [k["id"] for k in listed["items"]] == [key["id"]] and "key" not in listed["items"][0]
    # a developer of another project sees none of them
    other = (await client.get("/runner/api-keys", headers=people.headers())).json()
    assert key["id"] not in [k["id"] for k in other["items"]]
    # a user without api_key:manage may not create keys
    viewer = await client.post(
        "/runner/api-keys", json={"name": "x"}, headers=people.headers("viewer")
    )
    assert viewer.status_code == 403

    turned = await client.put(
        "/runner/api-settings", json={"require_api_key": True}, headers=headers
    )
    assert turned.status_code == 200 and turned.json()["require_api_key"] is True
    missing = await client.get(url)
    assert missing.status_code == 401 and "X-API-Key" in missing.json()["detail"]
    assert (await client.get(url, headers={"X-API-Key": "oryx_ak_wrong"})).status_code == 401
    with_key = await client.get(url, headers={"X-API-Key": key["key"]})
    assert with_key.status_code == 200 and with_key.json() == {"text": "k+"}
    run_id = with_key.headers["X-Oryx-Run-Id"]
    assert (await client.get(f"/runner/results/{run_id}")).status_code == 401
    assert (
        await client.get(f"/runner/results/{run_id}", headers={"X-API-Key": key["key"]})
    ).status_code == 200
    spec = await client.get(f"/runner/api/{project}/openapi.json")
    assert spec.status_code == 401
    spec = await client.get(
        f"/runner/api/{project}/openapi.json", headers={"X-API-Key": key["key"]}
    )
    assert spec.status_code == 200 and spec.json()["security"] == [{"apiKey": []}]
    # a key of another project does not open this one
    other_key = (
        await client.post("/runner/api-keys", json={"name": "p1"}, headers=people.headers())
    ).json()
    assert (await client.get(url, headers={"X-API-Key": other_key["key"]})).status_code == 401
    used = (await client.get("/runner/api-keys", headers=headers)).json()["items"][0]
    assert used["last_used_at"] is not None

    deleted = await client.delete(f"/runner/api-keys/{key['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await client.get(url, headers={"X-API-Key": key["key"]})).status_code == 401
    assert (
        await client.delete(f"/runner/api-keys/{key['id']}", headers=headers)
    ).status_code == 404
    await client.put("/runner/api-settings", json={"require_api_key": False}, headers=headers)
    assert (await client.get(url)).status_code == 200
    await runner.undeploy_in(workflow, project)


async def test_the_projects_openapi_document_appears_and_disappears(
    client: httpx.AsyncClient, runner: Harness, people: People, refs: dict[str, str]
) -> None:
    project = people.p2
    path = unique("doc")
    workflow = await runner.deploy(
        api(
            f"{path}/{{item}}",
            "append",
            refs,
            method="PUT",
            outputs=(
                io("item", origin="path"),
                io("suffix", origin="query", optional=True),
                io("note", origin="body", has_default=True, default="n"),
            ),
            bind={"text": ("trigger", "item")},
            results={"text": "text"},
        ),
        project_id=project,
    )
    spec = await client.get(f"/runner/api/{project}/openapi.json")
    assert spec.status_code == 200, spec.text
    operation = spec.json()["paths"][f"/runner/api/{project}/{path}/{{item}}"]["put"]
    assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
        ("item", "path", True),
        ("suffix", "query", False),
    ]
    assert "application/json" in operation["requestBody"]["content"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"text": {"type": "string"}},
    }
    docs = await client.get(f"/runner/api/{project}/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text
    await runner.undeploy_in(workflow, project)
    for _ in range(100):
        gone = await client.get(f"/runner/api/{project}/openapi.json")
        if gone.status_code == 404:
            break
        await asyncio.sleep(0.05)
    assert gone.status_code == 404
    assert (await client.get(f"/runner/api/{project}/docs")).status_code == 404
    assert (await client.put(f"/runner/api/{project}/{path}/a")).status_code == 404


async def test_api_key_routes_refuse_bad_input(client: httpx.AsyncClient, people: People) -> None:
    headers = people.headers()
    for body in ({}, {"name": ""}, {"name": "x" * 300}, {"name": 5}, {"name": "a", "x": 1}):
        response = await client.post("/runner/api-keys", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"]
    for body in ({}, {"require_api_key": "maybe"}, {"require_api_key": True, "x": 1}):
        response = await client.put("/runner/api-settings", json=body, headers=headers)
        assert response.status_code == 422, (body, response.text)
    bad = await client.post(
        "/runner/api-keys", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    assert bad.status_code == 422
    for route in ("/runner/api-keys", "/runner/api-settings"):
        assert (await client.get(route)).status_code == 401
    assert (await client.delete(f"/runner/api-keys/{'x' * 65}", headers=headers)).status_code == 422
    assert (await client.delete("/runner/api-keys/unknown", headers=headers)).status_code == 404
    control = await client.post("/runner/api-keys", json={"name": "a\u0001b"}, headers=headers)
    assert control.status_code == 422 and control.json()["field"] == "name"
