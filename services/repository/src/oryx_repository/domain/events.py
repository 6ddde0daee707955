"""Domain events of the repository service. Each carries what its message needs, so the
outbox row can be written from the event alone."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Event:
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class BuildRequested(Event):
    build_id: str
    action_id: str
    project_id: str
    name: str
    version: str
    kind: str
    archive_key: str
    archive_sha256: str
    python_version: str
    system_dependencies: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BuildCancelled(Event):
    build_id: str
    action_id: str


@dataclass(frozen=True, kw_only=True)
class ActionPublished(Event):
    action_id: str
    project_id: str
    source_id: str
    commit_sha: str
    artifact_ref: str
    metadata: Any
    """The action's validated ``ActionMetadata``."""
    document: dict[str, Any] = field(default_factory=dict)
    """The metadata file as parsed, for fields later consumers may want."""
    logo: bytes = b""
    logo_media_type: str = ""
