"""Bad ids and bad callers on every studio route: unknown or odd ids are 404 (422 when they
cannot be ids at all), another project's ids are 404, links that break the graph or reach a
step of another workflow are refused, missing rights are 401/403, wrong methods 405 and
unknown paths 404; all in the contract's shape and without changing data.

Cases share one ``world`` (see conftest) and each compares table snapshots before and after.
"""

from typing import Any
from urllib.parse import quote

import pytest

# every route with an id in its path; {id} is the id under test, then the field it names
ID_ROUTES = [
    ("GET", "/actions/{id}", None, "action_id"),
    ("DELETE", "/actions/{id}", None, "action_id"),
    ("GET", "/actions/{id}/versions", None, "action_id"),
    ("GET", "/actions/{id}/logo", None, "action_id"),
    ("GET", "/workflows/{id}", None, "workflow_id"),
    ("PUT", "/workflows/{id}", {"name": "x"}, "workflow_id"),
    ("DELETE", "/workflows/{id}", None, "workflow_id"),
    ("POST", "/workflows/{id}/steps", {"action_id": "{upper}"}, "workflow_id"),
    ("PUT", "/workflows/{id}/steps/{step}", {"name": "x"}, "workflow_id"),
    ("DELETE", "/workflows/{id}/steps/{step}", None, "workflow_id"),
    ("PUT", "/workflows/{alpha}/steps/{id}", {"name": "x"}, "step_id"),
    ("DELETE", "/workflows/{alpha}/steps/{id}", None, "step_id"),
    ("PUT", "/workflows/{id}/links", [], "workflow_id"),
    ("PUT", "/workflows/{id}/steps/{step}/inputs/text", {"value": "x"}, "workflow_id"),
    ("PUT", "/workflows/{alpha}/steps/{id}/inputs/text", {"value": "x"}, "step_id"),
    ("PUT", "/workflows/{alpha}/steps/{step}/inputs/{id}", {"value": "x"}, "name"),
    ("DELETE", "/workflows/{alpha}/steps/{step}/inputs/{id}", None, "name"),
    ("GET", "/workflows/{id}/errors", None, "workflow_id"),
    ("PUT", "/workflows/{id}/results", [], "workflow_id"),
    ("PUT", "/workflows/{id}/endpoint", {"path": "p"}, "workflow_id"),
    ("POST", "/workflows/{id}/deploy", None, "workflow_id"),
    ("POST", "/workflows/{id}/undeploy", None, "workflow_id"),
    ("GET", "/workflows/{id}/export", None, "workflow_id"),
    ("GET", "/variables/{id}", None, "variable_id"),
    ("PUT", "/variables/{id}", {"value": "x"}, "variable_id"),
    ("DELETE", "/variables/{id}", None, "variable_id"),
]
# name: (id, status, whether the error names the path parameter)
ODD_IDS = {
    "uuid": ("01900000-0000-7000-8000-000000000000", 404, True),
    "word": ("nope", 404, True),
    "blank": (" ", 404, True),
    "sql_drop": ("'; DROP TABLE workflows; --", 404, True),
    "emoji": ("🦄", 404, True),
    "format": ("%s%n{0}", 404, True),
    "html": ("<script>", 404, True),
    "longest": ("x" * 64, 404, True),
    "too_long": ("x" * 65, 422, True),
    "nul": ("a\x00b", 422, True),
    "traversal": ("../../etc/passwd", 404, False),  # no route has slashes in an id
}


def fill(world: Any, body: Any) -> Any:
    if isinstance(body, dict):
        return {k: fill(world, v) for k, v in body.items()}
    if isinstance(body, str) and body.startswith("{") and body.endswith("}"):
        return world.ids.get(body[1:-1], body)
    return body


@pytest.mark.parametrize("odd", ODD_IDS)
@pytest.mark.parametrize(("method", "path", "body", "param"), ID_ROUTES)
async def test_unknown_or_odd_id_is_404_or_422(
    world, method: str, path: str, body: Any, param: str, odd: str
) -> None:
    value, status, names_param = ODD_IDS[odd]
    url = world.url(path.replace("{id}", quote(value, safe="")))
    field = param if names_param else None
    kwargs = {"json": fill(world, body)} if body is not None else {}
    await world.refused(method, url, status, field=field, **kwargs)


# another project's ids ------------------------------------------------------------------------

