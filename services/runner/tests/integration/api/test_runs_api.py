"""The runs API over HTTP, with the real authorization service and real wrappers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx

from oryx_runner.domain.workflows import OutputRef, ResultSpec, WorkflowSnapshot

from ...actions import chain, io, step, trigger
from ..harness import Harness
from .conftest import People, poll_result


async def test_health_and_a_documented_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/runner/healthz")).json() == {"status": "ok", "service": "runner"}
    spec = (await client.get("/runner/openapi.json")).json()
    paths = set(spec["paths"])
    for path in (
        "/runner/deployments",
        "/runner/deployments/{workflow_id}",
        "/runner/workflows/{workflow_id}/runs",
        "/runner/runs",
        "/runner/runs/{run_id}",
        "/runner/runs/{run_id}/cancel",
        "/runner/runs/{run_id}/steps/{step_run_id}/logs",
        "/runner/runs/{run_id}/events",
        "/runner/results/{run_id}",
        "/runner/files/{file_id}/{filename}",
    ):
        assert path in paths, path
    for path, methods in spec["paths"].items():
        assert path.startswith("/runner/")
        for operation in methods.values():
            assert operation.get("description"), path


async def test_a_manual_run_its_result_and_its_details(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    workflow = await runner.deploy(chain(refs))
    headers = people.headers()
    response = await client.post(
        f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "hello"}}, headers=headers
    )
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] in ("running", "succeeded") and run["trigger"] == "manual"
    assert (
        run["workflow_name"] == "chain of 3"
        and run["links"]["result"] == f"/runner/results/{run['id']}"
    )
    result = await poll_result(client, run["id"], headers)
    assert result.status_code == 200, result.text
    assert result.json() == {
        "run_id": run["id"],
        "status": "succeeded",
        "result": {"text": "hello+++"},
    }
    detail = (await client.get(f"/runner/runs/{run['id']}", headers=headers)).json()
    assert [s["step_id"] for s in detail["steps"]] == ["trigger", "s1", "s2", "s3"]
    s2 = detail["steps"][2]
    assert s2["inputs"] == {"text": "hello+"} and s2["outputs"] == [{"text": "hello++"}]
    assert s2["attempts"] == 1 and s2["retries"] == 0 and s2["error"] is None
    assert s2["started_at"] and s2["ended_at"] and s2["submitted_at"]
    assert detail["steps"][0]["is_trigger"] and detail["steps"][0]["outputs"] == [{"text": "hello"}]
    assert detail["duration_seconds"] > 0
    logs = await client.get(s2["links"]["logs"], headers=headers)
    assert logs.status_code == 200 and logs.json()["step_run_id"] == s2["id"]


async def test_a_failed_run_answers_422_with_the_users_message(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    snapshot = WorkflowSnapshot(
        name="fails",
        steps=(
            trigger(),
            step("bad", "fail", refs, after=("trigger",), bind={"text": ("trigger", "text")}),
        ),
    )
    workflow = await runner.deploy(snapshot)
    headers = people.headers()
    run = (
        await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "x"}}, headers=headers
        )
    ).json()
    result = await poll_result(client, run["id"], headers)
    assert result.status_code == 422
    body = result.json()
    assert body["code"] == "run_failed" and body["detail"] == "refused x"
    assert body["error"]["code"] == 418 and body["error"]["step_id"] == "bad"
    detail = (await client.get(f"/runner/runs/{run['id']}", headers=headers)).json()
    assert detail["steps"][1]["error"]["type"] == "RyaxException"
    logs = (await client.get(detail["steps"][1]["links"]["logs"], headers=headers)).json()
    assert [line["text"] for line in logs["lines"] if line["stream"] == "stdout"] == [
        "about to fail"
    ]


async def test_files_by_multipart_and_download_links(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    snapshot = WorkflowSnapshot(
        name="files",
        steps=(
            trigger(outputs=(io("data", "file"), io("note"))),
            step("upper", "upper", refs, after=("trigger",), bind={"data": ("trigger", "data")}),
        ),
        results=(ResultSpec(key="data", source=OutputRef(step_id="upper", output="data")),),
    )
    workflow = await runner.deploy(snapshot)
    headers = people.headers()
    response = await client.post(
        f"/runner/workflows/{workflow}/runs",
        data={"note": "a note"},
        files={"data": ("notes.txt", b"shout this", "text/plain")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    result = (await poll_result(client, response.json()["id"], headers)).json()
    produced = result["result"]["data"]
    assert produced["name"] == "UPPER-notes.txt" and produced["size_bytes"] == 10
    download = await client.get(produced["download_url"], headers=headers)
    assert download.status_code == 200 and download.content == b"SHOUT THIS"
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in download.headers["content-disposition"]
    detail = (await client.get(f"/runner/runs/{result['run_id']}", headers=headers)).json()
    given = detail["steps"][0]["outputs"][0]["data"]
    assert (await client.get(given["download_url"], headers=headers)).content == b"shout this"
    # the link is the project's only, and names the file exactly
    assert (
        await client.get(produced["download_url"], headers=people.headers("outsider", people.p2))
    ).status_code == 404
    wrong = produced["download_url"].rsplit("/", 1)[0] + "/other.txt"
    assert (await client.get(wrong, headers=headers)).status_code == 404
    # deleting the run deletes its files
    assert (
        await client.delete(f"/runner/runs/{result['run_id']}", headers=headers)
    ).status_code == 204
    assert (await client.get(produced["download_url"], headers=headers)).status_code == 404
    assert (
        await client.get(f"/runner/runs/{result['run_id']}", headers=headers)
    ).status_code == 404


async def test_listing_filters_and_pages(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    workflow = await runner.deploy(chain(refs, length=1))
    headers = people.headers()
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = []
    for i in range(5):
        r = await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": str(i)}}, headers=headers
        )
        ids.append(r.json()["id"])
    for run_id in ids:
        await poll_result(client, run_id, headers)
    page = (
        await client.get(
            "/runner/runs", params={"workflow_id": workflow, "limit": 2}, headers=headers
        )
    ).json()
    assert page["total"] == 5 and len(page["items"]) == 2 and page["next_cursor"]
    assert [r["id"] for r in page["items"]] == ids[::-1][:2]  # newest first
    seen = [r["id"] for r in page["items"]]
    while page["next_cursor"]:
        page = (
            await client.get(
                "/runner/runs",
                params={"workflow_id": workflow, "limit": 2, "cursor": page["next_cursor"]},
                headers=headers,
            )
        ).json()
        seen += [r["id"] for r in page["items"]]
    assert seen == ids[::-1]
    succeeded = (
        await client.get(
            "/runner/runs", params={"workflow_id": workflow, "status": "succeeded"}, headers=headers
        )
    ).json()
    assert succeeded["total"] == 5
    failed = (
        await client.get(
            "/runner/runs", params={"workflow_id": workflow, "status": "failed"}, headers=headers
        )
    ).json()
    assert failed["total"] == 0
    window = {
        "workflow_id": workflow,
        "since": before.isoformat(),
        "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    assert (await client.get("/runner/runs", params=window, headers=headers)).json()["total"] == 5
    later = {"workflow_id": workflow, "since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    assert (await client.get("/runner/runs", params=later, headers=headers)).json()["total"] == 0
    # another project sees none of them
    other = (
        await client.get(
            "/runner/runs",
            params={"workflow_id": workflow},
            headers=people.headers("outsider", people.p2),
        )
    ).json()
    assert other["total"] == 0


async def test_cancel_and_delete(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    snapshot = WorkflowSnapshot(
        name="long",
        steps=(
            trigger(),
            step(
                "long",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 1.5},
            ),
        ),
    )
    workflow = await runner.deploy(snapshot)
    headers = people.headers()
    run = (
        await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "x"}}, headers=headers
        )
    ).json()
    running = await client.get(f"/runner/results/{run['id']}", headers=headers)
    assert (
        running.status_code == 202
        and running.json()["result_link"] == f"/runner/results/{run['id']}"
    )
    refused = await client.delete(f"/runner/runs/{run['id']}", headers=headers)
    assert refused.status_code == 409 and refused.json()["field"] == "run_id"
    # a user may cancel but not delete
    canceled = await client.post(
        f"/runner/runs/{run['id']}/cancel", headers=people.headers("viewer")
    )
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert (
        await client.post(f"/runner/runs/{run['id']}/cancel", headers=headers)
    ).status_code == 409
    result = await client.get(f"/runner/results/{run['id']}", headers=headers)
    assert result.status_code == 422 and result.json()["code"] == "run_canceled"
    assert (
        await client.delete(f"/runner/runs/{run['id']}", headers=people.headers("viewer"))
    ).status_code == 403
    assert (await client.delete(f"/runner/runs/{run['id']}", headers=headers)).status_code == 204
    assert (await client.get(f"/runner/results/{run['id']}", headers=headers)).status_code == 404


async def test_live_events_stream_until_the_run_ends(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    workflow = await runner.deploy(chain(refs, length=2))
    headers = people.headers()
    run = (
        await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "x"}}, headers=headers
        )
    ).json()
    events = []
    async with client.stream("GET", f"/runner/runs/{run['id']}/events", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        current: dict[str, str] = {}
        async for line in stream.aiter_lines():
            if line.startswith(("id:", "event:", "data:")):
                key, _, value = line.partition(":")
                current[key] = value.strip()
            elif not line and current:
                events.append(current)
                current = {}
    types = [e["event"] for e in events]
    assert types[0] == "run.created" and types[-1] == "run.succeeded"
    assert types.count("step.succeeded") == 3 and types.count("step.started") == 2
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    assert json.loads(events[-1]["data"])["run_id"] == run["id"]
    # resuming after an id gives only what follows
    async with client.stream(
        "GET",
        f"/runner/runs/{run['id']}/events",
        headers={**headers, "Last-Event-ID": str(ids[-2])},
    ) as stream:
        body = "".join([chunk async for chunk in stream.aiter_text()])
    assert body.count("event:") == 1 and "run.succeeded" in body


async def test_deployments_are_listed_with_their_status(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    workflow = await runner.deploy(chain(refs, length=2))
    headers = people.headers()
    one = (await client.get(f"/runner/deployments/{workflow}", headers=headers)).json()
    assert one["status"] == "deployed" and one["trigger"] == "manual" and one["sequence"] == 2
    assert [s["step_id"] for s in one["steps"]] == ["trigger", "s1", "s2"]
    listed = (
        await client.get("/runner/deployments", params={"limit": 200}, headers=headers)
    ).json()
    assert workflow in {d["workflow_id"] for d in listed["items"]}
    assert (
        await client.get(
            f"/runner/deployments/{workflow}", headers=people.headers("outsider", people.p2)
        )
    ).status_code == 404
    await runner.undeploy(workflow)
    one = (await client.get(f"/runner/deployments/{workflow}", headers=headers)).json()
    assert one["status"] == "undeployed" and one["sequence"] == 4
    refused = await client.post(
        f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "x"}}, headers=headers
    )
    assert refused.status_code == 409


async def test_a_run_in_flight_keeps_its_version_when_a_new_one_is_deployed(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    slow = WorkflowSnapshot(
        name="v1",
        steps=(
            trigger(),
            step(
                "s1",
                "sleep",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "seconds": 0.8},
            ),
            step(
                "s2", "append", refs, after=("s1",), bind={"text": ("s1", "text"), "suffix": "-v1"}
            ),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="s2", output="text")),),
    )
    workflow = await runner.deploy(slow)
    headers = people.headers()
    first = (
        await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "a"}}, headers=headers
        )
    ).json()
    second_version = WorkflowSnapshot(
        name="v2",
        steps=(
            trigger(),
            step(
                "s1",
                "append",
                refs,
                after=("trigger",),
                bind={"text": ("trigger", "text"), "suffix": "-v2"},
            ),
        ),
        results=(ResultSpec(key="text", source=OutputRef(step_id="s1", output="text")),),
    )
    await asyncio.sleep(0.2)
    await runner.deploy(second_version, workflow_id=workflow, revision=2)
    second = (
        await client.post(
            f"/runner/workflows/{workflow}/runs", json={"inputs": {"text": "b"}}, headers=headers
        )
    ).json()
    assert (await poll_result(client, first["id"], headers)).json()["result"] == {"text": "a-v1"}
    assert (await poll_result(client, second["id"], headers)).json()["result"] == {"text": "b-v2"}
    assert first["deployment_id"] != second["deployment_id"]


async def test_a_directory_travels_as_an_archive(
    client: httpx.AsyncClient, runner: Harness, people: People, refs
) -> None:
    import io as stdio
    import tarfile

    snapshot = WorkflowSnapshot(
        name="folders",
        steps=(
            trigger(outputs=(io("folder", "directory"),)),
            step("ls", "listdir", refs, after=("trigger",), bind={"folder": ("trigger", "folder")}),
        ),
        results=(
            ResultSpec(key="names", source=OutputRef(step_id="ls", output="names")),
            ResultSpec(key="copy", source=OutputRef(step_id="ls", output="copy")),
        ),
    )
    workflow = await runner.deploy(snapshot)
    buffer = stdio.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("b.txt", "a.txt"):
            data = name.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, stdio.BytesIO(data))
    headers = people.headers()
    response = await client.post(
        f"/runner/workflows/{workflow}/runs",
        files={"folder": ("photos.tar.gz", buffer.getvalue(), "application/gzip")},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    result = (await poll_result(client, response.json()["id"], headers)).json()
    assert result["status"] == "succeeded", result
    assert result["result"]["names"] == "a.txt,b.txt"
    copy = result["result"]["copy"]
    assert copy["directory"] is True and copy["name"] == "copy.tar.gz"
    download = await client.get(copy["download_url"], headers=headers)
    with tarfile.open(fileobj=stdio.BytesIO(download.content), mode="r:gz") as archive:
        assert sorted(m.name.lstrip("./") for m in archive.getmembers() if m.isfile()) == [
            "a.txt",
            "added.txt",
            "b.txt",
        ]
