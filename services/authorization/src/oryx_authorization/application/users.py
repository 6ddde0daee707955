"""Managing users (platform admins) and one's own profile."""

import builtins
from collections.abc import Sequence
from dataclasses import dataclass

from oryx_authorization.application.access import Principal, require_admin
from oryx_authorization.application.ports import (
    Clock,
    IdGenerator,
    Page,
    PasswordHasher,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_authorization.domain.errors import Conflict, InvalidValue, NotFound
from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.users import User, validate_password, validate_username


@dataclass(frozen=True, kw_only=True)
class CreateUser:
    username: str
    password: str
    role: Role = Role.USER
    email: str | None = None
    full_name: str = ""


@dataclass(frozen=True, kw_only=True)
class UpdateUser:
    role: Role | None = None
    email: str | None = None
    full_name: str | None = None
    password: str | None = None


@dataclass(frozen=True, kw_only=True)
class UpdateMe:
    email: str | None = None
    full_name: str | None = None
    current_password: str | None = None
    new_password: str | None = None


async def _get_user(uow: UnitOfWork, user_id: str) -> User:
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", field="user_id")
    return user


async def _other_admins(uow: UnitOfWork, user: User) -> bool:
    admins = await uow.users.count_admins()
    return admins > (1 if user.is_admin else 0)


class Users:
    def __init__(
        self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, cmd: CreateUser) -> User:
        require_admin(principal, doing="create users")
        username = validate_username(cmd.username)
        validate_password(cmd.password)
        async with self._uow() as uow:
            if await uow.users.get_by_username(username) is not None:
                raise Conflict(f"username {username!r} is already taken", field="username")
            user = User.register(
                id=self._ids.new(),
                username=username,
                role=cmd.role,
                password_hash=self._hasher.hash(cmd.password),
                email=cmd.email,
                full_name=cmd.full_name,
                at=self._clock.now(),
            )
            uow.users.add(user)
            await uow.commit()
        return user

    async def get(self, principal: Principal, user_id: str) -> User:
        require_admin(principal, doing="read other users")
        async with self._uow() as uow:
            return await _get_user(uow, user_id)

    async def list(
        self, principal: Principal, *, limit: int, cursor: str | None, search: str | None
    ) -> Page[User]:
        require_admin(principal, doing="list users")
        async with self._uow() as uow:
            return await uow.users.page(limit=limit, cursor=cursor, search=search)

    async def update(self, principal: Principal, user_id: str, cmd: UpdateUser) -> User:
        require_admin(principal, doing="change other users")
        if cmd.password is not None:
            validate_password(cmd.password)
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _get_user(uow, user_id)
            if cmd.role is not None and cmd.role is not user.role:
                if user.is_admin and not await _other_admins(uow, user):
                    raise Conflict("the last admin cannot lose the admin role", field="role")
                user.change_role(role=cmd.role, at=now)
            user.update_profile(email=cmd.email, full_name=cmd.full_name, at=now)
            if cmd.password is not None:
                user.change_password(password_hash=self._hasher.hash(cmd.password), at=now)
                await uow.tokens.revoke_all_for_user(user_id=user.id, at=now)
            await uow.commit()
        return user

    async def delete(self, principal: Principal, user_id: str) -> None:
        require_admin(principal, doing="delete users")
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _get_user(uow, user_id)
            if user.is_admin and not await _other_admins(uow, user):
                raise Conflict("the last admin cannot be deleted", field="user_id")
            for project in await uow.projects.list_for_member(user.id):
                project.forget_user(user_id=user.id, at=now)
            await uow.tokens.revoke_all_for_user(user_id=user.id, at=now)
            user.delete(at=now)
            await uow.users.remove(user)
            await uow.commit()

    async def me(self, principal: Principal) -> User:
        async with self._uow() as uow:
            return await _get_user(uow, principal.user_id)

    async def update_me(self, principal: Principal, cmd: UpdateMe) -> User:
        """Update one's profile. A new password needs the current one and ends every session."""
        now = self._clock.now()
        async with self._uow() as uow:
            user = await _get_user(uow, principal.user_id)
            if cmd.new_password is not None:
                if cmd.current_password is None:
                    raise InvalidValue(
                        "current_password is required to set a new password",
                        field="current_password",
                    )
                validate_password(cmd.new_password, field_name="new_password")
                if not self._hasher.verify(user.password_hash, cmd.current_password):
                    raise InvalidValue("current_password is wrong", field="current_password")
                user.change_password(password_hash=self._hasher.hash(cmd.new_password), at=now)
                await uow.tokens.revoke_all_for_user(user_id=user.id, at=now)
            user.update_profile(email=cmd.email, full_name=cmd.full_name, at=now)
            await uow.commit()
        return user

    async def get_many(self, user_ids: Sequence[str]) -> builtins.list[User]:
        async with self._uow() as uow:
            return await uow.users.get_many(user_ids)
