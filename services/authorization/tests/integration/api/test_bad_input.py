"""Bad input in bodies and query strings: every refusal is a 4xx of the contract's shape and
leaves the tables as they were; free text comes back verbatim.

Cases share one ``world`` (see conftest) and each compares table snapshots before and after.
"""

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

ADMIN_PASSWORD = "admin-password-for-tests"
MISSING = object()
"""An override that removes the field from the body."""
BIG = "x" * 10_000

# name: (method, path, caller, valid body); a case overrides one field of the body
ROUTES: dict[str, tuple[str, str, str | None, Callable[[Any], dict[str, Any]]]] = {
    "login": ("POST", "/login", None, lambda w: {"username": "nobody", "password": "nope-nope"}),
    "create_user": (
        "POST",
        "/users",
        "admin",
        lambda w: {"username": "newbie", "password": "newbie-password"},
    ),
    "update_user": ("PUT", "/users/{bob_id}", "admin", lambda w: {"full_name": "Bob"}),
    "update_me": ("PUT", "/me", "admin", lambda w: {"full_name": "Admin"}),
    "create_project": ("POST", "/projects", "admin", lambda w: {"name": "gamma"}),
    "update_project": ("PUT", "/projects/{alpha}", "admin", lambda w: {"description": "d"}),
    "add_member": (
        "POST",
        "/projects/{alpha}/members",
        "admin",
        lambda w: {"user_id": w.bob_id, "role": "user"},
    ),
    "change_member": (
        "PUT",
        "/projects/{alpha}/members/{alice_id}",
        "admin",
        lambda w: {"role": "user"},
    ),
    "create_token": ("POST", "/tokens", "admin", lambda w: {"name": "ci"}),
}


def request_for(world: Any, route: str, override: dict[str, Any]) -> tuple[str, str, dict]:
    method, path, caller, valid = ROUTES[route]
    body = {k: v for k, v in (valid(world) | override).items() if v is not MISSING}
    headers = getattr(world, caller) if caller else {}
    return method, path, {"json": body, "headers": headers}


