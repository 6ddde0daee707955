"""Domain events: facts other services learn about through the outbox."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class Event:
    occurred_at: datetime


@dataclass(frozen=True, kw_only=True)
class UserDeleted(Event):
    user_id: str
    username: str


@dataclass(frozen=True, kw_only=True)
class ProjectDeleted(Event):
    project_id: str
    name: str


@dataclass(frozen=True, kw_only=True)
class ProjectMemberRemoved(Event):
    project_id: str
    user_id: str
