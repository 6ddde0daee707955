import pytest

from oryx_authorization.application.bootstrap import bootstrap
from oryx_authorization.application.projects import CreateProject, UpdateProject
from oryx_authorization.application.users import CreateUser, UpdateUser
from oryx_authorization.domain.errors import Conflict, InvalidValue, NotFound, PermissionDenied
from oryx_authorization.domain.events import ProjectDeleted, ProjectMemberRemoved, UserDeleted
from oryx_authorization.domain.permissions import Role


async def test_bootstrap_runs_once(world) -> None:
    assert len(world.db.users) == 1
    assert [p.name for p in world.db.projects.values()] == ["default"]
    admin = next(iter(world.db.users.values()))
    assert admin.role is Role.ADMIN and admin.current_project_id is not None


async def test_bootstrap_generates_a_password_when_none_is_given() -> None:
    from ...fakes import (  # type: ignore[import-not-found]
        FakeClock,
        InMemoryDatabase,
        InMemoryUnitOfWork,
        PlainHasher,
        SequentialIds,
    )

    db = InMemoryDatabase()
    args = dict(
        uow=lambda: InMemoryUnitOfWork(db),
        hasher=PlainHasher(),
        clock=FakeClock(),
        ids=SequentialIds(),
        admin_password=None,
        generate_password=lambda: "generated-pw",
    )
    first = await bootstrap(**args)
    second = await bootstrap(**args)
    assert first.created and first.generated_password == "generated-pw"
    assert not second.created and second.generated_password is None


async def test_only_admins_manage_users(world) -> None:
    alice = await world.new_user("alice", Role.DEVELOPER)
    with pytest.raises(PermissionDenied):
        await world.users.create(alice, CreateUser(username="eve", password="eve-password"))
    with pytest.raises(PermissionDenied):
        await world.users.list(alice, limit=10, cursor=None, search=None)
    assert "eve" not in {u.username for u in world.db.users.values()}


async def test_duplicate_username_conflicts(world) -> None:
    admin = await world.admin()
    await world.users.create(admin, CreateUser(username="carol", password="carol-password"))
    with pytest.raises(Conflict):
        await world.users.create(admin, CreateUser(username="carol", password="other-password"))


async def test_last_admin_is_protected(world) -> None:
    admin = await world.admin()
    with pytest.raises(Conflict):
        await world.users.delete(admin, admin.user_id)
    with pytest.raises(Conflict):
        await world.users.update(admin, admin.user_id, UpdateUser(role=Role.USER))


async def test_delete_user_drops_memberships_and_emits(world) -> None:
    admin = await world.admin()
    dave = await world.new_user("dave")
    await world.projects.add_member(
        admin, admin.current_project_id, user_id=dave.user_id, role=Role.USER
    )
    await world.users.delete(admin, dave.user_id)
    assert dave.user_id not in world.db.users
    project = world.db.projects[admin.current_project_id]
    assert dave.user_id not in project.members
    assert [type(e) for e in world.db.published] == [UserDeleted]


async def test_project_lifecycle_and_events(world) -> None:
    admin = await world.admin()
    erin = await world.new_user("erin")
    project = await world.projects.create(admin, CreateProject(name="Research"))
    with pytest.raises(Conflict):
        await world.projects.create(admin, CreateProject(name="Research"))
    with pytest.raises(NotFound):  # invisible to a non-member
        await world.projects.get(erin, project.id)
    await world.projects.add_member(admin, project.id, user_id=erin.user_id, role=Role.DEVELOPER)
    assert (await world.projects.get(erin, project.id)).id == project.id
    with pytest.raises(PermissionDenied):  # a developer may not manage members
        await world.projects.remove_member(erin, project.id, user_id=erin.user_id)
    with pytest.raises(PermissionDenied):
        await world.projects.update(erin, project.id, UpdateProject(name="Mine"))
    await world.projects.remove_member(admin, project.id, user_id=erin.user_id)
    assert world.db.users[erin.user_id].current_project_id is None
    await world.projects.delete(admin, project.id)
    assert [type(e) for e in world.db.published] == [ProjectMemberRemoved, ProjectDeleted]


async def test_project_admin_manages_members(world) -> None:
    admin = await world.admin()
    frank = await world.new_user("frank")
    grace = await world.new_user("grace")
    project = await world.projects.create(admin, CreateProject(name="Ops"))
    await world.projects.add_member(admin, project.id, user_id=frank.user_id, role=Role.ADMIN)
    await world.projects.add_member(frank, project.id, user_id=grace.user_id, role=Role.USER)
    membership = await world.projects.change_member_role(
        frank, project.id, user_id=grace.user_id, role=Role.DEVELOPER
    )
    assert membership.role is Role.DEVELOPER
    with pytest.raises(PermissionDenied):  # deleting projects stays with platform admins
        await world.projects.delete(frank, project.id)


async def test_lists_are_scoped(world) -> None:
    admin = await world.admin()
    henry = await world.new_user("henry")
    await world.projects.create(admin, CreateProject(name="Hidden"))
    assert (await world.projects.list(henry, limit=10, cursor=None)).total == 0
    assert (await world.projects.list(admin, limit=10, cursor=None)).total == 2


async def test_personal_tokens(world) -> None:
    ivy = await world.new_user("ivy")
    jack = await world.new_user("jack")
    issued = await world.tokens.create(ivy, name="laptop", expires_in_days=7)
    assert (await world.auth.authenticate(issued.token)).username == "ivy"
    assert (await world.tokens.list(ivy, limit=10, cursor=None)).total == 1
    assert (await world.tokens.list(jack, limit=10, cursor=None)).total == 0
    with pytest.raises(NotFound):  # someone else's token
        await world.tokens.revoke(jack, issued.record.id)
    with pytest.raises(InvalidValue):
        await world.tokens.create(ivy, name="x", expires_in_days=1000)
    await world.tokens.revoke(ivy, issued.record.id)
    with pytest.raises(Exception, match="revoked"):
        await world.auth.authenticate(issued.token)
