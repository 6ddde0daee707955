"""Bad ids and bad callers: unknown or invisible ids are 404, missing rights 403, state
conflicts 409, wrong methods 405 and unknown paths 404, all in the contract's shape and
without changing data.

Cases share one ``world`` (see conftest) and each compares table snapshots before and after.
"""

from typing import Any
from urllib.parse import quote

import pytest

# every route with an id in its path; {id} is the id under test
ID_ROUTES = [
    ("GET", "/users/{id}", None, "user_id"),
    ("PUT", "/users/{id}", {"full_name": "x"}, "user_id"),
    ("DELETE", "/users/{id}", None, "user_id"),
    ("GET", "/projects/{id}", None, "project_id"),
    ("PUT", "/projects/{id}", {"description": "x"}, "project_id"),
    ("DELETE", "/projects/{id}", None, "project_id"),
    ("GET", "/projects/{id}/members", None, "project_id"),
    ("POST", "/projects/{id}/members", {"user_id": "{bob_id}"}, "project_id"),
    ("PUT", "/projects/{id}/members/{alice_id}", {"role": "user"}, "project_id"),
    ("DELETE", "/projects/{id}/members/{alice_id}", None, "project_id"),
    ("PUT", "/projects/{alpha}/members/{id}", {"role": "user"}, "user_id"),
    ("DELETE", "/projects/{alpha}/members/{id}", None, "user_id"),
    ("POST", "/projects/{id}/current", None, "project_id"),
    ("DELETE", "/tokens/{id}", None, "token_id"),
]
# name: (id, status, whether the error names the path parameter)
ODD_IDS = {
    "uuid": ("01900000-0000-7000-8000-000000000000", 404, True),
    "word": ("nope", 404, True),
    "blank": (" ", 404, True),
    "sql_drop": ("'; DROP TABLE users; --", 404, True),
    "sql_or": ('" OR 1=1 --', 404, True),
    "emoji": ("🦄", 404, True),
    "rtl": ("\u202eabc", 404, True),
    "format": ("%s%n{0}", 404, True),
    "json": ('{"id": 1}', 404, True),
    "html": ("<script>", 404, True),
    "longest": ("x" * 64, 404, True),
    "too_long": ("x" * 65, 422, True),
    "huge": ("x" * 10_000, 422, True),
    "nul": ("a\x00b", 422, True),
    "traversal": ("../../etc/passwd", 404, False),  # no route has slashes in an id
}


def resolve(world: Any, body: dict[str, Any] | None) -> dict[str, Any] | None:
    """Body values like ``{bob_id}`` name ids of the world."""
    if body is None:
        return None
    return {k: v.format(**world.ids) for k, v in body.items()}


@pytest.mark.parametrize("odd", ODD_IDS)
@pytest.mark.parametrize(("method", "path", "body", "param"), ID_ROUTES)
async def test_unknown_or_odd_id_is_404_or_422(
    world, method: str, path: str, body: Any, param: str, odd: str
) -> None:
    value, status, names_param = ODD_IDS[odd]
    url = world.url(path.replace("{id}", quote(value, safe="")))
    field = param if names_param else None
    kwargs = {"json": resolve(world, body)} if body else {}
    await world.refused(method, url, status, field=field, headers=world.admin, **kwargs)


# another project's ids ------------------------------------------------------------------------

FOREIGN_ROUTES = [
    ("GET", "/projects/{p}", None),
    ("PUT", "/projects/{p}", {"name": "hijacked"}),
    ("PUT", "/projects/{p}", {"description": "defaced"}),
    ("DELETE", "/projects/{p}", None),
    ("GET", "/projects/{p}/members", None),
    ("POST", "/projects/{p}/members", {"user_id": "{me}", "role": "admin"}),
    ("PUT", "/projects/{p}/members/{member}", {"role": "user"}),
    ("DELETE", "/projects/{p}/members/{member}", None),
    ("POST", "/projects/{p}/current", None),
]
# caller, a project they are not in, a member of it
OUTSIDERS = [("bob", "alpha", "alice"), ("alice", "beta", "bob")]


