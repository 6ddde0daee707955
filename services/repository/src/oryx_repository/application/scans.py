"""Scanning a source: read the repository at a branch or commit, validate every action,
keep their sources in the filestore, and record what was found."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from oryx_repository.application.filestore import Filestore
from oryx_repository.application.ports import (
    Clock,
    FoundAction,
    GitRef,
    IdGenerator,
    RepositoryReader,
    RepositoryUnreadable,
    UnitOfWorkFactory,
    UrlPolicy,
)
from oryx_repository.application.sources import get_source
from oryx_repository.domain.actions import Action, ScanError, ScannedContent
from oryx_repository.domain.errors import InvalidValue
from oryx_repository.domain.sources import ScanStatus, ScanSummary, Source

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ScanResult:
    source: Source
    summary: ScanSummary
    actions: Sequence[Action]
    errors: Sequence[ScanError]
    """Errors about the repository as a whole."""


def archive_key(project_id: str, source_id: str, sha256: str) -> str:
    # content-addressed: an unchanged action folder is stored once per source
    return f"projects/{project_id}/sources/{source_id}/archives/{sha256}.tar.gz"


class Scans:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        reader: RepositoryReader,
        filestore: Filestore,
        urls: UrlPolicy,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._filestore = filestore
        self._urls = urls
        self._clock = clock
        self._ids = ids

    async def scan(
        self,
        *,
        project_id: str,
        source_id: str,
        branch: str | None = None,
        commit: str | None = None,
    ) -> ScanResult:
        if branch and commit:
            raise InvalidValue("give a branch or a commit, not both", field="commit")
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
        if commit:
            ref = GitRef(commit=self._urls.check_ref(commit, field="commit"))
        else:
            ref = GitRef(branch=self._urls.check_ref(branch or source.branch, field="branch"))

        try:
            contents = await self._reader.read(
                url=source.url, ref=ref, credentials=source.credentials
            )
        except RepositoryUnreadable as exc:
            return await self._record_failure(source, ref, str(exc))

        for found in contents.actions:
            if found.archive is not None and found.archive_sha256 is not None:
                key = archive_key(project_id, source.id, found.archive_sha256)
                if not await self._filestore.exists(key):
                    await self._filestore.put(key, found.archive, content_type="application/gzip")

        now = self._clock.now()
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
            known = {a.content.path: a for a in await uow.actions.for_source(source.id)}
            actions = []
            for found in contents.actions:
                content = self._content(project_id, source.id, contents.commit_sha, found)
                action = known.pop(found.path, None)
                if action is None:
                    action = Action.discover(
                        id=self._ids.new(),
                        project_id=project_id,
                        source_id=source.id,
                        content=content,
                        at=now,
                    )
                    uow.actions.add(action)
                else:
                    action.rescan(content=content, at=now)
                actions.append(action)
            for gone in known.values():  # folders no longer in the repository
                if gone.status.is_building:
                    gone.cancel_build(at=now)
                await uow.actions.remove(gone)
            summary = ScanSummary(
                status=ScanStatus.OK,
                ref=ref.label,
                commit_sha=contents.commit_sha,
                at=now,
                action_count=len(actions),
                error_count=sum(len(a.content.errors) for a in actions) + len(contents.errors),
            )
            source.record_scan(summary)
            await uow.commit()
        return ScanResult(
            source=source, summary=summary, actions=actions, errors=list(contents.errors)
        )

    async def _record_failure(self, source: Source, ref: GitRef, error: str) -> ScanResult:
        summary = ScanSummary(
            status=ScanStatus.ERROR,
            ref=ref.label,
            commit_sha=None,
            at=self._clock.now(),
            error=error,
        )
        async with self._uow() as uow:
            fresh = await get_source(uow, project_id=source.project_id, source_id=source.id)
            fresh.record_scan(summary)
            await uow.commit()
        log.info("scan of source %s failed: %s", source.id, error)
        return ScanResult(source=fresh, summary=summary, actions=[], errors=[])

    @staticmethod
    def _content(
        project_id: str, source_id: str, commit_sha: str, found: FoundAction
    ) -> ScannedContent:
        key = (
            archive_key(project_id, source_id, found.archive_sha256)
            if found.archive is not None and found.archive_sha256
            else None
        )
        return ScannedContent(
            path=found.path,
            commit_sha=commit_sha,
            name=found.name,
            version=found.version,
            kind=found.kind,
            metadata=found.metadata if not found.errors else None,
            document=found.document,
            errors=tuple(found.errors),
            archive_key=key,
            archive_sha256=found.archive_sha256 if key else None,
            logo=found.logo,
            logo_media_type=found.logo_media_type,
            python_version=found.python_version,
            system_dependencies=tuple(found.system_dependencies),
        )
