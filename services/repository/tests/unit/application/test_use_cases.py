"""The repository's use cases on fakes: sources, scans, builds and the builder's reports."""

import hashlib

import pytest

from oryx_repository.application.builds import BuildReports, Builds
from oryx_repository.application.ports import (
    FoundAction,
    RepositoryContents,
    RepositoryUnreadable,
)
from oryx_repository.application.scans import Scans
from oryx_repository.application.sources import AddSource, ChangeSource, Sources
from oryx_repository.application.url_rules import UrlRules
from oryx_repository.domain.actions import ActionStatus, BuildOutcome, ScanError
from oryx_repository.domain.errors import Conflict, InvalidValue, NotFound
from oryx_repository.domain.events import ActionPublished, BuildCancelled, BuildRequested
from oryx_repository.domain.sources import ScanStatus

from ...fakes import (  # type: ignore[import-not-found]
    FakeClock,
    FakeReader,
    InMemoryDatabase,
    InMemoryFilestore,
    InMemoryUnitOfWork,
    SequentialIds,
)

P1, P2 = "project-1", "project-2"


def found(path: str, *, name: str | None = None, archive: bytes = b"tgz", errors=()) -> FoundAction:
    return FoundAction(
        path=path,
        name=name or path,
        version="1.0",
        kind="processor",
        metadata=None if errors else object(),
        document={"spec": {"id": name or path}},
        errors=tuple(errors),
        archive=None if errors else archive,
        archive_sha256=None if errors else hashlib.sha256(archive).hexdigest(),
    )


class World:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        self.reader = FakeReader()
        self.files = InMemoryFilestore()
        clock, ids = FakeClock(), SequentialIds()
        urls = UrlRules(allow_file_urls=False)

        def uow() -> InMemoryUnitOfWork:
            return InMemoryUnitOfWork(self.db)

        self.uow = uow
        self.sources = Sources(uow=uow, urls=urls, clock=clock, ids=ids)
        self.scans = Scans(
            uow=uow, reader=self.reader, filestore=self.files, urls=urls, clock=clock, ids=ids
        )
        self.builds = Builds(uow=uow, clock=clock, ids=ids)
        self.reports = BuildReports(clock=clock)

    async def source(self, project: str = P1) -> str:
        source = await self.sources.add(
            project_id=project, cmd=AddSource(name="actions", url="https://example.org/a.git")
        )
        return source.id

    async def scanned(self, *found_actions: FoundAction) -> tuple[str, list]:
        source_id = await self.source()
        self.reader.contents = RepositoryContents(commit_sha="a" * 40, actions=list(found_actions))
        result = await self.scans.scan(project_id=P1, source_id=source_id)
        return source_id, list(result.actions)


@pytest.fixture
def world() -> World:
    return World()


async def test_sources_are_checked_and_scoped(world: World) -> None:
    with pytest.raises(InvalidValue) as err:
        await world.sources.add(project_id=P1, cmd=AddSource(name="x", url="ext::sh -c id"))
    assert err.value.field == "url"
    with pytest.raises(InvalidValue):
        await world.sources.add(
            project_id=P1, cmd=AddSource(name="x", url="https://h/r.git", branch="--upload-pack=x")
        )
    source_id = await world.source(P1)
    with pytest.raises(NotFound):
        await world.sources.get(project_id=P2, source_id=source_id)
    assert (await world.sources.get(project_id=P1, source_id=source_id)).branch == "main"


async def test_credentials_are_kept_unless_changed(world: World) -> None:
    source = await world.sources.add(
        project_id=P1,
        cmd=AddSource(name="private", url="https://h/r.git", username="bot", password="s3cret"),
    )
    assert "s3cret" not in repr(source)
    changed = await world.sources.change(
        project_id=P1, source_id=source.id, cmd=ChangeSource(name="renamed")
    )
    assert changed.credentials is not None and changed.credentials.secret == "s3cret"
    changed = await world.sources.change(
        project_id=P1, source_id=source.id, cmd=ChangeSource(clear_credentials=True)
    )
    assert changed.credentials is None
    with pytest.raises(InvalidValue):
        await world.sources.change(
            project_id=P1, source_id=source.id, cmd=ChangeSource(username="only-a-name")
        )


async def test_scan_records_actions_errors_and_archives(world: World) -> None:
    error = ScanError(file="bad/ryax_metadata.yaml", field="spec.type", reason="unsupported")
    source_id, actions = await world.scanned(found("echo"), found("bad", errors=[error]))
    statuses = {a.content.path: a.status for a in actions}
    assert statuses == {"echo": ActionStatus.SCANNED, "bad": ActionStatus.SCAN_ERROR}
    assert len(world.files.objects) == 1  # only valid folders are archived
    source = await world.sources.get(project_id=P1, source_id=source_id)
    assert source.last_scan.status is ScanStatus.OK
    assert source.last_scan.error_count == 1


