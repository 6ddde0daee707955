"""Access tokens: login sessions and personal API tokens, stored only as hashes."""

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from oryx_authorization.domain.errors import InvalidValue
from oryx_authorization.domain.events import Event

MAX_TOKEN_NAME_LENGTH = 100
MAX_PERSONAL_TOKEN_DAYS = 366


class TokenKind(StrEnum):
    LOGIN = "login"
    PERSONAL = "personal"


def validate_token_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidValue("name must not be empty", field="name")
    if len(name) > MAX_TOKEN_NAME_LENGTH:
        raise InvalidValue(f"name must be at most {MAX_TOKEN_NAME_LENGTH} characters", field="name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue("name must not contain control characters", field="name")
    return name


@dataclass(kw_only=True)
class AccessToken:
    id: str
    user_id: str
    kind: TokenKind
    name: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    def is_active(self, *, at: datetime) -> bool:
        return self.revoked_at is None and at < self.expires_at

    def revoke(self, *, at: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = at

    def touch(self, *, at: datetime) -> None:
        self.last_used_at = at
