"""Bad credentials: a missing, malformed, unknown, expired or revoked token is a 401 with
``WWW-Authenticate: Bearer`` on every route, and changes nothing.

Cases share one ``world`` (see conftest) and each compares table snapshots before and after.
"""

import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from oryx_authorization.infrastructure.database.tables import access_tokens

# every route that needs a caller, with a body it would accept
AUTH_ROUTES = [
    ("GET", "/me", None),
    ("PUT", "/me", {"full_name": "Intruder"}),
    ("POST", "/logout", None),
    ("GET", "/users", None),
    ("POST", "/users", {"username": "intruder", "password": "intruder-password"}),
    ("GET", "/users/{bob_id}", None),
    ("PUT", "/users/{bob_id}", {"role": "admin"}),
    ("DELETE", "/users/{bob_id}", None),
    ("GET", "/projects", None),
    ("POST", "/projects", {"name": "intruders"}),
    ("GET", "/projects/{alpha}", None),
    ("PUT", "/projects/{alpha}", {"name": "pwned"}),
    ("DELETE", "/projects/{alpha}", None),
    ("GET", "/projects/{alpha}/members", None),
    ("POST", "/projects/{alpha}/members", {"user_id": "{bob_id}", "role": "admin"}),
    ("PUT", "/projects/{alpha}/members/{alice_id}", {"role": "admin"}),
    ("DELETE", "/projects/{alpha}/members/{alice_id}", None),
    ("POST", "/projects/{alpha}/current", None),
    ("GET", "/tokens", None),
    ("POST", "/tokens", {"name": "stolen"}),
    ("DELETE", "/tokens/{alice_token_id}", None),
    ("GET", "/authorize", None),
]
SOME_ROUTES = [AUTH_ROUTES[0], AUTH_ROUTES[9], AUTH_ROUTES[20], AUTH_ROUTES[21]]
# name: the Authorization header (None: not sent)
BAD_HEADERS: dict[str, str | bytes | None] = {
    "missing": None,
    "empty": "",
    "basic": "Basic YWRtaW46YWRtaW4tcGFzc3dvcmQtZm9yLXRlc3Rz",
    "token_scheme": "Token oryx_s_abc",
    "no_space": "Bearergarbage",
    "bearer_alone": "Bearer",
    "bearer_space": "Bearer ",
    "bearer_spaces": "Bearer     ",
    "garbage": "Bearer garbage",
    "lowercase_garbage": "bearer garbage",
    "look_alike": "Bearer oryx_s_" + "A" * 43,
    "two_tokens": "Bearer abc def",
    "huge": "Bearer " + "x" * 10_000,
    "sql": "Bearer ' OR 1=1 --",
    "nul": "Bearer abc\x00def",
    "latin1": "Bearer caf\xe9".encode("latin-1"),
}


def request_kwargs(world: Any, path: str, body: Any, header: str | bytes | None) -> dict:
    headers = {} if header is None else {"Authorization": header}
    json = {k: v.format(**world.ids) for k, v in body.items()} if body else None
    return {"headers": headers, "json": json} if json else {"headers": headers}


@pytest.mark.parametrize("header", ["missing", "garbage"])
@pytest.mark.parametrize(("method", "path", "body"), AUTH_ROUTES)
async def test_every_route_needs_a_valid_token(
    world, method: str, path: str, body: Any, header: str
) -> None:
    kwargs = request_kwargs(world, path, body, BAD_HEADERS[header])
    await world.refused(method, path, 401, field=None, **kwargs)


@pytest.mark.parametrize("header", BAD_HEADERS)
@pytest.mark.parametrize(("method", "path", "body"), SOME_ROUTES)
async def test_malformed_or_unknown_token_is_401(
    world, method: str, path: str, body: Any, header: str
) -> None:
    kwargs = request_kwargs(world, path, body, BAD_HEADERS[header])
    await world.refused(method, path, 401, field=None, **kwargs)


# tokens that were good once -------------------------------------------------------------------

names = itertools.count()


async def _personal_token(world: Any, headers: dict[str, str]) -> tuple[str, str]:
    response = await world.client.post(world.url("/tokens"), headers=headers, json={"name": "t"})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


