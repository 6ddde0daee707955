"""Bad input in bodies, query strings and uploads, on every studio route that takes any: each
refusal is a 4xx of the contract's shape and leaves the tables as they were; free text comes
back verbatim.

Cases share one ``world`` (see conftest) and each compares table snapshots before and after.
"""

import base64
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import MAX_FILE_BYTES

MISSING = object()
"""An override that removes the field from the body."""
BIG = "x" * 10_000

# name: (method, path, valid body as a function of the world's ids)
ROUTES: dict[str, tuple[str, str, Callable[[dict[str, str]], Any]]] = {
    "create_workflow": ("POST", "/workflows", lambda i: {"name": "new"}),
    "rename_workflow": ("PUT", "/workflows/{alpha}", lambda i: {"name": "alpha"}),
    "add_step": ("POST", "/workflows/{solo}/steps", lambda i: {"action_id": i["upper"]}),
    "edit_step": ("PUT", "/workflows/{alpha}/steps/{step}", lambda i: {"name": "Upper"}),
    "set_input": ("PUT", "/workflows/{alpha}/steps/{step}/inputs/text", lambda i: {"value": "x"}),
    "set_endpoint": (
        "PUT",
        "/workflows/{alpha}/endpoint",
        lambda i: {"path": "p", "method": "GET", "success_code": 200, "timeout_seconds": 1},
    ),
    "create_variable": (
        "POST",
        "/variables",
        lambda i: {"name": "v", "type": "string", "value": "x"},
    ),
    "change_variable": ("PUT", "/variables/{greeting}", lambda i: {"value": "hello"}),
}
LIST_ROUTES = {
    "set_links": ("PUT", "/workflows/{alpha}/links"),
    "set_results": ("PUT", "/workflows/{alpha}/results"),
}


def request_for(world: Any, route: str, override: dict[str, Any]) -> tuple[str, str, dict]:
    method, path, valid = ROUTES[route]
    body = {k: v for k, v in (valid(world.ids) | override).items() if v is not MISSING}
    return method, path, {"json": body}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# malformed bodies -----------------------------------------------------------------------------

MALFORMED = {
    # name: (raw body, content type, the codes that may answer)
    "truncated": (b'{"name": "x"', "application/json", {"malformed_json"}),
    "not_json": (b"name=x&type=string", "application/json", {"malformed_json"}),
    "single_quotes": (b"{'name': 'x'}", "application/json", {"malformed_json"}),
    "trailing_comma": (b'{"name": "x",}', "application/json", {"malformed_json"}),
    "not_utf8": (b'{"name": "\xff\xfe"}', "application/json", {"malformed_json"}),
    "nested_too_deep": (b"[" * 100_000, "application/json", {"malformed_json"}),
    "array": (b'[{"name": "x"}]', "application/json", {"invalid_input"}),
    "null": (b"null", "application/json", {"invalid_input"}),
    "string": (b'"name"', "application/json", {"invalid_input"}),
    "number": (b"42", "application/json", {"invalid_input"}),
    "empty": (b"", "application/json", {"invalid_input", "malformed_json"}),
    "text_plain": (b'{"name": "x"}', "text/plain", {"invalid_input"}),
    "no_content_type": (b'{"name": "x"}', None, {"invalid_input"}),
}


@pytest.mark.parametrize("kind", MALFORMED)
@pytest.mark.parametrize("route", [*ROUTES, *LIST_ROUTES])
async def test_malformed_body_is_422(world, route: str, kind: str) -> None:
    method, path = ROUTES[route][:2] if route in ROUTES else LIST_ROUTES[route]
    content, content_type, codes = MALFORMED[kind]
    if route in LIST_ROUTES and kind == "array":
        content = b'{"not": "a list"}'  # the wrong shape for these routes is an object
    headers = world.api.dev | ({"Content-Type": content_type} if content_type else {})
    body = await world.refused(method, path, 422, content=content, headers=headers)
    assert body["code"] in codes, body


# wrong types, unknown fields, unknown enum values ---------------------------------------------

