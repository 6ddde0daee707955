"""Repositories and the unit of work against the real PostgreSQL, migrated by the real
migrations. Each test starts from empty tables."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from oryx_authorization.domain.errors import Conflict, InvalidValue
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import Project
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import User
from oryx_authorization.infrastructure.database.tables import outbox
from oryx_authorization.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_authorization.infrastructure.messaging.routing import decode, serialize
from oryx_authorization.infrastructure.security.clock import SystemClock, Uuid7Generator

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Notifier:
    def __init__(self) -> None:
        self.count = 0

    def notify(self) -> None:
        self.count += 1


@pytest.fixture
def notifier() -> Notifier:
    return Notifier()


@pytest.fixture
def uow(sessions, notifier):
    def make() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            sessions,
            exchange="oryx.authorization",
            serialize=serialize,
            ids=Uuid7Generator(),
            clock=SystemClock(),
            notifier=notifier,
        )

    return make


def user(username: str, *, at: datetime = T0, role: Role = Role.USER) -> User:
    return User.register(
        id=Uuid7Generator().new(),
        username=username,
        role=role,
        password_hash="h",
        email=f"{username}@example.org",
        full_name=username.title(),
        at=at,
    )


async def test_user_round_trip_and_update(uow) -> None:
    alice = user("alice")
    async with uow() as tx:
        tx.users.add(alice)
        await tx.commit()
    async with uow() as tx:
        loaded = await tx.users.get(alice.id)
        assert loaded == alice
        assert await tx.users.get_by_username("alice") == alice
        loaded.update_profile(full_name="Alice Liddell", at=T0 + timedelta(days=1))
        await tx.commit()
    async with uow() as tx:
        assert (await tx.users.get(alice.id)).full_name == "Alice Liddell"


async def test_uncommitted_changes_are_dropped(uow) -> None:
    async with uow() as tx:
        tx.users.add(user("bob"))
        # leaving without commit
    async with uow() as tx:
        assert await tx.users.count() == 0


async def test_project_members_round_trip(uow) -> None:
    alice, bob = user("alice"), user("bob")
    project = Project.create(id="p-1", name="Research", description="ML work", at=T0)
    project.add_member(user_id=alice.id, role=Role.ADMIN, at=T0)
    async with uow() as tx:
        tx.users.add(alice)
        tx.users.add(bob)
        tx.projects.add(project)
        await tx.commit()
    async with uow() as tx:
        loaded = await tx.projects.get("p-1")
        assert loaded == project
        loaded.add_member(user_id=bob.id, role=Role.USER, at=T0)
        loaded.change_member_role(user_id=alice.id, role=Role.DEVELOPER, at=T0)
        await tx.commit()
    async with uow() as tx:
        loaded = await tx.projects.get("p-1")
        assert loaded.role_of(alice.id) is Role.DEVELOPER
        assert loaded.role_of(bob.id) is Role.USER
        assert [p.id for p in await tx.projects.list_for_member(bob.id)] == ["p-1"]
        page = await tx.projects.page(member_id=bob.id, limit=10, cursor=None)
        assert page.total == 1


async def test_events_go_to_the_outbox_in_the_same_transaction(uow, sessions, notifier) -> None:
    project = Project.create(id="p-2", name="Doomed", description="", at=T0)
    async with uow() as tx:
        tx.projects.add(project)
        await tx.commit()
    assert notifier.count == 0  # no event, no wake-up
    async with uow() as tx:
        loaded = await tx.projects.get("p-2")
        loaded.delete(at=T0)
        await tx.projects.remove(loaded)
        await tx.commit()
    assert notifier.count == 1
    async with sessions() as session:
        rows = (await session.execute(select(outbox))).all()
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["routing_key"] == "authorization.project.deleted.v1"
    assert row["published_at"] is None
    message = decode(row["message_type"], row["payload"])
    assert message.project_id == "p-2"
    assert message.name == "Doomed"


async def test_unique_violations_become_conflicts(uow) -> None:
    async with uow() as tx:
        tx.users.add(user("carol"))
        await tx.commit()
    async with uow() as tx:
        tx.users.add(user("carol"))
        with pytest.raises(Conflict, match="username"):
            await tx.commit()


async def test_token_revocation_in_bulk(uow) -> None:
    dave = user("dave")
    tokens = [
        AccessToken(
            id=f"t-{i}",
            user_id=dave.id,
            kind=TokenKind.PERSONAL,
            name=f"t{i}",
            token_hash=f"hash-{i}",
            created_at=T0 + timedelta(minutes=i),
            expires_at=T0 + timedelta(days=1),
        )
        for i in range(3)
    ]
    async with uow() as tx:
        tx.users.add(dave)
        for token in tokens:
            tx.tokens.add(token)
        await tx.commit()
    async with uow() as tx:
        assert await tx.tokens.get_by_hash("hash-1") == tokens[1]
        assert await tx.tokens.revoke_all_for_user(user_id=dave.id, at=T0) == 3
        await tx.commit()
    async with uow() as tx:
        page = await tx.tokens.list_for_user(
            user_id=dave.id, kind=TokenKind.PERSONAL, limit=2, cursor=None
        )
        assert [t.id for t in page.items] == ["t-2", "t-1"]
        assert all(t.revoked_at == T0 for t in page.items)
        rest = await tx.tokens.list_for_user(
            user_id=dave.id, kind=TokenKind.PERSONAL, limit=2, cursor=page.next_cursor
        )
        assert [t.id for t in rest.items] == ["t-0"]
        assert rest.next_cursor is None


async def test_keyset_pagination_with_equal_timestamps(uow) -> None:
    async with uow() as tx:
        for i in range(7):
            tx.users.add(user(f"user{i}", at=T0))  # same created_at: the id breaks ties
        await tx.commit()
    seen = []
    cursor = None
    async with uow() as tx:
        while True:
            page = await tx.users.page(limit=3, cursor=cursor, search=None)
            seen += [u.username for u in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    assert sorted(seen) == [f"user{i}" for i in range(7)]
    assert len(seen) == 7


async def test_search_escapes_like_wildcards(uow) -> None:
    async with uow() as tx:
        tx.users.add(user("a_b"))
        tx.users.add(user("axb"))
        await tx.commit()
    async with uow() as tx:
        page = await tx.users.page(limit=10, cursor=None, search="a_b")
        assert [u.username for u in page.items] == ["a_b"]


async def test_bad_cursor_is_invalid_input(uow) -> None:
    async with uow() as tx:
        with pytest.raises(InvalidValue) as err:
            await tx.users.page(limit=10, cursor="not-a-cursor", search=None)
    assert err.value.field == "cursor"


async def test_concurrent_failed_logins_are_all_counted(uow) -> None:
    """The throttle row is locked FOR UPDATE, so parallel failures do not overwrite."""
    from oryx_authorization.domain.login import LoginThrottle

    async def fail_once() -> None:
        async with uow() as tx:
            throttle = await tx.login_throttles.get("eve")
            if throttle is None:
                throttle = LoginThrottle(key="eve")
                tx.login_throttles.add(throttle)
            throttle.record_failure(at=T0)
            await tx.commit()

    await asyncio.gather(*(fail_once() for _ in range(8)))
    async with uow() as tx:
        assert (await tx.login_throttles.get("eve")).failures == 8