async def _newest_login_token_id(world: Any, user_id: str) -> str:
    async with world.sessions() as session:
        token_id: str = await session.scalar(
            select(access_tokens.c.id)
            .where(access_tokens.c.user_id == user_id, access_tokens.c.kind == "login")
            .order_by(access_tokens.c.created_at.desc())
            .limit(1)
        )
    return token_id


async def _expire(world: Any, token_id: str) -> None:
    async with world.sessions() as session:
        await session.execute(
            update(access_tokens)
            .where(access_tokens.c.id == token_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()


async def _new_user(world: Any) -> tuple[str, dict[str, str]]:
    name = f"doomed{next(names)}"
    body = {"username": name, "password": f"{name}-password"}
    response = await world.client.post(world.url("/users"), headers=world.admin, json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"], await world.api.login(name, f"{name}-password")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def expired_personal_token(world: Any) -> dict[str, str]:
    token_id, token = await _personal_token(world, world.bob)
    await _expire(world, token_id)
    return bearer(token)


async def expired_login_token(world: Any) -> dict[str, str]:
    headers = await world.api.login("bob", "bob-password")
    await _expire(world, await _newest_login_token_id(world, world.bob_id))
    return headers


async def logged_out_token(world: Any) -> dict[str, str]:
    headers = await world.api.login("bob", "bob-password")
    assert (await world.client.post(world.url("/logout"), headers=headers)).status_code == 204
    return headers


async def revoked_personal_token(world: Any) -> dict[str, str]:
    token_id, token = await _personal_token(world, world.bob)
    url = world.url(f"/tokens/{token_id}")
    assert (await world.client.delete(url, headers=world.bob)).status_code == 204
    return bearer(token)


async def deleted_users_login_token(world: Any) -> dict[str, str]:
    user_id, headers = await _new_user(world)
    url = world.url(f"/users/{user_id}")
    assert (await world.client.delete(url, headers=world.admin)).status_code == 204
    return headers


async def deleted_users_personal_token(world: Any) -> dict[str, str]:
    user_id, headers = await _new_user(world)
    _, token = await _personal_token(world, headers)
    url = world.url(f"/users/{user_id}")
    assert (await world.client.delete(url, headers=world.admin)).status_code == 204
    return bearer(token)


async def token_before_password_reset(world: Any) -> dict[str, str]:
    user_id, headers = await _new_user(world)
    url = world.url(f"/users/{user_id}")
    body = {"password": "reset-by-the-admin"}
    assert (await world.client.put(url, headers=world.admin, json=body)).status_code == 200
    return headers


# how the token went bad: (make it, a word the detail must contain)
STALE: dict[str, tuple[Callable[[Any], Awaitable[dict[str, str]]], str]] = {
    "expired_personal": (expired_personal_token, "expired"),
    "expired_login": (expired_login_token, "expired"),
    "after_logout": (logged_out_token, "revoked"),
    "after_delete_token": (revoked_personal_token, "revoked"),
    "deleted_user_login": (deleted_users_login_token, "unknown"),
    "deleted_user_personal": (deleted_users_personal_token, "unknown"),
    "after_password_reset": (token_before_password_reset, "revoked"),
}


@pytest.mark.parametrize("stale", STALE)
@pytest.mark.parametrize(("method", "path", "body"), [*SOME_ROUTES, ("POST", "/logout", None)])
async def test_expired_revoked_or_orphaned_token_is_401(
    world, method: str, path: str, body: Any, stale: str
) -> None:
    make, word = STALE[stale]
    headers = await make(world)
    kwargs = request_kwargs(world, path, body, headers["Authorization"])
    response = await world.refused(method, path, 401, field=None, **kwargs)
    assert word in response["detail"]


@pytest.mark.parametrize(
    ("username", "password"),
    [("bob", "not-bobs-password"), ("nobody-at-all", "whatever-password"), ("BOB ", "x")],
)
async def test_wrong_credentials_are_401_and_say_nothing_more(
    world, check, username: str, password: str
) -> None:
    body = {"username": username, "password": password}
    response = await world.client.post(world.url("/login"), json=body)
    assert check(response, 401, field=None)["detail"] == "wrong username or password"