WRONG_INPUT = [
    ("create_workflow", {"name": 1}, "name"),
    ("create_workflow", {"name": None}, "name"),
    ("create_workflow", {"name": ["x"]}, "name"),
    ("create_workflow", {"name": MISSING}, "name"),
    ("create_workflow", {"name": ""}, "name"),
    ("create_workflow", {"name": "   "}, "name"),
    ("create_workflow", {"description": 5}, "description"),
    ("create_workflow", {"from_workflow_id": 7}, "from_workflow_id"),
    ("create_workflow", {"id": "mine"}, "id"),
    ("create_workflow", {"steps": []}, "steps"),
    ("rename_workflow", {"name": True}, "name"),
    ("rename_workflow", {"revision": 1}, "revision"),
    ("rename_workflow", {"project_id": "x"}, "project_id"),
    ("add_step", {"action_id": 1}, "action_id"),
    ("add_step", {"action_id": MISSING}, "action_id"),
    ("add_step", {"action_version": 1.0}, "action_version"),
    ("add_step", {"after_step_id": ["a"]}, "after_step_id"),
    ("add_step", {"position": {"x": "1", "y": 2}}, "position.x"),
    ("add_step", {"position": {"x": 1}}, "position.y"),
    ("add_step", {"position": {"x": 1, "y": 2, "z": 3}}, "position.z"),
    ("add_step", {"position": {"x": 2e9, "y": 0}}, "position.x"),
    ("add_step", {"step_id": "mine"}, "step_id"),
    ("edit_step", {"name": 3}, "name"),
    ("edit_step", {"action_version": False}, "action_version"),
    ("edit_step", {"dynamic_outputs": "x"}, "dynamic_outputs"),
    ("edit_step", {"dynamic_outputs": [{"name": "a", "type": "table"}]}, "dynamic_outputs[0].type"),
    ("edit_step", {"dynamic_outputs": [{"name": "a"}]}, "dynamic_outputs[0].type"),
    ("edit_step", {"action_id": "x"}, "action_id"),
    ("set_input", {"value": [1, 2]}, "value"),
    ("set_input", {"value": {"$ne": ""}}, "value"),
    ("set_input", {"value": 5}, "value"),
    ("set_input", {"value": True}, "value"),
    ("set_input", {"value": None}, "value"),
    ("set_input", {"value": MISSING}, None),
    ("set_input", {"value": "a", "variable_id": "{greeting}"}, None),
    ("set_input", {"value": MISSING, "from": {"step_id": 5, "output": "o"}}, "from.step_id"),
    ("set_input", {"value": MISSING, "from": {"step_id": "emit-every"}}, "from.output"),
    ("set_input", {"value": MISSING, "from": "emit-every.fired_at"}, "from"),
    ("set_input", {"value": MISSING, "variable_id": 3}, "variable_id"),
    ("set_input", {"file": "x"}, "file"),
    ("set_endpoint", {"path": MISSING}, "path"),
    ("set_endpoint", {"path": 5}, "path"),
    ("set_endpoint", {"path": "a b"}, "path"),
    ("set_endpoint", {"path": "a/{B}"}, "path"),
    ("set_endpoint", {"method": "TRACE"}, "method"),
    ("set_endpoint", {"method": 1}, "method"),
    ("set_endpoint", {"success_code": "200"}, "success_code"),
    ("set_endpoint", {"success_code": 200.0}, "success_code"),
    ("set_endpoint", {"success_code": 204}, "success_code"),
    ("set_endpoint", {"timeout_seconds": -1}, "timeout_seconds"),
    ("set_endpoint", {"timeout_seconds": "1"}, "timeout_seconds"),
    ("set_endpoint", {"headers": {}}, "headers"),
    ("create_variable", {"name": 1}, "name"),
    ("create_variable", {"name": "1abc"}, "name"),
    ("create_variable", {"name": "has space"}, "name"),
    ("create_variable", {"type": "secret"}, "type"),
    ("create_variable", {"type": MISSING}, "type"),
    ("create_variable", {"type": "file"}, "file"),
    ("create_variable", {"value": 5}, "value"),
    ("create_variable", {"value": MISSING}, "value"),
    ("create_variable", {"value": "bell\x07"}, "value"),
    ("create_variable", {"owner": "me"}, "owner"),
    ("change_variable", {"value": 1}, "value"),
    ("change_variable", {"type": "password"}, "type"),
    ("change_variable", {"name": "no/slash"}, "name"),
]


