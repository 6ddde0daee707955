"""Ports: what the use cases need from the outside world, in their own words."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from oryx_repository.domain.actions import Action, ActionStatus, ScanError
from oryx_repository.domain.sources import Credentials, Source

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    next_cursor: str | None


class SourceRepository(Protocol):
    def add(self, source: Source) -> None: ...
    async def get(self, *, project_id: str, source_id: str) -> Source | None: ...
    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Source]: ...
    async def remove(self, source: Source) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class ActionRepository(Protocol):
    def add(self, action: Action) -> None: ...
    async def get(self, *, project_id: str, action_id: str) -> Action | None: ...
    async def get_any_project(self, action_id: str) -> Action | None:
        """For messages from other services, which carry no caller."""
        ...

    async def for_source(self, source_id: str) -> list[Action]: ...
    async def page(
        self,
        *,
        project_id: str,
        source_id: str | None,
        status: ActionStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]: ...
    async def remove(self, action: Action) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class UnitOfWork(Protocol):
    @property
    def sources(self) -> SourceRepository: ...
    @property
    def actions(self) -> ActionRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, kw_only=True)
class GitRef:
    """What to scan: a branch, or one commit (exactly one of the two)."""

    branch: str | None = None
    commit: str | None = None

    @property
    def label(self) -> str:
        return self.commit or self.branch or ""


@dataclass(frozen=True, kw_only=True)
class FoundAction:
    """One action folder as read at a commit."""

    path: str
    name: str
    version: str
    kind: str
    metadata: Any
    """``ActionMetadata`` when valid, else None."""
    document: dict[str, Any]
    errors: Sequence[ScanError]
    archive: bytes | None
    """A deterministic .tar.gz of the folder, when the folder is valid."""
    archive_sha256: str | None
    logo: bytes = b""
    logo_media_type: str = ""
    python_version: str = ""
    system_dependencies: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class RepositoryContents:
    commit_sha: str
    actions: Sequence[FoundAction]
    errors: Sequence[ScanError] = field(default_factory=tuple)
    """Errors about the repository as a whole (e.g. two folders with the same id)."""


class RepositoryUnreadable(Exception):
    """The repository could not be read at all; the message says why, without secrets."""


class RepositoryReader(Protocol):
    async def read(
        self, *, url: str, ref: GitRef, credentials: Credentials | None
    ) -> RepositoryContents:
        """Check out ``ref`` in a scratch place, find and validate every action, clean up."""
        ...


class UrlPolicy(Protocol):
    def check_url(self, url: str) -> str:
        """The URL if Oryx may clone it; InvalidValue (field ``url``) otherwise."""
        ...

    def check_ref(self, value: str, *, field: str) -> str:
        """A branch or commit that cannot be mistaken for an option; InvalidValue otherwise."""
        ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self) -> str: ...
