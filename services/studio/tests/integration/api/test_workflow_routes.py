"""Workflows over HTTP: create, copy, list, rename, replace by a document, delete; steps, links,
inputs (values, references, variables, files), results, endpoint, deploy and undeploy, and the
runner's reports."""

import uuid
from typing import Any

from oryx_studio.infrastructure.messaging.generated.runner.v1 import events_pb2 as runner_pb2

from .conftest import MAX_FILE_BYTES, check_error, io


async def compose(api) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """emit-every -> upper -> sink, valid."""
    upper = await api.publish(
        "upper",
        inputs=[io("text"), io("secret", "password", optional=True)],
        outputs=[io("text"), io("n", "integer")],
    )
    sink = await api.publish(
        "sink",
        kind="publisher",
        inputs=[
            io("text", optional=True),
            io("doc", "file", optional=True),
            io("dir", "directory", optional=True),
        ],
    )
    w = await api.ok("POST", "/studio/workflows", 201, json={"name": "Demo", "description": "d"})
    base = f"/studio/workflows/{w['id']}"
    t = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": "builtin-emit-every"}))[
        "step_id"
    ]
    u = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": upper, "after_step_id": t}))[
        "step_id"
    ]
    s = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": sink, "after_step_id": u}))[
        "step_id"
    ]
    await api.ok("PUT", f"{base}/steps/{t}/inputs/seconds", json={"value": 60})
    await api.ok(
        "PUT", f"{base}/steps/{u}/inputs/text", json={"from": {"step_id": t, "output": "fired_at"}}
    )
    return {"id": w["id"], "base": base, "t": t, "u": u, "s": s, "upper": upper, "sink": sink}


