import asyncio
import hashlib
from dataclasses import dataclass

import pytest

from oryx_action_builder.application.builds import (
    BuildInterrupted,
    CancelBuild,
    RunBuild,
    Workshop,
)
from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.domain.events import BuildStarted
from oryx_action_builder.domain.status import BuildStatus

from ...fakes import (  # type: ignore[import-not-found]
    FakeBuilder,
    FakeClock,
    InMemoryPublisher,
    InMemorySourceStore,
)

SOURCES = b"the action's archive"
SHA = hashlib.sha256(SOURCES).hexdigest()


@dataclass
class World:
    builder: FakeBuilder
    sources: InMemorySourceStore
    publisher: InMemoryPublisher
    workshop: Workshop
    run: RunBuild
    cancel: CancelBuild

    def outcomes(self) -> list[tuple[str, str]]:
        """(event, build id[: status]) of everything published, in order."""
        seen = []
        for event in self.publisher.published:
            if isinstance(event, BuildStarted):
                seen.append(("started", event.build_id))
            else:
                seen.append(("finished", f"{event.build_id}: {event.status.value}"))
        return seen


def world(
    *, builder: FakeBuilder | None = None, publisher: InMemoryPublisher | None = None
) -> World:
    builder = builder or FakeBuilder()
    sources = InMemorySourceStore({"src/a.tar.gz": SOURCES})
    publisher = publisher or InMemoryPublisher()
    workshop = Workshop()
    clock = FakeClock()
    return World(
        builder=builder,
        sources=sources,
        publisher=publisher,
        workshop=workshop,
        run=RunBuild(
            workshop=workshop, builder=builder, sources=sources, publisher=publisher, clock=clock
        ),
        cancel=CancelBuild(workshop=workshop, clock=clock),
    )


def request(build_id: str = "b1", **changes: str) -> BuildRequest:
    fields = {
        "build_id": build_id,
        "action_id": "a1",
        "project_id": "p1",
        "action_name": "echo",
        "version": "1.0",
        "source_archive_key": "src/a.tar.gz",
        "source_sha256": SHA,
        **changes,
    }
    return BuildRequest(**fields)


async def test_a_build_downloads_its_sources_builds_and_reports() -> None:
    w = world()

    build = await w.run(request())

    assert build.status is BuildStatus.SUCCEEDED
    assert w.builder.calls == [("b1", SOURCES)]
    assert w.outcomes() == [("started", "b1"), ("finished", "b1: succeeded")]
    finished = w.publisher.published[-1]
    assert finished.artifact_ref == f"fake:{SHA[:8]}"
    assert finished.lock == "six==1.17.0\n"
    assert w.workshop.queue.current is None


async def test_an_identical_action_is_built_once() -> None:
    w = world()
    await w.run(request("b1"))

    again = await w.run(request("b2"))

    assert again.status is BuildStatus.SUCCEEDED
    assert again.result is not None and again.result.reused
    assert len(w.builder.calls) == 1
    assert w.sources.downloads == ["src/a.tar.gz"]  # not downloaded the second time


async def test_a_builder_failure_is_reported_with_its_log_tail() -> None:
    w = world(builder=FakeBuilder(result=BuildResult.failed(error="pip failed", log_tail="ERR")))

    build = await w.run(request())

    assert build.status is BuildStatus.FAILED
    finished = w.publisher.published[-1]
    assert (finished.error, finished.log_tail) == ("pip failed", "ERR")


async def test_sources_that_do_not_match_their_digest_are_not_built() -> None:
    w = world()

    build = await w.run(request(source_sha256="a" * 64))

    assert build.status is BuildStatus.FAILED
    assert build.result is not None and "changed or is corrupt" in build.result.error
    assert w.builder.calls == []


async def test_missing_sources_fail_the_build() -> None:
    w = world()

    build = await w.run(request(source_archive_key="src/missing.tar.gz"))

    assert build.result is not None
    assert build.result.error.startswith("could not download the source archive")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source_sha256": "not-a-digest"}, "is not a sha256 digest"),
        ({"source_archive_key": ""}, "names no source archive"),
    ],
)
async def test_malformed_requests_fail_with_a_reason(changes: dict[str, str], message: str) -> None:
    w = world()

    build = await w.run(request(**changes))

    assert build.result is not None and message in build.result.error


async def test_an_unexpected_builder_error_is_a_failure_not_a_crash() -> None:
    class Broken(FakeBuilder):
        async def build(self, **_: object) -> BuildResult:
            raise OSError("No space left on device")

    w = world(builder=Broken())

    build = await w.run(request())

    assert build.result is not None and "No space left on device" in build.result.error


async def test_cancelling_the_running_build_stops_it_and_reports_cancelled() -> None:
    w = world(builder=FakeBuilder(hold=True))
    running = asyncio.create_task(w.run(request("b1")))
    await w.builder.started.wait()

    assert await w.cancel("b1") is True
    build = await running

    assert build.status is BuildStatus.CANCELLED
    assert w.builder.cancelled == ["b1"]
    assert w.outcomes() == [("started", "b1"), ("finished", "b1: cancelled")]


async def test_a_cancelled_queued_build_is_reported_without_building() -> None:
    w = world(builder=FakeBuilder(hold=True))
    running = asyncio.create_task(w.run(request("b1")))
    await w.builder.started.wait()

    assert await w.cancel("b2") is False  # b2 waits in the broker's queue
    w.builder.release()
    await running
    queued = await w.run(request("b2"))

    assert queued.status is BuildStatus.CANCELLED
    assert [c[0] for c in w.builder.calls] == ["b1"]
    assert w.outcomes() == [
        ("started", "b1"),
        ("finished", "b1: succeeded"),
        ("finished", "b2: cancelled"),
    ]


async def test_a_second_build_cannot_start_while_one_runs() -> None:
    w = world(builder=FakeBuilder(hold=True))
    running = asyncio.create_task(w.run(request("b1")))
    await w.builder.started.wait()

    with pytest.raises(Exception, match="must wait its turn"):
        await w.run(request("b2"))
    w.builder.release()
    await running


async def test_an_unconfirmed_report_raises_so_the_request_comes_again() -> None:
    w = world(publisher=InMemoryPublisher(fail_on={2}))  # BuildFinished of the first attempt

    with pytest.raises(ConnectionError):
        await w.run(request("b1"))
    assert w.workshop.queue.current is None
    again = await w.run(request("b1"))  # the redelivery

    assert again.status is BuildStatus.SUCCEEDED
    assert again.result is not None and again.result.reused
    assert len(w.builder.calls) == 1
    assert w.outcomes() == [("started", "b1"), ("started", "b1"), ("finished", "b1: succeeded")]


async def test_stopping_the_service_abandons_the_build_unreported() -> None:
    w = world(builder=FakeBuilder(hold=True))
    running = asyncio.create_task(w.run(request("b1")))
    await w.builder.started.wait()

    w.workshop.interrupt()

    with pytest.raises(BuildInterrupted):
        await running
    assert w.outcomes() == [("started", "b1")]
    assert w.builder.cancelled == ["b1"]
    with pytest.raises(BuildInterrupted):
        await w.run(request("b2"))


async def test_cancelling_the_caller_cancels_the_work_too() -> None:
    w = world(builder=FakeBuilder(hold=True))
    running = asyncio.create_task(w.run(request("b1")))
    await w.builder.started.wait()

    running.cancel()

    with pytest.raises(asyncio.CancelledError):
        await running
    assert w.builder.cancelled == ["b1"]
    assert w.workshop.queue.current is None
