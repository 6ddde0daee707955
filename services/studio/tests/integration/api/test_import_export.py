"""Export and import over HTTP: YAML, zips with static files, what is missing, documents that
try to hurt, PUT with a whole document, and the published JSON Schema."""

import io as bytes_io
import json
import zipfile
from pathlib import Path

import jsonschema
import yaml

from .conftest import check_error, io

SCHEMA = Path(__file__).parents[5] / "docs" / "reference" / "workflow.schema.json"


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = bytes_io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def rich(api, project: str | None = None) -> tuple[str, dict]:  # type: ignore[no-untyped-def]
    """http-api (dynamic outputs, endpoint) -> work (values of every kind, a file, a
    variable) -> result."""
    headers = api.headers(project=project) if project in (None, api.p1) else api.headers("outsider")
    work = await api.publish(
        "work",
        project=project,
        inputs=[
            io("who"),
            io("count", "integer"),
            io("ratio", "float"),
            io("flag", "boolean"),
            io("color", "enum", enum_values=["red", "green"]),
            io("doc", "file"),
            io("key", "password"),
            io("note", optional=True),
        ],
        outputs=[io("out")],
    )
    var = await api.ok(
        "POST",
        "/studio/variables",
        201,
        headers=headers,
        json={"name": "api_key", "type": "password", "value": "pw"},
    )
    w = await api.ok(
        "POST",
        "/studio/workflows",
        201,
        headers=headers,
        json={"name": "Rich ✨", "description": "two\nlines"},
    )
    base = f"/studio/workflows/{w['id']}"
    t = (
        await api.ok(
            "POST",
            f"{base}/steps",
            201,
            headers=headers,
            json={"action_id": "builtin-http-api", "position": {"x": 0, "y": 0}},
        )
    )["step_id"]
    s = (
        await api.ok(
            "POST",
            f"{base}/steps",
            201,
            headers=headers,
            json={
                "action_id": work,
                "after_step_id": t,
                "name": "Do «work»",
                "position": {"x": 250.5, "y": -10},
            },
        )
    )["step_id"]
    await api.ok(
        "PUT",
        f"{base}/steps/{t}",
        headers=headers,
        json={
            "dynamic_outputs": [{"name": "who", "type": "string", "origin": "query", "help": "Who"}]
        },
    )
    for name, body in {
        "who": {"from": {"step_id": t, "output": "who"}},
        "count": {"value": 2**53 + 1},
        "ratio": {"value": 0.1},
        "flag": {"value": False},
        "color": {"value": "green"},
        "key": {"variable_id": var["id"]},
        "note": {"value": None},
    }.items():
        await api.ok("PUT", f"{base}/steps/{s}/inputs/{name}", headers=headers, json=body)
    upload = await api.client.post(
        f"{base}/steps/{s}/inputs/doc/file",
        headers=headers,
        files={"file": ("a b.txt", b"\x00\x01bytes")},
    )
    assert upload.status_code == 200, upload.text
    await api.ok(
        "PUT",
        f"{base}/results",
        headers=headers,
        json=[{"key": "out", "from": {"step_id": s, "output": "out"}}],
    )
    await api.ok(
        "PUT",
        f"{base}/endpoint",
        headers=headers,
        json={"path": "work/now", "method": "POST", "success_code": 201, "timeout_seconds": 12.5},
    )
    got = await api.ok("GET", base, headers=headers)
    assert got["valid"] is True, got["errors"]
    return base, got


async def test_zip_round_trip_into_another_project(api) -> None:  # type: ignore[no-untyped-def]
    base, original = await rich(api)
    exported = await api.client.get(f"{base}/export", headers=api.dev)
    assert exported.headers["content-type"] == "application/zip"
    assert 'filename="Rich.zip"' in exported.headers["content-disposition"]
    archive = zipfile.ZipFile(bytes_io.BytesIO(exported.content))
    assert archive.namelist() == ["workflow.yaml", "files/work/doc/a b.txt"]
    document = yaml.safe_load(archive.read("workflow.yaml"))
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(document)
    assert document["spec"]["steps"][1]["inputs"]["key"] == {"variable": "api_key"}
    assert document["spec"]["steps"][1]["inputs"]["count"] == {"value": 2**53 + 1}
    check_error(
        await api.client.get(f"{base}/export", params={"format": "yaml"}, headers=api.dev),
        409,
        code="has_files",
    )

    other = api.headers("outsider")
    missing = await api.client.post(
        "/studio/workflows/import", headers=other, content=exported.content
    )
    body = check_error(missing, 422, code="missing_dependencies")
    assert sorted((m["kind"], m["name"]) for m in body["missing"]) == [
        ("action", "work"),
        ("variable", "api_key"),
    ]
    await rich(api, project=api.p2)  # p2 now holds the same action and variable
    clash = await api.client.post(
        "/studio/workflows/import", headers=other, content=exported.content
    )
    check_error(clash, 409, code="endpoint_taken")  # p2's own copy answers on work/now
    p2_list = await api.ok("GET", "/studio/workflows", headers=other)
    p2_rich = p2_list["items"][0]["id"]
    await api.ok("DELETE", f"/studio/workflows/{p2_rich}", 204, headers=other)
    imported = await api.ok(
        "POST",
        "/studio/workflows/import",
        201,
        headers=other,
        params={"name": "Imported"},
        files={"file": ("rich.zip", exported.content, "application/zip")},
    )
    assert imported["name"] == "Imported" and imported["valid"] is True
    assert imported["revision"] == 1 and imported["project_id"] == api.p2
    again = await api.client.get(f"/studio/workflows/{imported['id']}/export", headers=other)
    archive2 = zipfile.ZipFile(bytes_io.BytesIO(again.content))
    document2 = yaml.safe_load(archive2.read("workflow.yaml"))
    assert document2 == {**document, "metadata": {**document["metadata"], "name": "Imported"}}
    assert archive2.read("files/work/doc/a b.txt") == b"\x00\x01bytes"
    steps = [(s["id"], s["name"], s["action_name"], s["position"]) for s in imported["steps"]]
    assert steps == [
        (s["id"], s["name"], s["action_name"], s["position"]) for s in original["steps"]
    ]


