from dataclasses import dataclass
from datetime import timedelta

import pytest

from oryx_authorization.application.access import Principal
from oryx_authorization.application.authentication import Authentication
from oryx_authorization.application.bootstrap import bootstrap
from oryx_authorization.application.projects import Projects
from oryx_authorization.application.tokens import PersonalTokens
from oryx_authorization.application.users import CreateUser, Users
from oryx_authorization.domain.permissions import Role

from ...fakes import (  # type: ignore[import-not-found]
    CountingTokens,
    FakeClock,
    InMemoryDatabase,
    InMemoryUnitOfWork,
    PlainHasher,
    SequentialIds,
)


@dataclass
class World:
    db: InMemoryDatabase
    clock: FakeClock
    hasher: PlainHasher
    auth: Authentication
    users: Users
    projects: Projects
    tokens: PersonalTokens

    async def principal(self, username: str, password: str) -> Principal:
        issued = await self.auth.login(username=username, password=password)
        return await self.auth.authenticate(issued.token)

    async def admin(self) -> Principal:
        return await self.principal("admin", "admin-password")

    async def new_user(self, username: str, role: Role = Role.USER) -> Principal:
        admin = await self.admin()
        await self.users.create(
            admin, CreateUser(username=username, password=f"{username}-password", role=role)
        )
        return await self.principal(username, f"{username}-password")


@pytest.fixture
async def world() -> World:
    db = InMemoryDatabase()
    clock = FakeClock()
    hasher = PlainHasher()
    ids = SequentialIds()
    tokens = CountingTokens()

    def uow() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(db)

    await bootstrap(
        uow=uow,
        hasher=hasher,
        clock=clock,
        ids=ids,
        admin_password="admin-password",
        generate_password=lambda: "unused",
    )
    return World(
        db=db,
        clock=clock,
        hasher=hasher,
        auth=Authentication(
            uow=uow,
            hasher=hasher,
            tokens=tokens,
            clock=clock,
            ids=ids,
            login_token_lifetime=timedelta(hours=1),
        ),
        users=Users(uow=uow, hasher=hasher, clock=clock, ids=ids),
        projects=Projects(uow=uow, clock=clock, ids=ids),
        tokens=PersonalTokens(uow=uow, tokens=tokens, clock=clock, ids=ids),
    )
