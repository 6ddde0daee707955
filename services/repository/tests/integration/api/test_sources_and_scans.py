"""Sources, scans and builds over HTTP, with the real authorization service and real git."""

from .conftest import make_repository


async def add_source(api, url: str, **extra) -> dict:
    response = await api.client.post(
        "/repository/sources", headers=api.developer, json={"name": "examples", "url": url, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_health_and_openapi(api) -> None:
    assert (await api.client.get("/repository/healthz")).json()["status"] == "ok"
    spec = (await api.client.get("/repository/openapi.json")).json()
    for path, methods in spec["paths"].items():
        assert path.startswith("/repository/")
        for operation in methods.values():
            assert operation.get("description"), path


async def test_scan_the_examples_then_build(api, tmp_path) -> None:
    url = make_repository(tmp_path / "examples")
    source = await add_source(api, url)
    assert source["password_is_set"] is False
    response = await api.client.post(
        f"/repository/sources/{source['id']}/scan", headers=api.developer, json={}
    )
    assert response.status_code == 200, response.text
    scan = response.json()
    assert scan["status"] == "ok", scan
    assert len(scan["commit_sha"]) == 40
    names = sorted(a["name"] for a in scan["actions"])
    assert len(names) >= 7
    assert all(a["status"] == "scanned" for a in scan["actions"]), [
        (a["name"], a["scan_errors"]) for a in scan["actions"] if a["scan_errors"]
    ]
    echo = next(a for a in scan["actions"] if a["name"] == "echo")
    assert {i["type"] for i in echo["inputs"]} >= {"string", "integer", "file", "directory"}

    listed = (
        await api.client.get(
            "/repository/actions", headers=api.developer, params={"source_id": source["id"]}
        )
    ).json()
    assert listed["total"] == len(names)

    built = await api.client.post(f"/repository/actions/{echo['id']}/build", headers=api.developer)
    assert built.status_code == 200, built.text
    assert built.json()["status"] == "build_pending"
    again = await api.client.post(f"/repository/actions/{echo['id']}/build", headers=api.developer)
    assert again.status_code == 409
    cancelled = await api.client.post(
        f"/repository/actions/{echo['id']}/cancel", headers=api.developer
    )
    assert cancelled.json()["status"] == "cancelled"
    everything = await api.client.post(
        f"/repository/sources/{source['id']}/build", headers=api.developer
    )
    assert everything.status_code == 200
    assert len(everything.json()) == len(names)


async def test_bad_repository_gives_scan_errors(api, tmp_path) -> None:
    url = make_repository(
        tmp_path / "bad",
        {
            "v1/ryax_metadata.yaml": (
                "apiVersion: ryax.tech/v1\nkind: Functions\nspec: {detail: {}}\n"
            ),
            "broken/ryax_metadata.yaml": "apiVersion: [unclosed\n",
            "nohandler/ryax_metadata.yaml": (
                'apiVersion: "ryax.tech/v2.0"\nkind: Processor\nspec:\n  id: nohandler\n'
                "  human_name: No handler\n  description: d\n  version: '1.0'\n  type: python3\n"
            ),
            "nohandler/ryax_handler.py": "def other(inputs):\n    return {}\n",
        },
    )
    source = await add_source(api, url)
    scan = (
        await api.client.post(f"/repository/sources/{source['id']}/scan", headers=api.developer)
    ).json()
    assert scan["status"] == "ok"
    by_path = {a["path"]: a for a in scan["actions"]}
    assert set(by_path) == {"v1", "broken", "nohandler"}
    for action in by_path.values():
        assert action["status"] == "scan_error"
        assert action["scan_errors"], action
        for error in action["scan_errors"]:
            assert error["file"] and error["reason"]
    assert any("v2" in e["reason"] for e in by_path["v1"]["scan_errors"])
    assert any(
        e["field"] == "handle" or "handle" in e["reason"]
        for e in by_path["nohandler"]["scan_errors"]
    )


async def test_unreadable_repository_is_a_scan_error(api, tmp_path) -> None:
    source = await add_source(api, f"file://{tmp_path}/does-not-exist")
    response = await api.client.post(
        f"/repository/sources/{source['id']}/scan", headers=api.developer
    )
    assert response.status_code == 200
    assert response.json()["status"] == "error"
    assert response.json()["error"]
    got = (
        await api.client.get(f"/repository/sources/{source['id']}", headers=api.developer)
    ).json()
    assert got["last_scan"]["status"] == "error"


async def test_credentials_are_never_returned(api) -> None:
    source = await add_source(
        api, "https://git.example.org/private.git", username="bot", password="hunter2-token"
    )
    assert source["password_is_set"] is True
    assert "hunter2" not in str(source)
    listed = await api.client.get("/repository/sources", headers=api.developer)
    assert "hunter2" not in listed.text


async def test_unsafe_urls_and_refs_are_refused(api) -> None:
    for body, field in [
        ({"url": "ext::sh -c touch% /tmp/pwned"}, "url"),
        ({"url": "-uhttps://x/y.git"}, "url"),
        ({"url": "https://x/y.git", "branch": "--upload-pack=touch /tmp/x"}, "branch"),
    ]:
        response = await api.client.post(
            "/repository/sources", headers=api.developer, json={"name": "bad", **body}
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field


async def test_project_isolation_and_roles(api, people, tmp_path) -> None:
    source = await add_source(api, make_repository(tmp_path / "iso"))
    outsider = {
        "Authorization": f"Bearer {people['outsider']}",
        "X-Oryx-Project": str(people["p2"]),
    }
    assert (
        await api.client.get(f"/repository/sources/{source['id']}", headers=outsider)
    ).status_code == 404
    assert (await api.client.get("/repository/sources", headers=outsider)).json()["total"] == 0
    # naming the other project in the header does not help: it is invisible to them
    sneaky = {**outsider, "X-Oryx-Project": str(people["p1"])}
    assert (await api.client.get("/repository/sources", headers=sneaky)).status_code == 404
    viewer = {"Authorization": f"Bearer {people['viewer']}", "X-Oryx-Project": str(people["p1"])}
    assert (await api.client.get("/repository/sources", headers=viewer)).status_code == 200
    response = await api.client.post(
        "/repository/sources", headers=viewer, json={"name": "x", "url": "https://x/y.git"}
    )
    assert response.status_code == 403
    assert (await api.client.get("/repository/sources")).status_code == 401
    bad = {"Authorization": "Bearer nope", "X-Oryx-Project": str(people["p1"])}
    assert (await api.client.get("/repository/sources", headers=bad)).status_code == 401


async def test_unknown_ids_are_404(api) -> None:
    for path in ["/repository/sources/nope", "/repository/actions/nope"]:
        response = await api.client.get(path, headers=api.developer)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