@pytest.mark.parametrize(("caller", "project", "member"), OUTSIDERS)
@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_ROUTES)
async def test_another_projects_id_is_404_not_403(
    world, method: str, path: str, body: Any, caller: str, project: str, member: str
) -> None:
    ids = {"p": "{" + project + "}", "member": "{" + member + "_id}", "me": "{" + caller + "_id}"}
    path = path.format(**ids)
    kwargs = {"json": resolve(world, {k: v.format(**ids) for k, v in body.items()})} if body else {}
    headers = getattr(world, caller)
    body = await world.refused(method, path, 404, field="project_id", headers=headers, **kwargs)
    assert project not in body["detail"]  # not even the name leaks


@pytest.mark.parametrize("permission", [None, "project:read", "workflow:write"])
@pytest.mark.parametrize(
    ("caller", "project"),
    [("bob", "{alpha}"), ("alice", "{beta}"), ("bob", "no-such-project"), ("alice", "🦄")],
)
async def test_authorize_in_another_project_says_no(
    world, caller: str, project: str, permission: str | None
) -> None:
    header = project.format(**world.ids)
    headers = getattr(world, caller) | {"X-Oryx-Project": header.encode()}
    params = {"permission": permission} if permission else {}
    before = await world.snapshot()
    response = await world.client.get(world.url("/authorize"), headers=headers, params=params)
    assert response.status_code == 200, response.text
    decision = response.json()
    assert decision["allowed"] is False
    assert decision["project_id"] is None and decision["project_role"] is None
    assert decision["user_id"] == getattr(world, f"{caller}_id")
    assert await world.snapshot() == before


@pytest.mark.parametrize(("value", "status"), [("x" * 65, 422), ("a\x00b", 422)])
async def test_authorize_with_an_impossible_project_header_is_422(
    world, value: str, status: int
) -> None:
    headers = world.bob | {"X-Oryx-Project": value}
    await world.refused("GET", "/authorize", status, field="X-Oryx-Project", headers=headers)


async def test_outsider_does_not_see_the_project_in_lists(world) -> None:
    response = await world.client.get(world.url("/projects"), headers=world.bob)
    assert [p["id"] for p in response.json()["items"]] == [world.beta]


@pytest.mark.parametrize(
    ("caller", "token"),
    [("bob", "{alice_token_id}"), ("bob", "{bob_login_token_id}"), ("admin", "{alice_token_id}")],
)
async def test_someone_elses_token_or_a_login_token_is_404(world, caller: str, token: str) -> None:
    headers = getattr(world, caller)
    await world.refused("DELETE", f"/tokens/{token}", 404, field="token_id", headers=headers)


# a role without the permission ----------------------------------------------------------------

FORBIDDEN = [
    ("bob", "GET", "/users", None),
    ("bob", "POST", "/users", {"username": "mallory", "password": "mallory-password"}),
    ("bob", "POST", "/users", {"username": "mallory", "password": "mallory-pw", "role": "admin"}),
    ("bob", "GET", "/users/{alice_id}", None),
    ("bob", "GET", "/users/{bob_id}", None),
    ("bob", "PUT", "/users/{bob_id}", {"role": "admin"}),
    ("bob", "PUT", "/users/{alice_id}", {"password": "taken-over-password"}),
    ("bob", "DELETE", "/users/{alice_id}", None),
    ("bob", "POST", "/projects", {"name": "bobs-project"}),
    ("bob", "DELETE", "/projects/{beta}", None),
    ("bob", "PUT", "/projects/{beta}", {"name": "renamed"}),
    ("bob", "PUT", "/projects/{beta}", {"description": "defaced"}),
    ("bob", "POST", "/projects/{beta}/members", {"user_id": "{alice_id}", "role": "admin"}),
    ("bob", "PUT", "/projects/{beta}/members/{bob_id}", {"role": "admin"}),
    ("bob", "DELETE", "/projects/{beta}/members/{bob_id}", None),
    ("alice", "GET", "/users", None),
    ("alice", "POST", "/users", {"username": "mallory", "password": "mallory-password"}),
    ("alice", "GET", "/users/{bob_id}", None),
    ("alice", "PUT", "/users/{alice_id}", {"role": "admin"}),
    ("alice", "DELETE", "/users/{bob_id}", None),
    ("alice", "POST", "/projects", {"name": "alices-project"}),
    ("alice", "DELETE", "/projects/{alpha}", None),
    ("alice", "PUT", "/projects/{alpha}", {"name": "renamed"}),
    ("alice", "PUT", "/projects/{alpha}", {"description": "defaced"}),
    ("alice", "POST", "/projects/{alpha}/members", {"user_id": "{bob_id}", "role": "user"}),
    ("alice", "PUT", "/projects/{alpha}/members/{alice_id}", {"role": "admin"}),
    ("alice", "DELETE", "/projects/{alpha}/members/{alice_id}", None),
]


