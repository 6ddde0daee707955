"""Login, logout, token checks and the permission decision other services ask for."""

from dataclasses import dataclass
from datetime import timedelta

from oryx_authorization.application.access import Principal
from oryx_authorization.application.ports import (
    Clock,
    IdGenerator,
    PasswordHasher,
    TokenGenerator,
    UnitOfWorkFactory,
)
from oryx_authorization.domain.errors import AuthenticationFailed, InvalidValue
from oryx_authorization.domain.login import LoginThrottle
from oryx_authorization.domain.permissions import Permission, Role, is_allowed
from oryx_authorization.domain.tokens import AccessToken, TokenKind
from oryx_authorization.domain.users import MAX_PASSWORD_LENGTH

WRONG_CREDENTIALS = "wrong username or password"
TOUCH_EVERY = timedelta(minutes=1)
"""Write last_used_at at most this often, so checking a token rarely writes."""


@dataclass(frozen=True, kw_only=True)
class IssuedToken:
    token: str
    """The plain token: shown once, never stored."""
    record: AccessToken


@dataclass(frozen=True, kw_only=True)
class Decision:
    user_id: str
    username: str
    role: Role
    project_id: str | None
    project_role: Role | None
    permission: Permission | None
    allowed: bool


class Authentication:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        tokens: TokenGenerator,
        clock: Clock,
        ids: IdGenerator,
        login_token_lifetime: timedelta,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._lifetime = login_token_lifetime

    async def login(self, *, username: str, password: str) -> IssuedToken:
        """Check the password and open a session.

        An unknown user and a wrong password get the same answer in the same time.
        """
        key = username.strip().lower()[:128]
        now = self._clock.now()
        async with self._uow() as uow:
            throttle = await uow.login_throttles.get(key)
            if throttle is None:
                throttle = LoginThrottle(key=key)
                uow.login_throttles.add(throttle)
            throttle.check(at=now)
            user = await uow.users.get_by_username(key)
            if len(password) > MAX_PASSWORD_LENGTH:
                ok = False
                self._hasher.dummy_verify(password[:MAX_PASSWORD_LENGTH])
            elif user is None:
                self._hasher.dummy_verify(password)
                ok = False
            else:
                ok = self._hasher.verify(user.password_hash, password)
            if not ok or user is None:
                throttle.record_failure(at=now)
                await uow.commit()
                raise AuthenticationFailed(WRONG_CREDENTIALS)
            throttle.record_success()
            plain = self._tokens.new(TokenKind.LOGIN)
            record = AccessToken(
                id=self._ids.new(),
                user_id=user.id,
                kind=TokenKind.LOGIN,
                name="login",
                token_hash=self._tokens.digest(plain),
                created_at=now,
                expires_at=now + self._lifetime,
            )
            uow.tokens.add(record)
            await uow.commit()
        return IssuedToken(token=plain, record=record)

    async def logout(self, principal: Principal) -> None:
        async with self._uow() as uow:
            token = await uow.tokens.get(principal.token_id)
            if token is not None:
                token.revoke(at=self._clock.now())
            await uow.commit()

    async def authenticate(self, token: str) -> Principal:
        """The caller behind a bearer token, or AuthenticationFailed."""
        if not token or len(token) > 512:
            raise AuthenticationFailed("malformed token")
        now = self._clock.now()
        async with self._uow() as uow:
            record = await uow.tokens.get_by_hash(self._tokens.digest(token))
            if record is None:
                raise AuthenticationFailed("unknown token")
            if record.revoked_at is not None:
                raise AuthenticationFailed("token revoked; log in again")
            if not record.is_active(at=now):
                raise AuthenticationFailed("token expired; log in again")
            user = await uow.users.get(record.user_id)
            if user is None:
                raise AuthenticationFailed("unknown token")
            if record.last_used_at is None or now - record.last_used_at > TOUCH_EVERY:
                record.touch(at=now)
                await uow.commit()
        return Principal(
            user_id=user.id,
            username=user.username,
            role=user.role,
            token_id=record.id,
            token_kind=record.kind,
            current_project_id=user.current_project_id,
        )

    async def authorize(
        self, principal: Principal, *, permission: str | None, project_id: str | None
    ) -> Decision:
        """Whether the caller holds ``permission`` in the project (the header's, else current)."""
        perm: Permission | None = None
        if permission is not None:
            try:
                perm = Permission(permission)
            except ValueError:
                known = ", ".join(p.value for p in Permission)
                raise InvalidValue(
                    f"unknown permission {permission[:64]!r}; known permissions: {known}",
                    field="permission",
                ) from None
        project_id = project_id or principal.current_project_id
        project_role: Role | None = None
        visible = False
        async with self._uow() as uow:
            project = await uow.projects.get(project_id) if project_id else None
            if project is not None:
                project_role = project.role_of(principal.user_id)
                visible = principal.is_admin or project_role is not None
        if project_id is None:
            # No project at all: an identity check passes, a permission check cannot.
            allowed = perm is None
        elif not visible:
            # An invisible project is answered as an unknown one.
            allowed = False
            project_role = None
        elif perm is None:
            allowed = True
        else:
            allowed = is_allowed(
                platform_role=principal.role, project_role=project_role, permission=perm
            )
        return Decision(
            user_id=principal.user_id,
            username=principal.username,
            role=principal.role,
            project_id=project_id if visible else None,
            project_role=project_role,
            permission=perm,
            allowed=allowed,
        )
