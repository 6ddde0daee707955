import pytest

from oryx_authorization.application.users import UpdateMe
from oryx_authorization.domain.errors import AuthenticationFailed, InvalidValue, TooManyAttempts
from oryx_authorization.domain.login import FREE_FAILURES
from oryx_authorization.domain.permissions import Role


async def test_login_gives_a_token_that_authenticates(world) -> None:
    issued = await world.auth.login(username="admin", password="admin-password")
    principal = await world.auth.authenticate(issued.token)
    assert principal.username == "admin"
    assert principal.role is Role.ADMIN
    assert issued.record.token_hash != issued.token  # only the digest is stored


async def test_unknown_user_and_wrong_password_answer_alike(world) -> None:
    with pytest.raises(AuthenticationFailed) as unknown:
        await world.auth.login(username="nobody", password="whatever-pass")
    with pytest.raises(AuthenticationFailed) as wrong:
        await world.auth.login(username="admin", password="wrong-password")
    assert unknown.value.message == wrong.value.message
    assert world.hasher.dummy_calls == 1  # the unknown user cost a hash too


async def test_repeated_failures_lock_then_release(world) -> None:
    for _ in range(FREE_FAILURES):
        with pytest.raises(AuthenticationFailed):
            await world.auth.login(username="admin", password="wrong-password")
    with pytest.raises(TooManyAttempts):
        await world.auth.login(username="admin", password="admin-password")
    world.clock.advance(seconds=2)
    assert await world.auth.login(username="admin", password="admin-password")


async def test_unknown_usernames_are_locked_too(world) -> None:
    for _ in range(FREE_FAILURES):
        with pytest.raises(AuthenticationFailed):
            await world.auth.login(username="ghost", password="whatever-pass")
    with pytest.raises(TooManyAttempts):
        await world.auth.login(username="ghost", password="whatever-pass")


async def test_logout_revokes_only_that_token(world) -> None:
    first = await world.auth.login(username="admin", password="admin-password")
    second = await world.auth.login(username="admin", password="admin-password")
    await world.auth.logout(await world.auth.authenticate(first.token))
    with pytest.raises(AuthenticationFailed, match="revoked"):
        await world.auth.authenticate(first.token)
    assert await world.auth.authenticate(second.token)


async def test_tokens_expire(world) -> None:
    issued = await world.auth.login(username="admin", password="admin-password")
    world.clock.advance(hours=1, seconds=1)
    with pytest.raises(AuthenticationFailed, match="expired"):
        await world.auth.authenticate(issued.token)


@pytest.mark.parametrize("token", ["", "garbage", "x" * 600])
async def test_bad_tokens(world, token: str) -> None:
    with pytest.raises(AuthenticationFailed):
        await world.auth.authenticate(token)


async def test_password_change_revokes_every_token(world) -> None:
    alice = await world.new_user("alice")
    personal = await world.tokens.create(alice, name="ci", expires_in_days=30)
    with pytest.raises(InvalidValue, match="current_password"):
        await world.users.update_me(alice, UpdateMe(new_password="a-new-password"))
    with pytest.raises(InvalidValue, match="wrong"):
        await world.users.update_me(
            alice, UpdateMe(current_password="nope-nope", new_password="a-new-password")
        )
    await world.users.update_me(
        alice, UpdateMe(current_password="alice-password", new_password="a-new-password")
    )
    with pytest.raises(AuthenticationFailed):
        await world.auth.authenticate(personal.token)
    assert await world.principal("alice", "a-new-password")


async def test_authorize_in_current_and_given_project(world) -> None:
    admin = await world.admin()
    bob = await world.new_user("bob")
    default = admin.current_project_id
    decision = await world.auth.authorize(bob, permission="workflow:read", project_id=default)
    assert not decision.allowed and decision.project_id is None  # not a member
    await world.projects.add_member(admin, default, user_id=bob.user_id, role=Role.USER)
    read = await world.auth.authorize(bob, permission="workflow:read", project_id=default)
    write = await world.auth.authorize(bob, permission="workflow:write", project_id=default)
    assert read.allowed and read.project_role is Role.USER
    assert not write.allowed
    # no header: the current project, which adding bob set
    bob = await world.principal("bob", "bob-password")
    assert (await world.auth.authorize(bob, permission="run:create", project_id=None)).allowed


async def test_authorize_unknown_permission_is_invalid(world) -> None:
    admin = await world.admin()
    with pytest.raises(InvalidValue) as err:
        await world.auth.authorize(admin, permission="launch:rockets", project_id=None)
    assert err.value.field == "permission"
