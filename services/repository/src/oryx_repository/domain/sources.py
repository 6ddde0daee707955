"""Git sources of actions, per project."""

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from oryx_repository.domain.errors import InvalidValue
from oryx_repository.domain.events import Event

MAX_NAME_LENGTH = 100
MAX_URL_LENGTH = 2048
MAX_BRANCH_LENGTH = 255
MAX_USERNAME_LENGTH = 255
MAX_SECRET_LENGTH = 4096


class ScanStatus(StrEnum):
    NEVER = "never"
    OK = "ok"
    """The repository was read; its actions may still have errors of their own."""
    ERROR = "error"
    """The repository could not be read at all (clone failed, too big, timeout...)."""


def validate_source_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidValue("name must not be empty", field="name")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(f"name must be at most {MAX_NAME_LENGTH} characters", field="name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue("name must not contain control characters", field="name")
    return name


@dataclass(frozen=True, kw_only=True)
class Credentials:
    username: str
    secret: str
    """A password or an access token. Kept encrypted at rest, never returned, never logged."""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, secret='***')"


@dataclass(frozen=True, kw_only=True)
class ScanSummary:
    status: ScanStatus
    ref: str
    """The branch or commit asked for."""
    commit_sha: str | None
    at: datetime
    error: str | None = None
    action_count: int = 0
    error_count: int = 0


@dataclass(kw_only=True)
class Source:
    id: str
    project_id: str
    name: str
    url: str
    branch: str
    credentials: Credentials | None
    created_at: datetime
    updated_at: datetime
    last_scan: ScanSummary | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    def update(
        self,
        *,
        name: str | None = None,
        url: str | None = None,
        branch: str | None = None,
        credentials: Credentials | None = None,
        clear_credentials: bool = False,
        at: datetime,
    ) -> None:
        """Change what was given; url and branch must already be checked by the caller."""
        if name is not None:
            self.name = validate_source_name(name)
        if url is not None:
            self.url = url
        if branch is not None:
            self.branch = branch
        if clear_credentials:
            self.credentials = None
        elif credentials is not None:
            self.credentials = credentials
        self.updated_at = at

    def record_scan(self, summary: ScanSummary) -> None:
        self.last_scan = summary
        self.updated_at = summary.at