async def test_an_unreadable_repository_is_a_scan_error_not_a_crash(world: World) -> None:
    source_id = await world.source()
    world.reader.error = RepositoryUnreadable("repository not found")
    result = await world.scans.scan(project_id=P1, source_id=source_id)
    assert result.summary.status is ScanStatus.ERROR
    assert result.summary.error == "repository not found"


async def test_scan_refuses_bad_refs(world: World) -> None:
    source_id = await world.source()
    with pytest.raises(InvalidValue):
        await world.scans.scan(project_id=P1, source_id=source_id, commit="-oops")
    with pytest.raises(InvalidValue):
        await world.scans.scan(project_id=P1, source_id=source_id, branch="b", commit="a" * 40)


async def test_build_life_and_publication(world: World) -> None:
    _, (action,) = await world.scanned(found("echo"))
    built = await world.builds.build(project_id=P1, action_id=action.id)
    assert built.status is ActionStatus.BUILD_PENDING
    with pytest.raises(Conflict):
        await world.builds.build(project_id=P1, action_id=action.id)
    requested = [e for e in world.db.published if isinstance(e, BuildRequested)]
    assert [e.action_id for e in requested] == [action.id]
    assert requested[0].archive_key in world.files.objects

    async with world.uow() as uow:
        await world.reports.started(uow, action_id=action.id, build_id=built.build_id)
        await uow.commit()
    assert world.db.actions[action.id].status is ActionStatus.BUILDING
    async with world.uow() as uow:  # a report about an older build changes nothing
        await world.reports.finished(
            uow,
            action_id=action.id,
            build_id="old",
            outcome=BuildOutcome.FAILED,
            artifact_ref="",
            log_tail="",
            error="boom",
            lock="",
        )
        await world.reports.finished(
            uow,
            action_id=action.id,
            build_id=built.build_id,
            outcome=BuildOutcome.SUCCEEDED,
            artifact_ref="local:abc",
            log_tail="ok",
            error="",
            lock="pkg==1",
        )
        await uow.commit()
    action = world.db.actions[action.id]
    assert action.status is ActionStatus.BUILT
    assert action.artifact_ref == "local:abc"
    published = [e for e in world.db.published if isinstance(e, ActionPublished)]
    assert [e.artifact_ref for e in published] == ["local:abc"]


async def test_scan_errors_block_builds_and_cancel_needs_a_build(world: World) -> None:
    error = ScanError(file="x", field="spec", reason="bad")
    _, (bad,) = await world.scanned(found("bad", errors=[error]))
    with pytest.raises(Conflict, match="scan errors"):
        await world.builds.build(project_id=P1, action_id=bad.id)
    with pytest.raises(Conflict):
        await world.builds.cancel(project_id=P1, action_id=bad.id)


async def test_cancel_emits_and_a_rescan_with_new_sources_cancels(world: World) -> None:
    source_id, (action,) = await world.scanned(found("echo"))
    await world.builds.build(project_id=P1, action_id=action.id)
    cancelled = await world.builds.cancel(project_id=P1, action_id=action.id)
    assert cancelled.status is ActionStatus.CANCELLED
    await world.builds.build(project_id=P1, action_id=action.id)
    world.reader.contents = RepositoryContents(
        commit_sha="b" * 40, actions=[found("echo", archive=b"changed")]
    )
    result = await world.scans.scan(project_id=P1, source_id=source_id)
    assert result.actions[0].status is ActionStatus.SCANNED
    assert len([e for e in world.db.published if isinstance(e, BuildCancelled)]) == 2


async def test_build_source_builds_every_valid_action(world: World) -> None:
    error = ScanError(file="x", field="spec", reason="bad")
    source_id, _ = await world.scanned(found("a"), found("b"), found("c", errors=[error]))
    requested = await world.builds.build_source(project_id=P1, source_id=source_id)
    assert sorted(a.content.path for a in requested) == ["a", "b"]
    again = await world.builds.build_source(project_id=P1, source_id=source_id)
    assert again == []  # already building


async def test_folders_gone_from_the_repository_are_dropped(world: World) -> None:
    source_id, _ = await world.scanned(found("a"), found("b"))
    world.reader.contents = RepositoryContents(commit_sha="c" * 40, actions=[found("a")])
    await world.scans.scan(project_id=P1, source_id=source_id)
    assert sorted(a.content.path for a in world.db.actions.values()) == ["a"]


async def test_actions_are_invisible_from_another_project(world: World) -> None:
    _, (action,) = await world.scanned(found("echo"))
    with pytest.raises(NotFound):
        await world.builds.get(project_id=P2, action_id=action.id)
    page = await world.builds.list(
        project_id=P2, source_id=None, status=None, limit=10, cursor=None
    )
    assert page.total == 0
