"""The action library over HTTP: list, filter, search, get, versions, logo, delete; health and
the OpenAPI document."""

from .conftest import check_error, io

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


async def test_health_and_openapi(api) -> None:  # type: ignore[no-untyped-def]
    assert (await api.client.get("/studio/healthz")).json() == {"status": "ok", "service": "studio"}
    spec = (await api.client.get("/studio/openapi.json")).json()
    paths = spec["paths"]
    for path, methods in paths.items():
        assert path.startswith("/studio/")
        for operation in methods.values():
            assert operation.get("description"), path
    expected = {
        ("get", "/studio/actions"),
        ("get", "/studio/actions/{action_id}"),
        ("delete", "/studio/actions/{action_id}"),
        ("get", "/studio/actions/{action_id}/versions"),
        ("get", "/studio/actions/{action_id}/logo"),
        ("get", "/studio/workflows"),
        ("post", "/studio/workflows"),
        ("get", "/studio/workflows/{workflow_id}"),
        ("put", "/studio/workflows/{workflow_id}"),
        ("delete", "/studio/workflows/{workflow_id}"),
        ("post", "/studio/workflows/{workflow_id}/steps"),
        ("put", "/studio/workflows/{workflow_id}/steps/{step_id}"),
        ("delete", "/studio/workflows/{workflow_id}/steps/{step_id}"),
        ("put", "/studio/workflows/{workflow_id}/links"),
        ("put", "/studio/workflows/{workflow_id}/steps/{step_id}/inputs/{name}"),
        ("post", "/studio/workflows/{workflow_id}/steps/{step_id}/inputs/{name}/file"),
        ("get", "/studio/workflows/{workflow_id}/errors"),
        ("put", "/studio/workflows/{workflow_id}/results"),
        ("put", "/studio/workflows/{workflow_id}/endpoint"),
        ("post", "/studio/workflows/{workflow_id}/deploy"),
        ("post", "/studio/workflows/{workflow_id}/undeploy"),
        ("get", "/studio/workflows/{workflow_id}/export"),
        ("post", "/studio/workflows/import"),
        ("get", "/studio/variables"),
        ("post", "/studio/variables"),
        ("get", "/studio/variables/{variable_id}"),
        ("put", "/studio/variables/{variable_id}"),
        ("delete", "/studio/variables/{variable_id}"),
    }
    served = {(m, p) for p, methods in paths.items() for m in methods}
    assert expected <= served, expected - served


async def test_list_filter_search_get_and_versions(api) -> None:  # type: ignore[no-untyped-def]
    echo = await api.publish("echo", inputs=[io("text", default="hi")], outputs=[io("text")])
    await api.publish("echo", version="1.10", inputs=[io("text")], categories=["examples", "new"])
    await api.publish("echo", version="1.9")
    await api.publish("tick", kind="source", outputs=[io("at")], categories=["time"])
    await api.publish("hidden", project=api.p2)

    everything = await api.ok("GET", "/studio/actions")
    names = [a["name"] for a in everything["items"]]
    assert sorted(names) == sorted(
        ["echo", "tick", "http-api", "cron", "emit-every", "one-run", "manual"]
    )
    assert everything["total"] == 7
    builtin = next(a for a in everything["items"] if a["name"] == "cron")
    assert builtin["id"] == "builtin-cron" and builtin["builtin"] is True
    assert builtin["categories"] == ["Triggers"] and builtin["latest"]["type"] == "builtin"

    sources = await api.ok("GET", "/studio/actions", params={"kind": "source"})
    assert {a["name"] for a in sources["items"]} == {
        "tick",
        "http-api",
        "cron",
        "emit-every",
        "one-run",
        "manual",
    }
    assert [
        a["name"]
        for a in (await api.ok("GET", "/studio/actions", params={"category": "time"}))["items"]
    ] == ["tick"]
    assert (await api.ok("GET", "/studio/actions", params={"search": "ECH"}))["total"] == 1
    assert (await api.ok("GET", "/studio/actions", params={"search": "100%"}))["total"] == 0
    page = await api.ok("GET", "/studio/actions", params={"limit": 3})
    rest = await api.ok(
        "GET", "/studio/actions", params={"limit": 3, "cursor": page["next_cursor"]}
    )
    assert len(page["items"]) == 3 and len(rest["items"]) == 3 and page["next_cursor"]

    got = await api.ok("GET", f"/studio/actions/{echo}")
    assert got["latest"]["version"] == "1.10" and got["version_count"] == 3
    assert got["categories"] == ["examples", "new"]
    versions = await api.ok("GET", f"/studio/actions/{echo}/versions")
    assert [v["version"] for v in versions] == ["1.10", "1.9", "1.0"]
    assert versions[2]["inputs"][0]["default_value"] == "hi"
    assert versions[2]["resources"]["memory_bytes"] == 64 * 1024**2
    assert versions[2]["artifact_ref"] == "local:echo-1.0"

    viewer = await api.ok("GET", f"/studio/actions/{echo}", headers=api.headers("viewer"))
    assert viewer["id"] == echo
    other = await api.client.get(f"/studio/actions/{echo}", headers=api.headers("outsider"))
    check_error(other, 404, field="action_id")


async def test_logo(api) -> None:  # type: ignore[no-untyped-def]
    pretty = await api.publish("pretty", logo=PNG)
    plain = await api.publish("plain")
    logo = await api.client.get(f"/studio/actions/{pretty}/logo", headers=api.dev)
    assert logo.status_code == 200 and logo.content == PNG
    assert logo.headers["content-type"] == "image/png"
    assert logo.headers["x-content-type-options"] == "nosniff"
    check_error(await api.client.get(f"/studio/actions/{plain}/logo", headers=api.dev), 404)
    missing = await api.client.get(
        f"/studio/actions/{pretty}/logo", params={"version": "9"}, headers=api.dev
    )
    check_error(missing, 404, field="version")


async def test_delete_refused_while_used_and_for_builtins(api) -> None:  # type: ignore[no-untyped-def]
    echo = await api.publish("echo", inputs=[io("text")])
    spare = await api.publish("spare")
    w = await api.ok("POST", "/studio/workflows", 201, json={"name": "Uses echo"})
    await api.ok("POST", f"/studio/workflows/{w['id']}/steps", 201, json={"action_id": echo})

    in_use = await api.client.delete(f"/studio/actions/{echo}", headers=api.dev)
    body = check_error(in_use, 409, code="in_use", field="action_id")
    assert body["used_by"] == [{"workflow_id": w["id"], "workflow_name": "Uses echo"}]
    assert "Uses echo" in body["detail"]
    builtin = await api.client.delete("/studio/actions/builtin-cron", headers=api.dev)
    check_error(builtin, 409, code="builtin_action")
    viewer = await api.client.delete(f"/studio/actions/{spare}", headers=api.headers("viewer"))
    check_error(viewer, 403)
    await api.ok("DELETE", f"/studio/actions/{spare}", 204)
    check_error(await api.client.get(f"/studio/actions/{spare}", headers=api.dev), 404)