FOREIGN = [
    # p1's ids seen by p2's developer
    ("outsider", "GET", "/workflows/{alpha}", None),
    ("outsider", "PUT", "/workflows/{alpha}", {"name": "hijacked"}),
    ("outsider", "DELETE", "/workflows/{alpha}", None),
    ("outsider", "POST", "/workflows/{alpha}/steps", {"action_id": "builtin-cron"}),
    ("outsider", "PUT", "/workflows/{alpha}/steps/{step}", {"name": "x"}),
    ("outsider", "DELETE", "/workflows/{alpha}/steps/{step}", None),
    ("outsider", "PUT", "/workflows/{alpha}/links", []),
    ("outsider", "PUT", "/workflows/{alpha}/steps/{step}/inputs/text", {"value": "x"}),
    ("outsider", "GET", "/workflows/{alpha}/errors", None),
    ("outsider", "POST", "/workflows/{alpha}/deploy", None),
    ("outsider", "GET", "/workflows/{alpha}/export", None),
    ("outsider", "GET", "/actions/{upper}", None),
    ("outsider", "DELETE", "/actions/{upper}", None),
    ("outsider", "GET", "/variables/{token}", None),
    ("outsider", "PUT", "/variables/{token}", {"value": "stolen"}),
    ("outsider", "DELETE", "/variables/{token}", None),
    # p2's ids used by p1's developer, in paths and in bodies
    ("developer", "GET", "/workflows/{beta}", None),
    ("developer", "GET", "/actions/{theirs}", None),
    ("developer", "GET", "/variables/{theirs_var}", None),
    ("developer", "POST", "/workflows", {"name": "copy", "from_workflow_id": "{beta}"}),
    ("developer", "POST", "/workflows/{solo}/steps", {"action_id": "{theirs}"}),
    (
        "developer",
        "PUT",
        "/workflows/{alpha}/steps/{step}/inputs/text",
        {"variable_id": "{theirs_var}"},
    ),
]


@pytest.mark.parametrize(("who", "method", "path", "body"), FOREIGN)
async def test_another_projects_ids_are_404(world, who: str, method: str, path: str, body) -> None:
    kwargs = {"json": fill(world, body)} if body is not None else {}
    await world.refused(method, path, 404, headers=world.api.headers(who), **kwargs)


async def test_naming_another_project_in_the_header_is_404(world) -> None:
    headers = world.api.headers("developer", project=world.ids["p2"])
    await world.refused("GET", "/workflows", 404, field="X-Oryx-Project", headers=headers)
    headers = world.api.headers("developer", project="no-such-project")
    await world.refused("GET", "/actions", 404, field="X-Oryx-Project", headers=headers)


# the graph under attack -----------------------------------------------------------------------

GRAPH = [
    # links: (pairs, status, code, field)
    ([("upper", "upper")], 422, "self_link", "links[0]"),
    ([("emit-every", "upper"), ("upper", "sink"), ("sink", "upper")], 422, "cycle", "links"),
    ([("sink", "sink"), ("emit-every", "upper")], 422, "self_link", "links[0]"),
    ([("upper", "emit-every")], 422, "trigger_has_parent", "links[0].to_step_id"),
    ([("emit-every", "upper"), ("emit-every", "upper")], 422, "duplicate_link", "links[1]"),
    ([("emit-every", "{beta_only}")], 404, "not_found", "links[0].to_step_id"),
    ([("{beta_only}", "upper")], 404, "not_found", "links[0].from_step_id"),
]


@pytest.mark.parametrize(("pairs", "status", "code", "field"), GRAPH)
async def test_links_that_break_the_graph_are_refused(
    world, pairs, status: int, code: str, field: str
) -> None:
    body = [{"from_step_id": fill(world, a), "to_step_id": fill(world, b)} for a, b in pairs]
    await world.refused(
        "PUT", "/workflows/{alpha}/links", status, code=code, field=field, json=body
    )


STEPS = [
    # (path, body, status, code, field)
    (
        "/workflows/{alpha}/steps",
        {"action_id": "builtin-cron"},
        409,
        "multiple_triggers",
        "action_id",
    ),
    (
        "/workflows/{solo}/steps",
        {"action_id": "builtin-cron", "after_step_id": "upper"},
        404,
        "not_found",
        "after_step_id",
    ),
    (
        "/workflows/{alpha}/steps",
        {"action_id": "builtin-manual", "after_step_id": "upper"},
        422,
        "trigger_has_parent",
        "after_step_id",
    ),
    (
        "/workflows/{alpha}/steps",
        {"action_id": "{upper}", "after_step_id": "{beta_only}"},
        404,
        "not_found",
        "after_step_id",
    ),
    (
        "/workflows/{alpha}/steps",
        {"action_id": "{upper}", "action_version": "0.1"},
        404,
        "not_found",
        "action_version",
    ),
    ("/workflows/{alpha}/steps", {"action_id": "builtin-nothing"}, 404, "not_found", "action_id"),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "field"), STEPS)
