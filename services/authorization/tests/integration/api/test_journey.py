"""The README's journey, over HTTP: admin, user, project, membership, authorize, events."""

from sqlalchemy import select

from oryx_authorization.infrastructure.database.tables import outbox


async def test_health_and_openapi(api) -> None:
    assert (await api.client.get("/authorization/healthz")).json()["status"] == "ok"
    spec = (await api.client.get("/authorization/openapi.json")).json()
    for path, methods in spec["paths"].items():
        assert path.startswith("/authorization/")
        for method, operation in methods.items():
            assert operation.get("description") or operation.get("summary"), (method, path)


async def test_admin_creates_user_and_project_and_authorize_answers(api, sessions) -> None:
    admin = await api.admin()
    me = (await api.client.get("/authorization/me", headers=admin)).json()
    assert me["username"] == "admin" and me["role"] == "admin"

    alice_id, alice = await api.create_user("alice", role="developer")
    response = await api.client.post(
        "/authorization/projects", headers=admin, json={"name": "Research", "description": "ML"}
    )
    assert response.status_code == 201, response.text
    project_id = response.json()["id"]

    # not a member yet: the project is invisible, authorize says no
    assert (
        await api.client.get(f"/authorization/projects/{project_id}", headers=alice)
    ).status_code == 404
    decision = (
        await api.client.get(
            "/authorization/authorize",
            params={"permission": "workflow:write"},
            headers={**alice, "X-Oryx-Project": project_id},
        )
    ).json()
    assert decision["allowed"] is False

    response = await api.client.post(
        f"/authorization/projects/{project_id}/members",
        headers=admin,
        json={"user_id": alice_id, "role": "developer"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["username"] == "alice"

    for permission, allowed in [("workflow:write", True), ("project:members:manage", False)]:
        decision = (
            await api.client.get(
                "/authorization/authorize",
                params={"permission": permission},
                headers={**alice, "X-Oryx-Project": project_id},
            )
        ).json()
        assert decision["allowed"] is allowed, permission
        assert decision["project_role"] == "developer"
        assert decision["user_id"] == alice_id

    # current project: set when alice joined her first project, used without the header
    decision = (
        await api.client.get(
            "/authorization/authorize", params={"permission": "run:create"}, headers=alice
        )
    ).json()
    assert decision["project_id"] == project_id and decision["allowed"]

    # removing the member emits ProjectMemberRemoved through the outbox
    response = await api.client.delete(
        f"/authorization/projects/{project_id}/members/{alice_id}", headers=admin
    )
    assert response.status_code == 204
    async with sessions() as session:
        keys = (await session.execute(select(outbox.c.routing_key))).scalars().all()
    assert keys == ["authorization.project.member_removed.v1"]


async def test_pagination_of_users(api) -> None:
    admin = await api.admin()
    for i in range(5):
        await api.client.post(
            "/authorization/users",
            headers=admin,
            json={"username": f"user{i}", "password": "password-123"},
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/authorization/users", headers=admin, params=params)).json()
        assert page["total"] == 6
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["user4", "user3", "user2", "user1", "user0", "admin"]


async def test_personal_token_lifecycle(api) -> None:
    _, bob = await api.create_user("bob")
    created = await api.client.post(
        "/authorization/tokens", headers=bob, json={"name": "cli", "expires_in_days": 30}
    )
    assert created.status_code == 201
    token = created.json()["token"]
    pat = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/authorization/me", headers=pat)).json()["username"] == "bob"
    listed = (await api.client.get("/authorization/tokens", headers=bob)).json()
    assert [t["name"] for t in listed["items"]] == ["cli"]
    assert "token" not in listed["items"][0]
    token_id = created.json()["id"]
    assert (
        await api.client.delete(f"/authorization/tokens/{token_id}", headers=bob)
    ).status_code == 204
    response = await api.client.get("/authorization/me", headers=pat)
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"


async def test_logout_and_password_change_end_sessions(api) -> None:
    _, carol = await api.create_user("carol")
    assert (await api.client.post("/authorization/logout", headers=carol)).status_code == 204
    assert (await api.client.get("/authorization/me", headers=carol)).status_code == 401

    carol = await api.login("carol", "carol-password")
    other = await api.login("carol", "carol-password")
    response = await api.client.put(
        "/authorization/me",
        headers=carol,
        json={"current_password": "carol-password", "new_password": "brand-new-password"},
    )
    assert response.status_code == 200, response.text
    assert (await api.client.get("/authorization/me", headers=other)).status_code == 401
    await api.login("carol", "brand-new-password")


async def test_user_deletion_emits_and_revokes(api, sessions) -> None:
    admin = await api.admin()
    dave_id, dave = await api.create_user("dave")
    assert (
        await api.client.delete(f"/authorization/users/{dave_id}", headers=admin)
    ).status_code == 204
    assert (await api.client.get("/authorization/me", headers=dave)).status_code == 401
    async with sessions() as session:
        keys = (await session.execute(select(outbox.c.routing_key))).scalars().all()
    assert keys == ["authorization.user.deleted.v1"]


async def test_brute_force_lockout(api) -> None:
    for _ in range(5):
        response = await api.client.post(
            "/authorization/login", json={"username": "admin", "password": "wrong-password"}
        )
        assert response.status_code == 401
        assert response.json()["detail"] == "wrong username or password"
    response = await api.client.post(
        "/authorization/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


ADMIN_PASSWORD = "admin-password-for-tests"
