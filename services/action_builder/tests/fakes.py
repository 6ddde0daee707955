"""In-memory fakes of the ports, for use-case tests. They keep state; tests assert on it."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from oryx_action_builder.application.ports import SourceUnavailable
from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.domain.events import Event


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        self.current += timedelta(seconds=1)
        return self.current


class InMemoryPublisher:
    """Records what was published; ``fail_on`` makes the n-th publish raise (1-based)."""

    def __init__(self, *, fail_on: set[int] | None = None) -> None:
        self.published: list[Event] = []
        self.attempts = 0
        self._fail_on = fail_on or set()

    async def publish(self, event: Event) -> None:
        self.attempts += 1
        if self.attempts in self._fail_on:
            raise ConnectionError("the broker did not confirm")
        self.published.append(event)


class InMemorySourceStore:
    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})
        self.downloads: list[str] = []

    async def download(self, *, key: str, destination: Path) -> None:
        self.downloads.append(key)
        if key not in self.objects:
            raise SourceUnavailable(f"no object {key!r}")
        await asyncio.to_thread(destination.write_bytes, self.objects[key])


class FakeBuilder:
    """Builds by returning ``result``; remembers finished builds by source digest (its content
    address). ``hold`` keeps a build running until ``release()`` (or until it is cancelled)."""

    def __init__(self, *, result: BuildResult | None = None, hold: bool = False) -> None:
        self.result = result
        self.hold = hold
        self.built: dict[str, BuildResult] = {}
        self.calls: list[tuple[str, bytes]] = []
        self.cancelled: list[str] = []
        self.started = asyncio.Event()
        self._release = asyncio.Event()

    def release(self) -> None:
        self._release.set()

    async def find(self, *, request: BuildRequest) -> BuildResult | None:
        found = self.built.get(request.source_sha256)
        return (
            None
            if found is None
            else BuildResult.succeeded(
                artifact_ref=found.artifact_ref, lock=found.lock, reused=True
            )
        )

    async def build(self, *, request: BuildRequest, archive: Path) -> BuildResult:
        self.calls.append((request.build_id, await asyncio.to_thread(archive.read_bytes)))
        self.started.set()
        try:
            if self.hold:
                await self._release.wait()
                self._release.clear()
        except asyncio.CancelledError:
            self.cancelled.append(request.build_id)
            raise
        finally:
            self.started.clear()
        result = self.result or BuildResult.succeeded(
            artifact_ref=f"fake:{request.source_sha256[:8]}", lock="six==1.17.0\n"
        )
        if result.status.value == "succeeded":
            self.built[request.source_sha256] = result
        return result