async def test_create_get_rename_list_and_copy(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    got = await api.ok("GET", w["base"])
    assert [s["id"] for s in got["steps"]] == [w["t"], w["u"], w["s"]]
    assert got["valid"] is True and got["deployment"]["status"] == "undeployed"
    upper = got["steps"][1]
    assert upper["parent_step_ids"] == [w["t"]] and upper["in_library"] is True
    text = next(i for i in upper["inputs"] if i["name"] == "text")
    assert text["source"] == "step_output" and text["from"] == {
        "step_id": w["t"],
        "output": "fired_at",
    }
    revision = got["revision"]
    renamed = await api.ok("PUT", w["base"], json={"name": "Renamed", "description": "new"})
    assert (renamed["name"], renamed["description"], renamed["revision"]) == (
        "Renamed",
        "new",
        revision + 1,
    )

    copy = await api.ok(
        "POST", "/studio/workflows", 201, json={"name": "Copy", "from_workflow_id": w["id"]}
    )
    assert copy["id"] != w["id"] and copy["revision"] == 1
    assert [s["id"] for s in copy["steps"]] == [w["t"], w["u"], w["s"]]
    listed = await api.ok("GET", "/studio/workflows", params={"search": "cop"})
    assert [x["name"] for x in listed["items"]] == ["Copy"]
    assert listed["items"][0]["trigger"] == "emit-every" and listed["items"][0]["step_count"] == 3
    everything = await api.ok("GET", "/studio/workflows", params={"limit": 1})
    assert everything["total"] == 2 and everything["next_cursor"]
    assert (await api.ok("GET", "/studio/workflows", params={"status": "deployed"}))["total"] == 0
    check_error(
        await api.client.post(
            "/studio/workflows",
            headers=api.dev,
            json={"name": "x", "from_workflow_id": "nope"},
        ),
        404,
        field="from_workflow_id",
    )
    viewer = await api.client.post(
        "/studio/workflows", headers=api.headers("viewer"), json={"name": "v"}
    )
    check_error(viewer, 403)
    assert (await api.ok("GET", "/studio/workflows", headers=api.headers("viewer")))["total"] == 2


async def test_steps_replace_version_and_remove(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    await api.publish(
        "upper", version="2.0", inputs=[io("text", "integer")], outputs=[io("n", "integer")]
    )
    await api.ok(
        "PUT",
        f"{w['base']}/steps/{w['s']}/inputs/text",
        json={"from": {"step_id": w["u"], "output": "text"}},
    )
    changed = await api.ok(
        "PUT",
        f"{w['base']}/steps/{w['u']}",
        json={"action_version": "2.0", "name": "Upper v2", "position": {"x": 10, "y": 20.5}},
    )
    step = next(s for s in changed["steps"] if s["id"] == w["u"])
    assert (step["action_version"], step["name"], step["position"]) == (
        "2.0",
        "Upper v2",
        {"x": 10.0, "y": 20.5},
    )
    assert sorted((i["step_id"], i["input"]) for i in changed["removed"]["inputs"]) == sorted(
        [(w["u"], "text"), (w["s"], "text")]
    )
    unknown = await api.client.put(
        f"{w['base']}/steps/{w['u']}", headers=api.dev, json={"action_version": "7.0"}
    )
    check_error(unknown, 404, field="action_version")
    second_trigger = await api.client.post(
        f"{w['base']}/steps", headers=api.dev, json={"action_id": "builtin-cron"}
    )
    check_error(second_trigger, 409, code="multiple_triggers")
    removed = await api.ok("DELETE", f"{w['base']}/steps/{w['u']}")
    assert {(k["from_step_id"], k["to_step_id"]) for k in removed["removed"]["links"]} == {
        (w["t"], w["u"]),
        (w["u"], w["s"]),
    }
    assert [e["code"] for e in removed["errors"]] == ["unreachable_step"]
    check_error(await api.client.delete(f"{w['base']}/steps/{w['u']}", headers=api.dev), 404)


async def test_links_cycles_and_self_links(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    t, u, s = w["t"], w["u"], w["s"]

    async def links(pairs, status, code=None, field=None):  # type: ignore[no-untyped-def]
        body = [{"from_step_id": a, "to_step_id": b} for a, b in pairs]
        response = await api.client.put(f"{w['base']}/links", headers=api.dev, json=body)
        if status == 200:
            assert response.status_code == 200, response.text
            return response.json()
        return check_error(response, status, code=code, field=field)

    await links([(u, u)], 422, "self_link", "links[0]")
    await links([(t, u), (u, s), (s, u)], 422, "cycle", "links")
    await links([(t, u), (t, u)], 422, "duplicate_link", "links[1]")
    await links([(u, t)], 422, "trigger_has_parent", "links[0].to_step_id")
    await links([(t, "elsewhere")], 404, "not_found", "links[0].to_step_id")
    fan = await links([(t, u), (t, s)], 200)
    assert fan["valid"] is True
    none = await links([], 200)
    assert none["links"] == [] and {e["code"] for e in none["errors"]} == {
        "unreachable_step",
        "not_upstream",
    }


async def test_inputs_values_variables_unset_and_files(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    base, u, s = w["base"], w["u"], w["s"]
    secret = await api.ok(
        "POST", "/studio/variables", 201, json={"name": "pw", "type": "password", "value": "x"}
    )
    with_secret = await api.ok(
        "PUT", f"{base}/steps/{u}/inputs/secret", json={"variable_id": secret["id"]}
    )
    shown = next(
        i
        for s_ in with_secret["steps"]
        if s_["id"] == u
        for i in s_["inputs"]
        if i["name"] == "secret"
    )
    assert (shown["source"], shown["variable_id"], shown["variable_name"]) == (
        "variable",
        secret["id"],
        "pw",
    )
    static = await api.ok("PUT", f"{base}/steps/{u}/inputs/secret", json={"value": "hunter2"})
    assert "hunter2" not in str(static)  # a static password is never shown either
    await api.ok("DELETE", f"{base}/steps/{u}/inputs/secret")
    for body, code in (
        ({}, None),
        ({"value": "a", "variable_id": secret["id"]}, None),
        ({"value": 3}, "type_mismatch"),
        ({"from": {"step_id": s, "output": "text"}}, "not_upstream"),
        ({"from": {"step_id": w["t"], "output": "nothing"}}, "unknown_output"),
    ):
        response = await api.client.put(f"{base}/steps/{u}/inputs/text", headers=api.dev, json=body)
        check_error(response, 422, code=code)
    check_error(
        await api.client.put(f"{base}/steps/{u}/inputs/nope", headers=api.dev, json={"value": "x"}),
        404,
        field="name",
    )

    upload = await api.client.post(
        f"{base}/steps/{s}/inputs/doc/file",
        headers=api.dev,
        files={"file": ("../report.txt", b"hello", "text/plain")},
    )
    assert upload.status_code == 200, upload.text
    doc = next(
        i
        for s_ in upload.json()["steps"]
        if s_["id"] == s
        for i in s_["inputs"]
        if i["name"] == "doc"
    )
    assert doc["source"] == "file" and doc["file"] == {
        "name": "report.txt",
        "size_bytes": 5,
        "directory": False,
    }
    stored = list((api.files / "objects" / "projects" / api.p1).rglob("report.txt"))
    assert len(stored) == 1 and stored[0].read_bytes() == b"hello"
    not_archive = await api.client.post(
        f"{base}/steps/{s}/inputs/dir/file", headers=api.dev, files={"file": ("d.txt", b"plain")}
    )
    check_error(not_archive, 422, field="file")
    archive = await api.client.post(
        f"{base}/steps/{s}/inputs/dir/file",
        headers=api.dev,
        files={"file": ("d.zip", b"PK\x05\x06" + b"\x00" * 18)},
    )
    assert archive.status_code == 200, archive.text
    too_big = await api.client.post(
        f"{base}/steps/{s}/inputs/doc/file",
        headers=api.dev,
        files={"file": ("big.bin", b"x" * (MAX_FILE_BYTES + 1))},
    )
    check_error(too_big, 422, field="file")
    way_too_big = await api.client.post(
        f"{base}/steps/{s}/inputs/doc/file",
        headers=api.dev,
        files={"file": ("big.bin", b"x" * (1024 * 1024 + MAX_FILE_BYTES))},
    )
    check_error(way_too_big, 413, code="payload_too_large")
    not_a_file_input = await api.client.post(
        f"{base}/steps/{u}/inputs/text/file", headers=api.dev, files={"file": ("a", b"a")}
    )
    check_error(not_a_file_input, 422, code="type_mismatch")


async def test_results_endpoint_and_unique_paths(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    results = await api.ok(
        "PUT",
        f"{w['base']}/results",
        json=[{"key": "n", "from": {"step_id": w["u"], "output": "n"}}],
    )
    assert results["results"] == [{"key": "n", "from": {"step_id": w["u"], "output": "n"}}]
    dup = [{"key": "k", "from": {"step_id": w["u"], "output": "n"}}] * 2
    check_error(
        await api.client.put(f"{w['base']}/results", headers=api.dev, json=dup),
        422,
        code="duplicate_result_key",
    )
    no_http = await api.client.put(
        f"{w['base']}/endpoint", headers=api.dev, json={"path": "x", "method": "GET"}
    )
    check_error(no_http, 409, code="no_http_trigger")

    async def http_workflow(name: str) -> str:
        made = await api.ok("POST", "/studio/workflows", 201, json={"name": name})
        base = f"/studio/workflows/{made['id']}"
        t = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": "builtin-http-api"}))[
            "step_id"
        ]
        await api.ok(
            "PUT",
            f"{base}/steps/{t}",
            json={"dynamic_outputs": [{"name": "order_id", "type": "integer", "origin": "path"}]},
        )
        return base

    first = await http_workflow("Orders")
    missing = await api.ok("GET", f"{first}/errors")
    assert [e["code"] for e in missing["errors"]] == ["endpoint_missing"]
    endpoint = {
        "path": "/orders/{order_id}",
        "method": "post",
        "success_code": 201,
        "timeout_seconds": 5,
    }
    done = await api.ok("PUT", f"{first}/endpoint", json=endpoint)
    assert done["endpoint"] == {
        "path": "orders/{order_id}",
        "method": "POST",
        "success_code": 201,
        "timeout_seconds": 5.0,
    }
    assert done["valid"] is True
    second = await http_workflow("Orders again")
    taken = await api.client.put(
        f"{second}/endpoint", headers=api.dev, json={**endpoint, "path": "orders/{order_id}"}
    )
    check_error(taken, 409, code="endpoint_taken", field="path")
    for bad, field in (
        ({"path": "a b"}, "path"),
        ({"success_code": 204}, "success_code"),
        ({"method": "TRACE"}, "method"),
        ({"timeout_seconds": 1000}, "timeout_seconds"),
    ):
        response = await api.client.put(
            f"{second}/endpoint", headers=api.dev, json={**endpoint, **bad}
        )
        check_error(response, 422, field=field)


async def test_deploy_status_reports_and_undeploy(api) -> None:  # type: ignore[no-untyped-def]
    w = await compose(api)
    viewer = await api.client.post(f"{w['base']}/deploy", headers=api.headers("viewer"))
    check_error(viewer, 403)
    deployed = await api.ok("POST", f"{w['base']}/deploy", 202)
    d = deployed["deployment"]
    assert d["status"] == "deploying" and d["requested_revision"] == deployed["revision"]
    check_error(await api.client.delete(w["base"], headers=api.dev), 409, code="workflow_deployed")

    async def report(status: int, sequence: int, message: str = "") -> dict[str, Any]:
        event = runner_pb2.DeploymentStatusChanged(
            workflow_id=w["id"],
            project_id=api.p1,
            deployment_id=d["deployment_id"],
            revision=deployed["revision"],
            status=status,
            message=message,
            sequence=sequence,
        )
        broker = api.container.broker()
        await broker.publish(
            exchange="oryx.runner",
            routing_key="runner.deployment.status_changed.v1",
            message_id=str(uuid.uuid4()),
            message_type="oryx.runner.v1.DeploymentStatusChanged",
            body=event.SerializeToString(),
        )
        await broker.join()
        return await api.ok("GET", w["base"])

    S = runner_pb2.DeploymentStatusChanged
    now = await report(S.DEPLOYED, 1)
    assert now["deployment"]["status"] == "deployed"
    assert now["deployment"]["deployed_revision"] == deployed["revision"]
    assert (await api.ok("GET", "/studio/workflows", params={"status": "deployed"}))["total"] == 1
    edited = await api.ok("PUT", w["base"], json={"description": "changed while deployed"})
    assert edited["deployment"]["differs_from_deployed"] is True
    failed = await report(S.ERROR, 2, "the site is unreachable")
    assert failed["deployment"]["status"] == "error"
    assert failed["deployment"]["message"] == "the site is unreachable"
    back = await report(S.DEPLOYED, 3)
    assert back["deployment"]["status"] == "deployed"
    undeploying = await api.ok("POST", f"{w['base']}/undeploy", 202, json={"cancel_running": True})
    assert undeploying["deployment"]["status"] == "undeploying"
    gone = await report(S.UNDEPLOYED, 4)
    assert gone["deployment"]["status"] == "undeployed"
    again = await api.client.post(f"{w['base']}/undeploy", headers=api.dev)
    check_error(again, 409, code="not_deployed")
    await api.ok("DELETE", w["base"], 204)
    check_error(await api.client.get(w["base"], headers=api.dev), 404, field="workflow_id")
