"""The use cases: run a build (one at a time), cancel a build.

``RunBuild`` handles one request from start to finish and returns once the ``BuildFinished``
event is confirmed by the broker, so the caller may then acknowledge the request. Nothing is
stored: a request redelivered after a crash is built again, and the builders' content
addressing makes that quick when the artifact was finished before the crash.

The work of a running build runs in a task of its own, so that ``CancelBuild`` (driven by
another consumer, concurrently) can stop it, and ``Workshop.interrupt()`` (the service
stopping) can abandon it unreported, the request going back to the queue.
"""

import asyncio
import hashlib
import logging
import re
import tempfile
from pathlib import Path

from oryx_action_builder.application.ports import (
    Builder,
    Clock,
    EventPublisher,
    SourceStore,
    SourceUnavailable,
)
from oryx_action_builder.domain.builds import Build, BuildQueue, BuildRequest, BuildResult
from oryx_action_builder.domain.status import BuildStatus

log = logging.getLogger(__name__)

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class BuildInterrupted(Exception):
    """The service is stopping: the build was abandoned without a report, to be redelivered."""


class Workshop:
    """What the use cases share: the domain's queue and the task doing the current work."""

    def __init__(self, queue: BuildQueue | None = None) -> None:
        self.queue = queue if queue is not None else BuildQueue()
        self._work: asyncio.Task[BuildResult] | None = None
        self._interrupted = False

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def stop_work(self) -> None:
        """Stop the current build's work (it then ends CANCELLED)."""
        if self._work is not None:
            self._work.cancel()

    def interrupt(self) -> None:
        """Abandon the current work and refuse new builds: the service is stopping."""
        self._interrupted = True
        self.stop_work()

    async def run(self, build: Build, work: "asyncio.Task[BuildResult]") -> BuildResult:
        """Await ``work`` as the current build's; a stop of it becomes a CANCELLED result."""
        self._work = work
        try:
            if self._interrupted:
                work.cancel()
            return await work
        except asyncio.CancelledError:
            this = asyncio.current_task()
            if this is not None and this.cancelling():
                raise  # we are cancelled ourselves, not only the work
            if self._interrupted:
                raise BuildInterrupted(build.build_id) from None
            return BuildResult.cancelled()
        finally:
            self._work = None
            if not work.done():
                work.cancel()


class RunBuild:
    def __init__(
        self,
        *,
        workshop: Workshop,
        builder: Builder,
        sources: SourceStore,
        publisher: EventPublisher,
        clock: Clock,
    ) -> None:
        self._workshop = workshop
        self._builder = builder
        self._sources = sources
        self._publisher = publisher
        self._clock = clock

    async def __call__(self, request: BuildRequest) -> Build:
        """Build, reporting BuildStarted and BuildFinished; return once both are confirmed.

        Raises ``BuildInterrupted`` when the service stops meanwhile, and the publisher's error
        when an event cannot be confirmed: the request must then be delivered again.
        """
        if self._workshop.interrupted:
            raise BuildInterrupted(request.build_id)
        queue = self._workshop.queue
        build = queue.take(request, at=self._clock.now())
        try:
            if build.status is BuildStatus.QUEUED:
                build.start(at=self._clock.now())
                await self._publish(build)
                if build.stop_requested:  # cancelled while BuildStarted was on its way
                    result = BuildResult.cancelled()
                else:
                    work = asyncio.create_task(self._work(request), name=f"build {build.build_id}")
                    result = await self._workshop.run(build, work)
                build.finish(result=result, at=self._clock.now())
            log.info("build %s of %s: %s", build.build_id, request.action_id, build.status.value)
            await self._publish(build)
            return build
        finally:
            queue.release(build)

    async def _publish(self, build: Build) -> None:
        while build.events:
            await self._publisher.publish(build.events[0])
            build.events.pop(0)

    async def _work(self, request: BuildRequest) -> BuildResult:
        try:
            return await self._fetch_and_build(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or the machine (disk full): report it, do not retry
            log.exception("build %s failed unexpectedly", request.build_id)
            return BuildResult.failed(error=f"the builder failed unexpectedly: {exc!r}")

    async def _fetch_and_build(self, request: BuildRequest) -> BuildResult:
        if not request.source_archive_key:
            return BuildResult.failed(error="the build request names no source archive")
        expected = request.source_sha256.lower()
        if not SHA256_HEX.fullmatch(expected):
            return BuildResult.failed(
                error=f"the build request's source_sha256 {request.source_sha256!r} is not "
                "a sha256 digest (64 hexadecimal characters)"
            )
        found = await self._builder.find(request=request)
        if found is not None:
            return found
        with tempfile.TemporaryDirectory(prefix="oryx-build-") as workdir:
            archive = Path(workdir) / "source.tar.gz"
            try:
                await self._sources.download(key=request.source_archive_key, destination=archive)
            except SourceUnavailable as exc:
                return BuildResult.failed(
                    error=f"could not download the source archive "
                    f"{request.source_archive_key!r}: {exc}"
                )
            actual = await asyncio.to_thread(sha256_of, archive)
            if actual != expected:
                return BuildResult.failed(
                    error=f"the source archive {request.source_archive_key!r} has sha256 "
                    f"{actual}, not {expected} as requested: it changed or is corrupt"
                )
            return await self._builder.build(request=request, archive=archive)


class CancelBuild:
    def __init__(self, *, workshop: Workshop, clock: Clock) -> None:
        self._workshop = workshop
        self._clock = clock

    async def __call__(self, build_id: str) -> bool:
        """Cancel a build, queued or running; return True when a running build is stopped."""
        stop = self._workshop.queue.cancel(build_id, at=self._clock.now())
        if stop:
            log.info("stopping build %s", build_id)
            self._workshop.stop_work()
        return stop


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