def fill(world: Any, value: Any) -> Any:
    """``{greeting}`` names an id of the world; other braces stay."""
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: world.ids.get(m[1], m[0]), value)
    return value


@pytest.mark.parametrize(("route", "override", "field"), WRONG_INPUT)
async def test_wrong_type_unknown_field_or_value_is_422_naming_the_field(
    world, route: str, override: dict[str, Any], field: str | None
) -> None:
    method, path, kwargs = request_for(
        world, route, {k: fill(world, v) for k, v in override.items()}
    )
    body = await world.refused(method, path, 422, **kwargs)
    if field is not None:
        assert body.get("field") == field, body
        if body["code"] == "invalid_input":  # the schema's own words name the field
            assert field in body["detail"], body


LIST_WRONG = [
    ("set_links", [{"from_step_id": 1, "to_step_id": "upper"}], "[0].from_step_id"),
    ("set_links", [{"from_step_id": "emit-every"}], "[0].to_step_id"),
    ("set_links", [{"from_step_id": "emit-every", "to_step_id": "upper", "x": 1}], "[0].x"),
    ("set_links", [["emit-every", "upper"]], "[0]"),
    ("set_links", [{"from_step_id": "a", "to_step_id": "b"}] * 1001, None),
    ("set_results", [{"key": "k"}], "[0].from"),
    ("set_results", [{"key": 1, "from": {"step_id": "upper", "output": "text"}}], "[0].key"),
    ("set_results", [{"key": "1bad", "from": {"step_id": "upper", "output": "text"}}], None),
    ("set_results", [{"key": "k", "from": {"step_id": "upper", "output": "nope"}}], None),
    ("set_results", [{"key": "k", "from": {"step_id": "upper", "output": "text"}}] * 2, None),
]


NON_FINITE = [
    ("POST", "/workflows/{solo}/steps", '{"action_id": "x", "position": {"x": 1e309, "y": 0}}'),
    ("PUT", "/workflows/{alpha}/endpoint", '{"path": "p", "timeout_seconds": 1e400}'),
    ("PUT", "/workflows/{alpha}/steps/{step}/inputs/text", '{"value": -1e999}'),
    ("PUT", "/workflows/{alpha}/steps/{step}/inputs/text", '{"value": NaN}'),
]


@pytest.mark.parametrize(("method", "path", "raw"), NON_FINITE)
async def test_numbers_json_cannot_hold_are_422(world, method: str, path: str, raw: str) -> None:
    headers = world.api.dev | {"Content-Type": "application/json"}
    await world.refused(method, path, 422, content=raw.encode(), headers=headers)


@pytest.mark.parametrize(("route", "body", "field"), LIST_WRONG)
async def test_wrong_lists_are_422(world, route: str, body: Any, field: str | None) -> None:
    method, path = LIST_ROUTES[route]
    response = await world.refused(method, path, 422, json=body)
    if field is not None:
        assert response.get("field") == field, response


# oversized fields and bodies ------------------------------------------------------------------

OVERSIZED = [
    ("create_workflow", {"name": "n" * 101}, "name"),
    ("create_workflow", {"name": BIG}, "name"),
    ("create_workflow", {"description": "d" * 2001}, "description"),
    ("create_workflow", {f"k{i}": i for i in range(20_000)}, "k0"),
    ("rename_workflow", {"description": BIG}, "description"),
    ("add_step", {"action_id": BIG}, "action_id"),
    ("add_step", {"name": BIG}, "name"),
    ("edit_step", {"action_version": "v" * 256}, "action_version"),
    (
        "edit_step",
        {"dynamic_outputs": [{"name": f"o{i}", "type": "string"} for i in range(65)]},
        "dynamic_outputs",
    ),
    ("set_input", {"value": "v" * (64 * 1024 + 1)}, "value"),
    ("set_endpoint", {"path": "p" * 513}, "path"),
    ("create_variable", {"name": "n" * 65}, "name"),
    ("create_variable", {"value": "v" * (64 * 1024 + 1)}, "value"),
    ("change_variable", {"description": BIG}, "description"),
]


@pytest.mark.parametrize(("route", "override", "field"), OVERSIZED)
async def test_oversized_field_is_422(
    world, route: str, override: dict[str, Any], field: str
) -> None:
    method, path, kwargs = request_for(world, route, override)
    body = await world.refused(method, path, 422, **kwargs)
    assert body.get("field") == field, body
    assert len(body.get("errors", [])) <= 20  # a huge body does not buy a huge answer


