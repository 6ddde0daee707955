"""API keys of the user APIs: manage them, and check a caller's key on every call.

``ApiAccess`` is on the hot path of every HTTP-triggered run: it keeps each project's
settings and key hashes in memory and forgets a project when its keys or settings change
(``forget``, called on the runner processes' change notifications), so a call costs no
database round trip. Key use is recorded at most once a minute per key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from oryx_runner.application.ports import Clock, IdGenerator, Page, UnitOfWorkFactory
from oryx_runner.domain.api_keys import ApiKey, ApiSettings, hash_key
from oryx_runner.domain.errors import NotAuthenticated, NotFound

TOUCH_EVERY = timedelta(minutes=1)
MAX_PRESENTED_LENGTH = 512


class ApiKeys:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        """``on_change(project_id)`` after a change is committed: this process forgets what
        it knew at once (other processes hear of it through the database)."""
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._on_change = on_change or (lambda _project_id: None)

    async def create(self, *, project_id: str, name: str, created_by: str) -> tuple[ApiKey, str]:
        """A new key and its secret, which is never shown again."""
        key, secret = ApiKey.create(
            key_id=self._ids.new(),
            project_id=project_id,
            name=name,
            created_by=created_by,
            at=self._clock.now(),
        )
        async with self._uow() as uow:
            await uow.api_keys.add(key)
            await uow.commit()
        self._on_change(project_id)
        return key, secret

    async def list(self, *, project_id: str, limit: int, cursor: str | None) -> Page[ApiKey]:
        async with self._uow() as uow:
            return await uow.api_keys.page(project_id=project_id, limit=limit, cursor=cursor)

    async def delete(self, *, project_id: str, key_id: str) -> None:
        async with self._uow() as uow:
            if not await uow.api_keys.remove(project_id=project_id, key_id=key_id):
                raise NotFound(f"API key {key_id} not found", field="key_id")
            await uow.commit()
        self._on_change(project_id)

    async def settings(self, *, project_id: str) -> ApiSettings:
        async with self._uow() as uow:
            return await uow.api_keys.settings(project_id)

    async def set_settings(self, *, project_id: str, require_api_key: bool) -> ApiSettings:
        settings = ApiSettings(
            project_id=project_id, require_api_key=require_api_key, changed_at=self._clock.now()
        )
        async with self._uow() as uow:
            await uow.api_keys.save_settings(settings)
            await uow.commit()
        self._on_change(project_id)
        return settings


@dataclass(frozen=True, kw_only=True)
class _Known:
    require_api_key: bool
    hashes: dict[str, str]


@dataclass(frozen=True, kw_only=True)
class Access:
    """Who calls a user API: a key's id, or nobody in particular (an open project)."""

    key_id: str | None

    @property
    def label(self) -> str:
        return f"api-key:{self.key_id}" if self.key_id else ""


class ApiAccess:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, size: int = 4096) -> None:
        self._uow = uow
        self._clock = clock
        self._size = size
        self._known: dict[str, _Known] = {}
        self._generation = 0
        self._touched: dict[str, float] = {}

    def forget(self, project_id: str) -> None:
        """The project's keys or settings changed (``""``: any project's may have)."""
        self._generation += 1
        if project_id:
            self._known.pop(project_id, None)
        else:
            self._known.clear()

    async def _load(self, project_id: str) -> _Known:
        known = self._known.get(project_id)
        if known is not None:
            return known
        generation = self._generation
        async with self._uow() as uow:
            settings = await uow.api_keys.settings(project_id)
            hashes = await uow.api_keys.hashes(project_id)
        known = _Known(require_api_key=settings.require_api_key, hashes=hashes)
        if generation == self._generation:  # nothing changed while reading
            if len(self._known) >= self._size:
                self._known.pop(next(iter(self._known)))
            self._known[project_id] = known
        return known

    async def check(self, *, project_id: str, presented: str | None) -> Access:
        """``NotAuthenticated`` when the project requires a key and ``presented`` is none of
        its keys. A key presented to an open project is checked too (a wrong key is refused:
        it is a mistake the caller wants to hear about)."""
        known = await self._load(project_id)
        if presented is None or presented == "":
            if known.require_api_key:
                raise NotAuthenticated(
                    "this API requires a key of its project: send it in the X-API-Key header"
                )
            return Access(key_id=None)
        key_id = (
            known.hashes.get(hash_key(presented))
            if len(presented) <= MAX_PRESENTED_LENGTH
            else None
        )
        if key_id is None:
            raise NotAuthenticated("the API key is not a key of this project (or was deleted)")
        await self._touch(key_id)
        return Access(key_id=key_id)

    async def _touch(self, key_id: str) -> None:
        now = self._clock.now()
        last = self._touched.get(key_id)
        if last is not None and now.timestamp() - last < TOUCH_EVERY.total_seconds():
            return
        self._touched[key_id] = now.timestamp()
        if len(self._touched) > self._size:
            self._touched.pop(next(iter(self._touched)))
        async with self._uow() as uow:
            await uow.api_keys.touch([key_id], at=now)
            await uow.commit()
