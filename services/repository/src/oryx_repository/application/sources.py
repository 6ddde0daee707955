"""Git sources of a project: add, list, change, remove."""

import builtins
from dataclasses import dataclass

from oryx_repository.application.ports import (
    Clock,
    IdGenerator,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
    UrlPolicy,
)
from oryx_repository.domain.actions import Action
from oryx_repository.domain.errors import InvalidValue, NotFound
from oryx_repository.domain.sources import Credentials, Source, validate_source_name

DEFAULT_BRANCH = "main"


@dataclass(frozen=True, kw_only=True)
class AddSource:
    name: str
    url: str
    branch: str | None = None
    username: str | None = None
    password: str | None = None


@dataclass(frozen=True, kw_only=True)
class ChangeSource:
    name: str | None = None
    url: str | None = None
    branch: str | None = None
    username: str | None = None
    password: str | None = None
    clear_credentials: bool = False


def _credentials(username: str | None, password: str | None) -> Credentials | None:
    if username is None and password is None:
        return None
    if not password:
        raise InvalidValue("a password or token is required with a username", field="password")
    return Credentials(username=username or "oauth2", secret=password)


async def get_source(uow: UnitOfWork, *, project_id: str, source_id: str) -> Source:
    source = await uow.sources.get(project_id=project_id, source_id=source_id)
    if source is None:
        raise NotFound(f"source {source_id} not found", field="source_id")
    return source


class Sources:
    def __init__(
        self, *, uow: UnitOfWorkFactory, urls: UrlPolicy, clock: Clock, ids: IdGenerator
    ) -> None:
        self._uow = uow
        self._urls = urls
        self._clock = clock
        self._ids = ids

    async def add(self, *, project_id: str, cmd: AddSource) -> Source:
        now = self._clock.now()
        source = Source(
            id=self._ids.new(),
            project_id=project_id,
            name=validate_source_name(cmd.name),
            url=self._urls.check_url(cmd.url),
            branch=self._urls.check_ref(cmd.branch or DEFAULT_BRANCH, field="branch"),
            credentials=_credentials(cmd.username, cmd.password),
            created_at=now,
            updated_at=now,
        )
        async with self._uow() as uow:
            uow.sources.add(source)
            await uow.commit()
        return source

    async def list(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Source]:
        async with self._uow() as uow:
            return await uow.sources.page(project_id=project_id, limit=limit, cursor=cursor)

    async def get(self, *, project_id: str, source_id: str) -> Source:
        async with self._uow() as uow:
            return await get_source(uow, project_id=project_id, source_id=source_id)

    async def change(self, *, project_id: str, source_id: str, cmd: ChangeSource) -> Source:
        url = self._urls.check_url(cmd.url) if cmd.url is not None else None
        branch = self._urls.check_ref(cmd.branch, field="branch") if cmd.branch else None
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
            credentials = None
            if cmd.password is not None or cmd.username is not None:
                kept = source.credentials
                username = cmd.username or (kept.username if kept else None)
                password = cmd.password or (kept.secret if kept else None)
                credentials = _credentials(username, password)
            source.update(
                name=cmd.name,
                url=url,
                branch=branch,
                credentials=credentials,
                clear_credentials=cmd.clear_credentials,
                at=self._clock.now(),
            )
            await uow.commit()
        return source

    async def remove(self, *, project_id: str, source_id: str) -> None:
        """Remove the source and its actions; builds in flight are cancelled. Actions already
        published stay in the studio's library."""
        now = self._clock.now()
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
            for action in await uow.actions.for_source(source.id):
                if action.status.is_building:
                    action.cancel_build(at=now)
                await uow.actions.remove(action)
            await uow.sources.remove(source)
            await uow.commit()

    async def actions_of(self, *, project_id: str, source_id: str) -> builtins.list[Action]:
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
            return await uow.actions.for_source(source.id)