def cursor_of(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# malformed bodies -----------------------------------------------------------------------------

MALFORMED = {
    # name: (raw body, content type, code)
    "truncated": (b'{"name": "x"', "application/json", "malformed_json"),
    "not_json": (b"name=x&role=admin", "application/json", "malformed_json"),
    "single_quotes": (b"{'name': 'x'}", "application/json", "malformed_json"),
    "trailing_comma": (b'{"name": "x",}', "application/json", "malformed_json"),
    "not_utf8": (b'{"name": "\xff\xfe"}', "application/json", "malformed_json"),
    "nested_too_deep": (b"[" * 100_000, "application/json", "malformed_json"),
    "array": (b'[{"name": "x"}]', "application/json", "invalid_input"),
    "null": (b"null", "application/json", "invalid_input"),
    "string": (b'"name"', "application/json", "invalid_input"),
    "number": (b"42", "application/json", "invalid_input"),
    "empty": (b"", "application/json", "invalid_input"),
    "text_plain": (b'{"name": "x"}', "text/plain", "invalid_input"),
    "form": (b"name=x", "application/x-www-form-urlencoded", "invalid_input"),
    "no_content_type": (b'{"name": "x"}', None, "invalid_input"),
}


@pytest.mark.parametrize("kind", MALFORMED)
@pytest.mark.parametrize("route", ROUTES)
async def test_malformed_body_is_422(world, route: str, kind: str) -> None:
    method, path, kwargs = request_for(world, route, {})
    content, content_type, code = MALFORMED[kind]
    headers = kwargs["headers"] | ({"Content-Type": content_type} if content_type else {})
    body = await world.refused(
        method, path, 422, code=code, field=None, content=content, headers=headers
    )
    if kind in ("text_plain", "form", "no_content_type", "empty"):
        assert "Content-Type: application/json" in body["detail"]


# wrong types, unknown fields, unknown enum values ---------------------------------------------

WRONG_INPUT = [
    ("login", {"username": 123}, "username"),
    ("login", {"username": None}, "username"),
    ("login", {"username": ["admin"]}, "username"),
    ("login", {"username": MISSING}, "username"),
    ("login", {"password": 12345678}, "password"),
    ("login", {"password": True}, "password"),
    ("login", {"password": {"$ne": ""}}, "password"),
    ("login", {"password": MISSING}, "password"),
    ("login", {"otp": "123456"}, "otp"),
    ("create_user", {"username": 42}, "username"),
    ("create_user", {"username": None}, "username"),
    ("create_user", {"username": MISSING}, "username"),
    ("create_user", {"password": 12345678}, "password"),
    ("create_user", {"password": None}, "password"),
    ("create_user", {"password": MISSING}, "password"),
    ("create_user", {"role": "superuser"}, "role"),
    ("create_user", {"role": "ADMIN"}, "role"),
    ("create_user", {"role": ""}, "role"),
    ("create_user", {"role": 1}, "role"),
    ("create_user", {"role": None}, "role"),
    ("create_user", {"role": ["admin"]}, "role"),
    ("create_user", {"email": 5}, "email"),
    ("create_user", {"email": "not-an-email"}, "email"),
    ("create_user", {"full_name": 7}, "full_name"),
    ("create_user", {"full_name": None}, "full_name"),
    ("create_user", {"full_name": {"first": "Ann"}}, "full_name"),
    ("create_user", {"is_admin": True}, "is_admin"),
    ("create_user", {"id": "00000000-0000-7000-8000-000000000000"}, "id"),
    ("update_user", {"role": "superuser"}, "role"),
    ("update_user", {"role": 0}, "role"),
    ("update_user", {"email": []}, "email"),
    ("update_user", {"full_name": False}, "full_name"),
    ("update_user", {"password": 123456789}, "password"),
    ("update_user", {"username": "bobby"}, "username"),
    ("update_me", {"role": "admin"}, "role"),
    ("update_me", {"username": "root"}, "username"),
    ("update_me", {"email": True}, "email"),
    ("update_me", {"full_name": 3.14}, "full_name"),
    ("update_me", {"new_password": 12345678, "current_password": ADMIN_PASSWORD}, "new_password"),
    ("update_me", {"current_password": ["x"]}, "current_password"),
    ("create_project", {"name": 1}, "name"),
    ("create_project", {"name": None}, "name"),
    ("create_project", {"name": True}, "name"),
    ("create_project", {"name": ["gamma"]}, "name"),
    ("create_project", {"name": MISSING}, "name"),
    ("create_project", {"description": None}, "description"),
    ("create_project", {"description": 5}, "description"),
    ("create_project", {"id": "x"}, "id"),
    ("create_project", {"members": []}, "members"),
    ("update_project", {"name": 1}, "name"),
    ("update_project", {"description": {"text": "d"}}, "description"),
    ("update_project", {"owner": "bob"}, "owner"),
    ("add_member", {"user_id": 1}, "user_id"),
    ("add_member", {"user_id": None}, "user_id"),
    ("add_member", {"user_id": ""}, "user_id"),
    ("add_member", {"user_id": MISSING}, "user_id"),
    ("add_member", {"role": "superuser"}, "role"),
    ("add_member", {"role": "owner"}, "role"),
    ("add_member", {"role": None}, "role"),
    ("add_member", {"project_id": "x"}, "project_id"),
    ("change_member", {"role": "superuser"}, "role"),
    ("change_member", {"role": None}, "role"),
    ("change_member", {"role": 2}, "role"),
    ("change_member", {"role": MISSING}, "role"),
    ("change_member", {"user_id": "x"}, "user_id"),
    ("create_token", {"name": 1}, "name"),
    ("create_token", {"name": None}, "name"),
    ("create_token", {"name": MISSING}, "name"),
    ("create_token", {"expires_in_days": "abc"}, "expires_in_days"),
    ("create_token", {"expires_in_days": "30"}, "expires_in_days"),
    ("create_token", {"expires_in_days": True}, "expires_in_days"),
    ("create_token", {"expires_in_days": 1.5}, "expires_in_days"),
    ("create_token", {"expires_in_days": 30.0}, "expires_in_days"),
    ("create_token", {"expires_in_days": None}, "expires_in_days"),
    ("create_token", {"expires_in_days": 0}, "expires_in_days"),
    ("create_token", {"expires_in_days": -1}, "expires_in_days"),
    ("create_token", {"expires_in_days": 367}, "expires_in_days"),
    ("create_token", {"expires_in_days": 10**100}, "expires_in_days"),
    ("create_token", {"scopes": ["admin"]}, "scopes"),
]


@pytest.mark.parametrize(("route", "override", "field"), WRONG_INPUT)
async def test_wrong_type_unknown_field_or_value_is_422_naming_the_field(
    world, route: str, override: dict[str, Any], field: str
) -> None:
    method, path, kwargs = request_for(world, route, override)
    body = await world.refused(method, path, 422, field=field, **kwargs)
    assert field in body["detail"]


# oversized fields -----------------------------------------------------------------------------

OVERSIZED = [
    ("login", {"username": BIG}, "username"),
    ("login", {"password": BIG}, "password"),
    ("create_user", {"username": "a" * 64}, "username"),
    ("create_user", {"username": BIG}, "username"),
    ("create_user", {"password": "p" * 257}, "password"),
    ("create_user", {"password": BIG}, "password"),
    ("create_user", {"full_name": "f" * 201}, "full_name"),
    ("create_user", {"full_name": BIG}, "full_name"),
    ("create_user", {"email": "a" * 10_000 + "@example.com"}, "email"),
    ("update_user", {"password": BIG}, "password"),
    ("update_user", {"full_name": BIG}, "full_name"),
    ("update_me", {"full_name": BIG}, "full_name"),
    ("update_me", {"current_password": BIG, "new_password": "new-password-1"}, "current_password"),
    ("update_me", {"current_password": ADMIN_PASSWORD, "new_password": BIG}, "new_password"),
    ("update_me", {"current_password": ADMIN_PASSWORD, "new_password": "n" * 257}, "new_password"),
    ("create_project", {"name": "n" * 101}, "name"),
    ("create_project", {"name": BIG}, "name"),
    ("create_project", {"description": "d" * 2001}, "description"),
    ("create_project", {f"k{i}": i for i in range(20_000)}, "k0"),
    ("update_project", {"name": BIG}, "name"),
    ("update_project", {"description": BIG}, "description"),
    ("add_member", {"user_id": BIG}, "user_id"),
    ("create_token", {"name": "t" * 101}, "name"),
    ("create_token", {"name": BIG}, "name"),
]


@pytest.mark.parametrize(("route", "override", "field"), OVERSIZED)
async def test_oversized_field_is_422(
    world, route: str, override: dict[str, Any], field: str
) -> None:
    method, path, kwargs = request_for(world, route, override)
    body = await world.refused(method, path, 422, field=field, **kwargs)
    assert len(body.get("errors", [])) <= 20  # a huge body does not buy a huge answer


@pytest.mark.parametrize(
    "override",
    [{"description": "d" * 1_100_000}, {f"k{i}": i for i in range(100_000)}],
    ids=["huge_field", "huge_object"],
)
async def test_body_over_a_megabyte_is_413(world, override: dict[str, Any]) -> None:
    method, path, kwargs = request_for(world, "create_project", override)
    body = await world.refused(method, path, 413, **kwargs)
    assert body["code"] == "payload_too_large"


# injection strings ----------------------------------------------------------------------------

INJECTIONS = {  # each 8+ characters, so a password may be any of them
    "sql_drop": "'; DROP TABLE users; --",
    "sql_or": '" OR 1=1 --',
    "nul": "nul\x00byte",
    "control": "bell\x07esc\x1b[31m",
    "newline": "line\r\nbreak",
    "del": "delete\x7fme",
    "c1": "c1\x85next-line",
    "rtl": "invoice\u202egpj.exe",
    "emoji": "unicorn 🦄🔥👩‍👩‍👧",
    "combining": "Z" + "\u0336" * 300,
    "html": "<script>alert(1)</script>",
    "path": "../../etc/passwd",
    "json": '{"role": "admin", "x": [1, 2]}',
    "format": "%s%n{0}{user.__class__}%(x)s",
}
CONTROL = {"nul", "control", "newline", "del", "c1"}
# text fields: (method, path, caller, body for a value, the field named in errors, refused)
TEXT_FIELDS: dict[str, tuple[str, str, str, Callable[[str, str], dict], str, set[str]]] = {
    "username": (
        "POST",
        "/users",
        "admin",
        lambda key, v: {"username": v, "password": "valid-password"},
        "username",
        set(INJECTIONS),
    ),
    "email": ("PUT", "/me", "bob", lambda key, v: {"email": v}, "email", set(INJECTIONS)),
    "full_name": (
        "PUT",
        "/me",
        "bob",
        lambda key, v: {"full_name": v},
        "full_name",
        CONTROL | {"combining"},
    ),
    "project_name": (
        "POST",
        "/projects",
        "admin",
        lambda key, v: {"name": v},
        "name",
        CONTROL | {"combining"},
    ),
    "description": (
        "POST",
        "/projects",
        "admin",
        lambda key, v: {"name": f"described-{key}", "description": v},
        "description",
        {"nul"},
    ),
    "token_name": (
        "POST",
        "/tokens",
        "bob",
        lambda key, v: {"name": v},
        "name",
        CONTROL | {"combining"},
    ),
    "password": (
        "POST",
        "/users",
        "admin",
        lambda key, v: {"username": f"pw-{key}", "password": v},
        "password",
        {"nul", "combining"},
    ),
}


@pytest.mark.parametrize("injection", INJECTIONS)
@pytest.mark.parametrize("text_field", TEXT_FIELDS)
async def test_injection_is_refused_or_kept_verbatim(
    world, text_field: str, injection: str
) -> None:
    method, path, caller, body_for, field, refused = TEXT_FIELDS[text_field]
    value = INJECTIONS[injection]
    kwargs = {"json": body_for(injection, value), "headers": getattr(world, caller)}
    if injection in refused:
        await world.refused(method, path, 422, field=field, **kwargs)
    else:
        response = await world.client.request(method, world.url(path), **kwargs)
        assert response.status_code in (200, 201), response.text
        if text_field == "password":
            await world.api.login(f"pw-{injection}", value)
        else:
            assert response.json()[field] == value
            if text_field in ("project_name", "description"):
                again = await world.client.get(
                    world.url(f"/projects/{response.json()['id']}"), headers=world.admin
                )
                assert again.json()[field] == value
    await world.users_still_queryable()


@pytest.mark.parametrize("injection", INJECTIONS)
async def test_login_with_injected_username_is_a_wrong_password(
    world, check, injection: str
) -> None:
    value = INJECTIONS[injection]
    if injection in ("nul", "combining"):  # NUL, or longer than any username (128)
        body = {"username": value, "password": "whatever"}
        await world.refused("POST", "/login", 422, field="username", json=body)
        return
    before = await world.snapshot()
    response = await world.client.post(
        world.url("/login"), json={"username": value, "password": "whatever"}
    )
    body = check(response, 401, field=None, code="authentication_failed")
    assert body["detail"] == "wrong username or password"
    # only the failed attempt is recorded, against the name tried
    after = await world.snapshot()
    assert {k: v for k, v in after.items() if k != "login_throttles"} == {
        k: v for k, v in before.items() if k != "login_throttles"
    }
    await world.users_still_queryable()


@pytest.mark.parametrize("injection", INJECTIONS)
async def test_search_with_injection_finds_nothing_or_is_422(world, injection: str) -> None:
    value = INJECTIONS[injection]
    params = {"search": value}
    if injection in ("nul", "combining"):  # NUL cannot be searched for; 301 > 100 characters
        await world.refused(
            "GET", "/users", 422, field="search", params=params, headers=world.admin
        )
        return
    response = await world.client.get(world.url("/users"), params=params, headers=world.admin)
    assert response.status_code == 200, response.text
    # ILIKE with % and _ escaped: a hit really contains the text (bob's name may, see above)
    for user in response.json()["items"]:
        text = " ".join(str(user[k]) for k in ("username", "full_name", "email"))
        assert value.casefold() in text.casefold(), user
    await world.users_still_queryable()


@pytest.mark.parametrize("injection", [*INJECTIONS, "percent", "underscore"])
async def test_permission_with_injection_is_422(world, injection: str) -> None:
    value = INJECTIONS.get(injection, {"percent": "%", "underscore": "_"}.get(injection))
    params = {"permission": value}
    body = await world.refused("GET", "/authorize", 422, params=params, headers=world.bob)
    assert body["field"] == "permission"


# pagination -----------------------------------------------------------------------------------

BAD_PAGES = [
    ({"limit": 0}, "limit"),
    ({"limit": -1}, "limit"),
    ({"limit": 201}, "limit"),
    ({"limit": 1000}, "limit"),
    ({"limit": "9" * 40}, "limit"),
    ({"limit": "abc"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"limit": ""}, "limit"),
    ({"cursor": "garbage"}, "cursor"),
    ({"cursor": "!!!"}, "cursor"),
    ({"cursor": "x" * 513}, "cursor"),
    ({"cursor": cursor_of("not a pair")}, "cursor"),
    ({"cursor": cursor_of([1, 2])}, "cursor"),
    ({"cursor": cursor_of({"at": "2024-01-01"})}, "cursor"),
    ({"cursor": cursor_of(["2024-01-01T00:00:00+00:00", "a", "b"])}, "cursor"),
    ({"cursor": cursor_of(["yesterday", "x"])}, "cursor"),
    ({"cursor": cursor_of(["2024-01-01T00:00:00+00:00", "nul\x00"])}, "cursor"),
    ({"cursor": cursor_of(["0001-01-01T00:00:00+14:00", "x"])}, "cursor"),
    ({"cursor": cursor_of(["9999-12-31T23:59:59-14:00", "x"])}, "cursor"),
    ({"cursor": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode()}, "cursor"),
]


@pytest.mark.parametrize("path", ["/users", "/projects", "/tokens"])
@pytest.mark.parametrize(("params", "field"), BAD_PAGES)
async def test_bad_page_is_422_naming_the_parameter(
    world, path: str, params: dict[str, Any], field: str
) -> None:
    await world.refused("GET", path, 422, field=field, params=params, headers=world.admin)