@pytest.mark.parametrize("route", ["create_workflow", "set_input", "set_endpoint"])
async def test_body_over_a_megabyte_is_413(world, route: str) -> None:
    """JSON routes take a megabyte at most; the upload routes more (tested below)."""
    method, path, kwargs = request_for(world, route, {"description": "d" * 1_100_000})
    body = await world.refused(method, path, 413, **kwargs)
    assert body["code"] == "payload_too_large"


UPLOADS = [
    ("POST", "/workflows/{alpha}/steps/{sink_step}/inputs/doc/file"),
    ("POST", "/workflows/import"),
    ("POST", "/variables"),
    ("PUT", "/variables/{greeting}"),
]


@pytest.mark.parametrize(("method", "path"), UPLOADS)
async def test_oversized_uploads_are_refused(world, method: str, path: str) -> None:
    fields = {"name": "big", "type": "file"} if path == "/variables" else {}
    over_limit = {"file": ("big.bin", b"x" * (MAX_FILE_BYTES + 1))}
    body = await world.refused(method, path, 422, data=fields, files=over_limit)
    assert str(MAX_FILE_BYTES) in body["detail"]
    over_transport = {"file": ("big.bin", b"x" * (1024 * 1024 + MAX_FILE_BYTES + 1))}
    body = await world.refused(method, path, 413, data=fields, files=over_transport)
    assert body["code"] == "payload_too_large"


async def test_raw_import_over_the_limit(world) -> None:
    await world.refused(
        "POST", "/workflows/import", 422, content=b"a: " + b"x" * MAX_FILE_BYTES, field="body"
    )
    await world.refused(
        "POST", "/workflows/import", 413, content=b"x" * (2 * 1024 * 1024), field=None
    )


@pytest.mark.parametrize(
    ("files", "field"),
    [
        ({"other": ("a.txt", b"x")}, "other"),
        ({"file": ("a.txt", b"x"), "file2": ("b.txt", b"y")}, "file"),
        ({}, "file"),
    ],
)
async def test_upload_in_the_wrong_shape(world, files: dict, field: str) -> None:
    path = "/workflows/{alpha}/steps/{sink_step}/inputs/doc/file"
    kwargs: dict[str, Any] = {"files": files} if files else {"data": {"x": "1"}}
    await world.refused("POST", path, 422, **kwargs)
    await world.refused("POST", path, 422, json={"file": "x"}, field="file")


# injection strings ----------------------------------------------------------------------------

