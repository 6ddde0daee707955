"""Project variables over HTTP: string, password (never shown again) and file (multipart)."""

from .conftest import MAX_FILE_BYTES, check_error, io


async def test_string_and_password_variables(api) -> None:  # type: ignore[no-untyped-def]
    text = await api.ok(
        "POST",
        "/studio/variables",
        201,
        json={"name": "greeting", "type": "string", "value": "hello", "description": "d"},
    )
    assert (text["value"], text["value_is_set"], text["type"]) == ("hello", True, "string")
    secret = await api.ok(
        "POST",
        "/studio/variables",
        201,
        json={"name": "api_key", "type": "password", "value": "s3"},
    )
    assert secret["value"] is None and secret["value_is_set"] is True
    for response in (
        await api.client.get(f"/studio/variables/{secret['id']}", headers=api.dev),
        await api.client.get("/studio/variables", headers=api.dev),
        await api.client.put(
            f"/studio/variables/{secret['id']}", headers=api.dev, json={"description": "rotated"}
        ),
    ):
        assert response.status_code == 200 and "s3" not in response.text
    listed = await api.ok("GET", "/studio/variables", params={"limit": 1})
    assert listed["total"] == 2 and listed["next_cursor"]
    taken = await api.client.post(
        "/studio/variables",
        headers=api.dev,
        json={"name": "greeting", "type": "string", "value": "x"},
    )
    check_error(taken, 409, code="name_taken", field="name")
    renamed = await api.ok(
        "PUT", f"/studio/variables/{text['id']}", json={"name": "salute", "value": "hey"}
    )
    assert (renamed["name"], renamed["value"]) == ("salute", "hey")
    type_change = await api.client.put(
        f"/studio/variables/{text['id']}", headers=api.dev, json={"type": "password"}
    )
    check_error(type_change, 422, field="type")
    viewer = api.headers("viewer")
    assert (await api.ok("GET", "/studio/variables", headers=viewer))["total"] == 2
    check_error(
        await api.client.post(
            "/studio/variables", headers=viewer, json={"name": "v", "type": "string", "value": "x"}
        ),
        403,
    )
    other = await api.client.get(f"/studio/variables/{text['id']}", headers=api.headers("outsider"))
    check_error(other, 404, field="variable_id")


async def test_file_variables_go_through_multipart(api) -> None:  # type: ignore[no-untyped-def]
    made = await api.client.post(
        "/studio/variables",
        headers=api.dev,
        data={"name": "dataset", "type": "file", "description": "rows"},
        files={"file": ("rows.csv", b"a,b\n1,2\n", "text/csv")},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["file"] == {"name": "rows.csv", "size_bytes": 8, "directory": False}
    assert body["value"] is None and body["value_is_set"] is True
    no_file = await api.client.post(
        "/studio/variables", headers=api.dev, data={"name": "empty", "type": "file"}
    )
    check_error(no_file, 422, field="file")
    json_file = await api.client.post(
        "/studio/variables", headers=api.dev, json={"name": "j", "type": "file", "value": "x"}
    )
    check_error(json_file, 422, field="file")
    replaced = await api.client.put(
        f"/studio/variables/{body['id']}",
        headers=api.dev,
        files={"file": ("rows2.csv", b"x", "text/csv")},
    )
    assert replaced.status_code == 200 and replaced.json()["file"]["name"] == "rows2.csv"
    too_big = await api.client.post(
        "/studio/variables",
        headers=api.dev,
        data={"name": "big", "type": "file"},
        files={"file": ("big", b"x" * (MAX_FILE_BYTES + 1))},
    )
    check_error(too_big, 422, field="file")
    odd_field = await api.client.post(
        "/studio/variables",
        headers=api.dev,
        data={"name": "odd", "type": "file", "owner": "me"},
        files={"file": ("f", b"x")},
    )
    check_error(odd_field, 422, field="owner")


async def test_delete_refused_while_used(api) -> None:  # type: ignore[no-untyped-def]
    echo = await api.publish("echo", inputs=[io("text")])
    var = await api.ok(
        "POST", "/studio/variables", 201, json={"name": "word", "type": "string", "value": "x"}
    )
    w = await api.ok("POST", "/studio/workflows", 201, json={"name": "Uses word"})
    step = (
        await api.ok("POST", f"/studio/workflows/{w['id']}/steps", 201, json={"action_id": echo})
    )["step_id"]
    await api.ok(
        "PUT",
        f"/studio/workflows/{w['id']}/steps/{step}/inputs/text",
        json={"variable_id": var["id"]},
    )
    used = await api.client.delete(f"/studio/variables/{var['id']}", headers=api.dev)
    body = check_error(used, 409, code="in_use")
    assert body["used_by"] == [{"workflow_id": w["id"], "workflow_name": "Uses word"}]
    await api.ok("DELETE", f"/studio/workflows/{w['id']}/steps/{step}/inputs/text")
    await api.ok("DELETE", f"/studio/variables/{var['id']}", 204)
    check_error(await api.client.get(f"/studio/variables/{var['id']}", headers=api.dev), 404)