async def test_yaml_round_trip_and_put_document(api) -> None:  # type: ignore[no-untyped-def]
    echo = await api.publish("echo", inputs=[io("text")], outputs=[io("text")])
    w = await api.ok("POST", "/studio/workflows", 201, json={"name": "Plain"})
    base = f"/studio/workflows/{w['id']}"
    t = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": "builtin-one-run"}))[
        "step_id"
    ]
    e = (await api.ok("POST", f"{base}/steps", 201, json={"action_id": echo, "after_step_id": t}))[
        "step_id"
    ]
    await api.ok(
        "PUT", f"{base}/steps/{e}/inputs/text", json={"value": "a: 'quoted' # not a comment"}
    )
    exported = await api.client.get(f"{base}/export", headers=api.dev)
    assert exported.headers["content-type"].startswith("application/yaml")
    document = yaml.safe_load(exported.text)
    revision = (await api.ok("GET", base))["revision"]
    zipped = await api.client.get(f"{base}/export", params={"format": "zip"}, headers=api.dev)
    assert zipfile.ZipFile(bytes_io.BytesIO(zipped.content)).namelist() == ["workflow.yaml"]

    # PUT the document back with a cycle: stored, reported, not deployable
    document["spec"]["steps"].append(
        {**document["spec"]["steps"][1], "id": "echo-2", "name": "Again"}
    )
    document["spec"]["links"] += [
        {"from_step_id": e, "to_step_id": "echo-2"},
        {"from_step_id": "echo-2", "to_step_id": e},
    ]
    put = await api.ok("PUT", base, json=document)
    assert put["revision"] == revision + 1
    assert [(x["code"], x["step_id"]) for x in put["errors"]] == [("cycle", e)]
    check_error(
        await api.client.post(f"{base}/deploy", headers=api.dev), 409, code="workflow_invalid"
    )
    bad = json.loads(json.dumps(document))
    bad["spec"]["links"][0]["to_step_id"] = "elsewhere"
    check_error(
        await api.client.put(base, headers=api.dev, json=bad), 422, field="spec.links[0].to_step_id"
    )
    bad = json.loads(json.dumps(document))
    bad["spec"]["steps"][1]["inputs"]["text"] = {"value": 5}
    check_error(
        await api.client.put(base, headers=api.dev, json=bad),
        422,
        field="spec.steps[1].inputs.text",
    )
    bad = json.loads(json.dumps(document))
    bad["spec"]["steps"][1]["inputs"]["text"] = {"value": "a", "variable": "b"}
    check_error(
        await api.client.put(base, headers=api.dev, json=bad),
        422,
        field="spec.steps[1].inputs.text",
    )
    bad = json.loads(json.dumps(document))
    bad["apiVersion"] = "oryx.dev/v2"
    check_error(await api.client.put(base, headers=api.dev, json=bad), 422, field="apiVersion")


async def test_documents_that_try_to_hurt(api) -> None:  # type: ignore[no-untyped-def]
    async def refused(content: bytes, field: str | None = "body", status: int = 422) -> dict:
        response = await api.client.post(
            "/studio/workflows/import", headers=api.dev, content=content
        )
        return check_error(response, status, field=field)

    bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n'
    assert "aliases" in (await refused(bomb))["detail"]
    assert (
        "twice" in (await refused(b"apiVersion: oryx.dev/v1\napiVersion: oryx.dev/v1\n"))["detail"]
    )
    await refused(b"- a list\n- not a mapping\n")
    await refused(b"\xff\xfe not utf-8")
    await refused(b"key: [unclosed\n")
    await refused(b"!!python/object/apply:os.system ['true']\n")
    await refused(b"")
    await refused(
        b"apiVersion: oryx.dev/v1\nkind: Workflow\nmetadata: {name: x}\nspec: {steps: 5}\n",
        "spec.steps",
    )
    await refused(zip_of({"../evil.yaml": b"x"}))
    await refused(zip_of({"/abs/workflow.yaml": b"x"}))
    await refused(zip_of({"files/a.txt": b"x"}))  # no workflow.yaml
    await refused(zip_of({"workflow.yaml": b"x: 1", "other/x": b"x"}))
    await refused(
        zip_of({"workflow.yaml": b"", "files/bomb": b"\x00" * (70 * 1024)})
    )  # > 64 KiB unpacked
    await refused(b"PK\x03\x04 truncated zip")
    document = (
        "apiVersion: oryx.dev/v1\nkind: Workflow\nmetadata: {name: x}\n"
        "spec:\n  steps:\n  - {id: Bad Id, name: x, action: a, version: '1'}\n"
    )
    await refused(document.encode(), "spec.steps[0].id")
    assert (await api.ok("GET", "/studio/workflows"))["total"] == 0