INJECTIONS = {
    "sql_drop": "'; DROP TABLE workflows; --",
    "sql_or": '" OR 1=1 --',
    "nul": "nul\x00byte",
    "control": "bell\x07esc\x1b[31m",
    "newline": "line\r\nbreak",
    "del": "delete\x7fme",
    "rtl": "invoice\u202egpj.exe",
    "emoji": "unicorn 🦄🔥👩‍👩‍👧",
    "combining": "Z" + "\u0336" * 300,
    "html": "<script>alert(1)</script>",
    "path": "../../etc/passwd",
    "json": '{"role": "admin", "x": [1, 2]}',
    "format": "%s%n{0}{user.__class__}%(x)s",
    "surrogate": "lone\ud800",
}
CONTROL = {"nul", "control", "newline", "del", "surrogate"}
# text fields: (method, path, body for a value, where to read it back, refused)
TEXT_FIELDS: dict[str, tuple[str, str, Callable[[str], dict], Callable[[dict], Any], set[str]]] = {
    "workflow_name": (
        "POST",
        "/workflows",
        lambda v: {"name": v},
        lambda out: out["name"],
        CONTROL | {"combining"},
    ),
    "workflow_description": (
        "POST",
        "/workflows",
        lambda v: {"name": "described", "description": v},
        lambda out: out["description"],
        {"nul", "surrogate"},
    ),
    "step_name": (
        "PUT",
        "/workflows/{alpha}/steps/{step}",
        lambda v: {"name": v},
        lambda out: next(s["name"] for s in out["steps"] if s["id"] == "upper"),
        CONTROL | {"combining"},
    ),
    "static_value": (
        "PUT",
        "/workflows/{alpha}/steps/{step}/inputs/text",
        lambda v: {"value": v},
        lambda out: next(
            i["value"]
            for s in out["steps"]
            if s["id"] == "upper"
            for i in s["inputs"]
            if i["name"] == "text"
        ),
        {"nul", "surrogate"},
    ),
    "variable_value": (
        "PUT",
        "/variables/{greeting}",
        lambda v: {"value": v},
        lambda out: out["value"],
        {"nul", "control", "del", "surrogate"},
    ),
    "variable_description": (
        "PUT",
        "/variables/{greeting}",
        lambda v: {"description": v},
        lambda out: out["description"],
        {"nul", "surrogate"},
    ),
}


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("text_field", TEXT_FIELDS)
async def test_injection_is_refused_or_kept_verbatim(
    world, text_field: str, injection: str
) -> None:
    method, path, body_for, read_back, refused = TEXT_FIELDS[text_field]
    value = INJECTIONS[injection]
    payload = json.dumps(body_for(value)).encode()  # json.dumps escapes lone surrogates
    headers = world.api.dev | {"Content-Type": "application/json"}
    if injection in refused:
        await world.refused(method, path, 422, content=payload, headers=headers)
        return
    response = await world.client.request(method, world.url(path), content=payload, headers=headers)
    assert response.status_code in (200, 201), response.text
    assert read_back(response.json()) == value
    if method == "POST":  # read it again from the database
        again = await world.client.get(
            world.url(f"/workflows/{response.json()['id']}"), headers=world.api.dev
        )
        assert read_back(again.json()) == value
        await world.client.delete(
            world.url(f"/workflows/{response.json()['id']}"), headers=world.api.dev
        )


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("path", ["/actions", "/workflows"])
async def test_search_with_injection_finds_nothing_or_is_422(
    world, path: str, injection: str
) -> None:
    value = INJECTIONS[injection]
    if injection in ("nul", "combining"):  # NUL cannot be searched; 301 > 100 characters
        await world.refused("GET", path, 422, field="search", params={"search": value})
        return
    if injection == "surrogate":  # not even sendable in a URL
        return
    response = await world.client.get(
        world.url(path), params={"search": value}, headers=world.api.dev
    )
    assert response.status_code == 200, response.text
    for item in response.json()["items"]:
        text = " ".join(str(item.get(k)) for k in ("name", "human_name", "description"))
        assert value.casefold() in text.casefold(), item


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "trigger"},
        {"kind": "Source"},
        {"kind": ""},
        {"category": "c" * 65},
        {"category": "nul\x00"},
    ],
)
async def test_bad_library_filters_are_422(world, params: dict[str, str]) -> None:
    await world.refused("GET", "/actions", 422, params=params)


@pytest.mark.parametrize("params", [{"status": "running"}, {"status": "DEPLOYED"}, {"status": ""}])
async def test_bad_status_filter_is_422(world, params: dict[str, str]) -> None:
    await world.refused("GET", "/workflows", 422, field="status", params=params)


@pytest.mark.parametrize("params", [{"format": "tar"}, {"format": ""}])
async def test_bad_export_format_is_422(world, params: dict[str, str]) -> None:
    await world.refused("GET", "/workflows/{alpha}/export", 422, field="format", params=params)


# pagination -----------------------------------------------------------------------------------

BAD_PAGES = [
    ({"limit": 0}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": "9" * 40}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "x" * 513}, "cursor"),
    ({"cursor": cursor_of("not a pair")}, "cursor"),
    ({"cursor": cursor_of([1, 2])}, "cursor"),
    ({"cursor": cursor_of(["yesterday", "x"])}, "cursor"),
    ({"cursor": cursor_of(["2024-01-01T00:00:00+00:00", "nul\x00"])}, "cursor"),
    ({"cursor": cursor_of(["0001-01-01T00:00:00+14:00", "x"])}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode()}, "cursor"),
]


@pytest.mark.parametrize("path", ["/actions", "/workflows", "/variables"])
@pytest.mark.parametrize(("params", "field"), BAD_PAGES)
async def test_bad_page_is_422_naming_the_parameter(
    world, path: str, params: dict[str, Any], field: str
) -> None:
    await world.refused("GET", path, 422, field=field, params=params)