async def test_steps_that_break_the_graph_are_refused(
    world, path: str, body, status: int, code: str, field: str
) -> None:
    await world.refused("POST", path, status, code=code, field=field, json=fill(world, body))


INPUTS = [
    # a reference to a step of another workflow, downstream, itself, or an unknown output
    ({"from": {"step_id": "{beta_only}", "output": "text"}}, 404, "not_found", "from.step_id"),
    ({"from": {"step_id": "sink", "output": "text"}}, 422, "not_upstream", "from.step_id"),
    ({"from": {"step_id": "upper", "output": "text"}}, 422, "not_upstream", "from.step_id"),
    ({"from": {"step_id": "emit-every", "output": "nope"}}, 422, "unknown_output", "from.output"),
    ({"variable_id": "nope"}, 404, "not_found", "variable_id"),
    ({"value": 1}, 422, "type_mismatch", "value"),
]


@pytest.mark.parametrize(("body", "status", "code", "field"), INPUTS)
async def test_inputs_that_break_the_rules_are_refused(
    world, body, status: int, code: str, field: str
) -> None:
    filled = {k: fill(world, v) for k, v in body.items()}
    await world.refused(
        "PUT",
        "/workflows/{alpha}/steps/{step}/inputs/text",
        status,
        code=code,
        field=field,
        json=filled,
    )


async def test_a_file_upload_to_a_step_of_another_workflow_is_404(world) -> None:
    path = "/workflows/{alpha}/steps/{beta_only}/inputs/doc/file"
    await world.refused("POST", path, 404, field="step_id", files={"file": ("a", b"a")})


# callers --------------------------------------------------------------------------------------

WRITES = [
    ("POST", "/workflows", {"name": "x"}),
    ("PUT", "/workflows/{alpha}", {"name": "x"}),
    ("DELETE", "/workflows/{solo}", None),
    ("POST", "/workflows/{alpha}/steps", {"action_id": "{upper}"}),
    ("PUT", "/workflows/{alpha}/links", []),
    ("PUT", "/workflows/{alpha}/steps/{step}/inputs/text", {"value": "x"}),
    ("PUT", "/workflows/{alpha}/results", []),
    ("POST", "/workflows/{alpha}/deploy", None),
    ("POST", "/workflows/{alpha}/undeploy", None),
    ("POST", "/workflows/import", None),
    ("DELETE", "/actions/{upper}", None),
    ("POST", "/variables", {"name": "v", "type": "string", "value": "x"}),
    ("PUT", "/variables/{greeting}", {"value": "x"}),
    ("DELETE", "/variables/{greeting}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_a_project_user_may_read_but_not_write(world, method: str, path: str, body) -> None:
    kwargs = {"json": fill(world, body)} if body is not None else {}
    await world.refused(method, path, 403, headers=world.api.headers("viewer"), **kwargs)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6c2VjcmV0"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer " + "x" * 2000},
    ],
    ids=["none", "empty", "basic", "unknown", "huge"],
)
@pytest.mark.parametrize("path", ["/actions", "/workflows/{alpha}", "/variables"])
async def test_without_a_valid_token_is_401(world, headers: dict[str, str], path: str) -> None:
    await world.refused("GET", path, 401, headers=headers)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("PATCH", "/workflows/{alpha}", 405),
        ("POST", "/actions", 405),
        ("GET", "/workflows/{alpha}/deploy", 405),
        ("GET", "/workflows/{alpha}/steps/{step}/inputs/text/file", 405),
        ("GET", "/nothing-here", 404),
        ("GET", "/workflows/{alpha}/steps", 405),
    ],
)
async def test_wrong_method_or_path(world, method: str, path: str, status: int) -> None:
    await world.refused(method, path, status)


async def test_refused_requests_left_the_world_usable(world) -> None:
    """After all of the above, alpha is still what it was: three steps, two links."""
    got = await world.client.get(world.url("/workflows/{alpha}"), headers=world.api.dev)
    assert got.status_code == 200
    assert [s["id"] for s in got.json()["steps"]] == ["emit-every", "upper", "sink"]
    assert len(got.json()["links"]) == 2