@pytest.mark.parametrize(("caller", "method", "path", "body"), FORBIDDEN)
async def test_role_without_the_permission_is_403(
    world, caller: str, method: str, path: str, body: Any
) -> None:
    kwargs = {"json": resolve(world, body)} if body else {}
    headers = getattr(world, caller)
    await world.refused(method, path, 403, code="permission_denied", headers=headers, **kwargs)


# conflicts ------------------------------------------------------------------------------------

CONFLICTS = [
    ("PUT", "/users/{admin_id}", {"role": "user"}, "role"),
    ("PUT", "/users/{admin_id}", {"role": "developer", "full_name": "Demoted"}, "role"),
    ("DELETE", "/users/{admin_id}", None, "user_id"),
    ("POST", "/users", {"username": "alice", "password": "another-password"}, "username"),
    (
        "POST",
        "/users",
        {"username": "admin", "password": "x-password", "role": "admin"},
        "username",
    ),
    ("POST", "/projects", {"name": "alpha"}, "name"),
    ("POST", "/projects", {"name": "  alpha  ", "description": "twin"}, "name"),
    ("PUT", "/projects/{beta}", {"name": "alpha"}, "name"),
    ("PUT", "/projects/{beta}", {"name": "alpha", "description": "x"}, "name"),
    ("POST", "/projects/{alpha}/members", {"user_id": "{alice_id}", "role": "admin"}, "user_id"),
    ("POST", "/projects/{beta}/members", {"user_id": "{bob_id}"}, "user_id"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), CONFLICTS)
async def test_conflict_is_409(world, method: str, path: str, body: Any, field: str) -> None:
    kwargs = {"json": resolve(world, body)} if body else {}
    await world.refused(method, path, 409, field=field, headers=world.admin, **kwargs)


# methods and paths ----------------------------------------------------------------------------

NOT_ALLOWED = [
    ("PATCH", "/users", "GET, POST"),
    ("DELETE", "/users", "GET, POST"),
    ("PATCH", "/users/{alice_id}", "DELETE, GET, PUT"),
    ("POST", "/users/{alice_id}", "DELETE, GET, PUT"),
    ("PATCH", "/me", "GET, PUT"),
    ("DELETE", "/me", "GET, PUT"),
    ("GET", "/login", "POST"),
    ("PUT", "/login", "POST"),
    ("GET", "/logout", "POST"),
    ("POST", "/authorize", "GET"),
    ("PUT", "/tokens", "GET, POST"),
    ("GET", "/tokens/{alice_token_id}", "DELETE"),
    ("PATCH", "/projects/{alpha}", "DELETE, GET, PUT"),
    ("GET", "/projects/{alpha}/current", "POST"),
    ("PATCH", "/projects/{alpha}/members/{alice_id}", "DELETE, PUT"),
    ("DELETE", "/healthz", "GET"),
]


@pytest.mark.parametrize(("method", "path", "allowed"), NOT_ALLOWED)
async def test_method_not_allowed_is_405(world, method: str, path: str, allowed: str) -> None:
    body = await world.refused(method, path, 405, field=None, headers=world.admin)
    assert allowed in body["detail"]
    response = await world.client.request(method, world.url(path), headers=world.admin)
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    [
        "/authorization",
        "/authorization/",
        "/authorization/nope",
        "/authorization/admin",
        "/authorization/users/{alice_id}/tokens",
        "/authorization/projects/{alpha}/members/{alice_id}/extra",
        "/authorization/tokens/a/b",
        "/authorization/users/..%2F..%2Fetc%2Fpasswd",
        "/authorization/%00",
        "http://oryx/nope",
    ],
)
async def test_unknown_path_is_404(world, path: str, method: str) -> None:
    url = path.format(**world.ids)
    body = await world.refused(method, url, 404, code="not_found", field=None, headers=world.admin)
    assert "openapi.json" in body["detail"]
