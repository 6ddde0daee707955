"""Per-project keys of the user APIs (the endpoints of HTTP-triggered workflows).

A key is shown once, when created; the runner keeps its SHA-256 only, plus a short prefix
that lets people tell their keys apart. A project requires keys only once it says so
(``ApiSettings.require_api_key``); until then its endpoints are open to anyone who can reach
the runner.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from oryx_runner.domain.errors import InvalidValue

KEY_PREFIX = "oryx_ak_"
MAX_NAME_LENGTH = 255
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret() -> str:
    """A new key: the fixed prefix (so that secret scanners spot it) and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidValue("name: give the key a name, e.g. the client that uses it", field="name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidValue(f"name: at most {MAX_NAME_LENGTH} characters", field="name")
    if any(ord(c) < 32 for c in cleaned):
        raise InvalidValue("name: control characters are not allowed", field="name")
    return cleaned


@dataclass(frozen=True, kw_only=True)
class ApiKey:
    id: str
    project_id: str
    name: str
    prefix: str
    key_hash: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = None

    @classmethod
    def create(
        cls, *, key_id: str, project_id: str, name: str, created_by: str, at: datetime
    ) -> tuple[ApiKey, str]:
        """The key and its secret (to show once)."""
        secret = new_secret()
        key = cls(
            id=key_id,
            project_id=project_id,
            name=check_name(name),
            prefix=secret[:SHOWN_PREFIX_LENGTH],
            key_hash=hash_key(secret),
            created_by=created_by,
            created_at=at,
        )
        return key, secret


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    project_id: str
    require_api_key: bool = False
    changed_at: datetime | None = None
