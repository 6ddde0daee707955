"""The ports: what the use cases need from the outside, in their words.

Adapters live in ``infrastructure``; ``container.py`` chooses them.
"""

from datetime import datetime
from pathlib import Path
from typing import Protocol

from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.domain.events import Event


class Clock(Protocol):
    def now(self) -> datetime: ...


class EventPublisher(Protocol):
    async def publish(self, event: Event) -> None:
        """Return once the broker has confirmed the event; raise otherwise."""
        ...


class SourceUnavailable(Exception):
    """The source archive could not be downloaded (missing, refused, too big, store down)."""


class SourceStore(Protocol):
    """The filestore, read side: where the repository put the action's source archive."""

    async def download(self, *, key: str, destination: Path) -> None:
        """Write the object at ``key`` to ``destination``; raise ``SourceUnavailable``."""
        ...


class Builder(Protocol):
    """Turns an action's source archive into a runnable artifact."""

    async def find(self, *, request: BuildRequest) -> BuildResult | None:
        """The result of an identical build done before (content address), or None."""
        ...

    async def build(self, *, request: BuildRequest, archive: Path) -> BuildResult:
        """Build from ``archive`` (a .tar.gz whose sha256 was checked).

        Stopped by cancelling the calling task: the builder then stops its work (kills its
        processes), removes what it half-built and lets ``CancelledError`` propagate. Every
        failure a person can act on is a FAILED result, not an exception.
        """
        ...
