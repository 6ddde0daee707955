"""Actions found in a source, and the life of their builds.

An action is identified by its source and its folder in the repository. Each scan refreshes
it; a build turns its sources at the scanned commit into an artifact, and a successful build
publishes it to the studio.

    scanned ──build──▶ build_pending ──started──▶ building ──finished──▶ built
       ▲  ▲                 │                        │           └─────▶ build_error
       │  └──── rescan ─────┴────── cancel ──────────┴─────────────────▶ cancelled
    scan_error (fix the repository and scan again)
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from oryx_repository.domain.action_format_checks import FormatError
from oryx_repository.domain.errors import Conflict
from oryx_repository.domain.events import (
    ActionPublished,
    BuildCancelled,
    BuildRequested,
    Event,
)

LOG_TAIL_CHARS = 16_000


class ActionStatus(StrEnum):
    SCANNED = "scanned"
    SCAN_ERROR = "scan_error"
    BUILD_PENDING = "build_pending"
    BUILDING = "building"
    BUILT = "built"
    BUILD_ERROR = "build_error"
    CANCELLED = "cancelled"

    @property
    def is_building(self) -> bool:
        return self in (ActionStatus.BUILD_PENDING, ActionStatus.BUILDING)


class BuildOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ScanError = FormatError
"""A reason an action cannot be used: the file, the field in it, and why."""


@dataclass(frozen=True, kw_only=True)
class ScannedContent:
    """What one scan found in one action folder."""

    path: str
    commit_sha: str
    name: str
    """spec.id, or the folder name when the metadata is unreadable."""
    version: str
    kind: str
    metadata: Any
    """The validated ``ActionMetadata``, or None when the folder has errors."""
    document: dict[str, Any]
    errors: tuple[ScanError, ...]
    archive_key: str | None
    archive_sha256: str | None
    logo: bytes = b""
    logo_media_type: str = ""
    python_version: str = ""
    system_dependencies: tuple[str, ...] = ()


@dataclass(kw_only=True)
class Action:
    id: str
    project_id: str
    source_id: str
    content: ScannedContent
    status: ActionStatus
    created_at: datetime
    updated_at: datetime
    build_id: str | None = None
    build_log_tail: str = ""
    build_error: str | None = None
    artifact_ref: str | None = None
    built_archive_sha256: str | None = None
    lock: str = ""
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def discover(
        cls, *, id: str, project_id: str, source_id: str, content: ScannedContent, at: datetime
    ) -> "Action":
        status = ActionStatus.SCAN_ERROR if content.errors else ActionStatus.SCANNED
        return cls(
            id=id,
            project_id=project_id,
            source_id=source_id,
            content=content,
            status=status,
            created_at=at,
            updated_at=at,
        )

    @property
    def name(self) -> str:
        return self.content.name

    @property
    def version(self) -> str:
        return self.content.version

    def rescan(self, *, content: ScannedContent, at: datetime) -> None:
        """A new scan saw this folder again. A build in flight of other sources is cancelled;
        an action whose sources did not change keeps its build."""
        changed = content.archive_sha256 != self.content.archive_sha256 or bool(content.errors)
        self.content = content
        self.updated_at = at
        if content.errors:
            self._cancel_running(at=at)
            self.status = ActionStatus.SCAN_ERROR
        elif changed or self.status is ActionStatus.SCAN_ERROR:
            self._cancel_running(at=at)
            self.status = ActionStatus.SCANNED

    def request_build(self, *, build_id: str, at: datetime) -> None:
        if self.status is ActionStatus.SCAN_ERROR:
            raise Conflict(
                f"action {self.name!r} has scan errors; fix them in the repository and scan "
                "again before building"
            )
        if self.status.is_building:
            raise Conflict(f"action {self.name!r} is already {self.status.value}")
        assert self.content.archive_key and self.content.archive_sha256
        self.status = ActionStatus.BUILD_PENDING
        self.build_id = build_id
        self.build_log_tail = ""
        self.build_error = None
        self.updated_at = at
        self.events.append(
            BuildRequested(
                build_id=build_id,
                action_id=self.id,
                project_id=self.project_id,
                name=self.name,
                version=self.version,
                kind=self.content.kind,
                archive_key=self.content.archive_key,
                archive_sha256=self.content.archive_sha256,
                python_version=self.content.python_version,
                system_dependencies=self.content.system_dependencies,
                occurred_at=at,
            )
        )

    def cancel_build(self, *, at: datetime) -> None:
        if not self.status.is_building:
            raise Conflict(f"action {self.name!r} has no build to cancel ({self.status.value})")
        self._cancel_running(at=at)

    def build_started(self, *, build_id: str, at: datetime) -> bool:
        """Record the builder's start; False when the message is about an older build."""
        if build_id != self.build_id or self.status is not ActionStatus.BUILD_PENDING:
            return False
        self.status = ActionStatus.BUILDING
        self.updated_at = at
        return True

    def build_finished(
        self,
        *,
        build_id: str,
        outcome: BuildOutcome,
        artifact_ref: str,
        log_tail: str,
        error: str,
        lock: str,
        at: datetime,
    ) -> bool:
        """Record the end of a build; False when the message is about an older build."""
        if build_id != self.build_id or not self.status.is_building:
            return False
        self.build_log_tail = log_tail[-LOG_TAIL_CHARS:]
        self.updated_at = at
        if outcome is BuildOutcome.SUCCEEDED:
            self.status = ActionStatus.BUILT
            self.artifact_ref = artifact_ref
            self.built_archive_sha256 = self.content.archive_sha256
            self.lock = lock
            self.build_error = None
            self.events.append(
                ActionPublished(
                    action_id=self.id,
                    project_id=self.project_id,
                    source_id=self.source_id,
                    commit_sha=self.content.commit_sha,
                    artifact_ref=artifact_ref,
                    metadata=self.content.metadata,
                    document=self.content.document,
                    logo=self.content.logo,
                    logo_media_type=self.content.logo_media_type,
                    occurred_at=at,
                )
            )
        elif outcome is BuildOutcome.FAILED:
            self.status = ActionStatus.BUILD_ERROR
            self.build_error = error or "the build failed; see the build log"
        else:
            self.status = ActionStatus.CANCELLED
        return True

    def _cancel_running(self, *, at: datetime) -> None:
        if self.status.is_building and self.build_id is not None:
            self.events.append(
                BuildCancelled(build_id=self.build_id, action_id=self.id, occurred_at=at)
            )
            self.status = ActionStatus.CANCELLED
            self.updated_at = at
