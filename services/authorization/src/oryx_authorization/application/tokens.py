"""Personal API tokens, for the CLI and automation."""

from datetime import timedelta

from oryx_authorization.application.access import Principal
from oryx_authorization.application.authentication import IssuedToken
from oryx_authorization.application.ports import (
    Clock,
    IdGenerator,
    Page,
    TokenGenerator,
    UnitOfWorkFactory,
)
from oryx_authorization.domain.errors import InvalidValue, NotFound
from oryx_authorization.domain.tokens import (
    MAX_PERSONAL_TOKEN_DAYS,
    AccessToken,
    TokenKind,
    validate_token_name,
)


class PersonalTokens:
    def __init__(
        self, *, uow: UnitOfWorkFactory, tokens: TokenGenerator, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._clock = clock
        self._ids = ids

    async def create(self, principal: Principal, *, name: str, expires_in_days: int) -> IssuedToken:
        name = validate_token_name(name)
        if not 1 <= expires_in_days <= MAX_PERSONAL_TOKEN_DAYS:
            raise InvalidValue(
                f"expires_in_days must be between 1 and {MAX_PERSONAL_TOKEN_DAYS}",
                field="expires_in_days",
            )
        now = self._clock.now()
        plain = self._tokens.new(TokenKind.PERSONAL)
        record = AccessToken(
            id=self._ids.new(),
            user_id=principal.user_id,
            kind=TokenKind.PERSONAL,
            name=name,
            token_hash=self._tokens.digest(plain),
            created_at=now,
            expires_at=now + timedelta(days=expires_in_days),
        )
        async with self._uow() as uow:
            uow.tokens.add(record)
            await uow.commit()
        return IssuedToken(token=plain, record=record)

    async def list(
        self, principal: Principal, *, limit: int, cursor: str | None
    ) -> Page[AccessToken]:
        async with self._uow() as uow:
            return await uow.tokens.list_for_user(
                user_id=principal.user_id, kind=TokenKind.PERSONAL, limit=limit, cursor=cursor
            )

    async def revoke(self, principal: Principal, token_id: str) -> None:
        async with self._uow() as uow:
            token = await uow.tokens.get(token_id)
            if (
                token is None
                or token.user_id != principal.user_id
                or token.kind is not TokenKind.PERSONAL
            ):
                raise NotFound(f"token {token_id} not found", field="token_id")
            token.revoke(at=self._clock.now())
            await uow.commit()
