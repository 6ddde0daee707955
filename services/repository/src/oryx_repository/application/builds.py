"""Building actions: ask the builder, cancel, and follow what it reports."""

import builtins

from oryx_repository.application.ports import (
    Clock,
    IdGenerator,
    Page,
    UnitOfWork,
    UnitOfWorkFactory,
)
from oryx_repository.application.sources import get_source
from oryx_repository.domain.actions import Action, ActionStatus, BuildOutcome
from oryx_repository.domain.errors import Conflict, NotFound


async def get_action(uow: UnitOfWork, *, project_id: str, action_id: str) -> Action:
    action = await uow.actions.get(project_id=project_id, action_id=action_id)
    if action is None:
        raise NotFound(f"action {action_id} not found", field="action_id")
    return action


class Builds:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def list(
        self,
        *,
        project_id: str,
        source_id: str | None,
        status: ActionStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]:
        async with self._uow() as uow:
            return await uow.actions.page(
                project_id=project_id,
                source_id=source_id,
                status=status,
                limit=limit,
                cursor=cursor,
            )

    async def get(self, *, project_id: str, action_id: str) -> Action:
        async with self._uow() as uow:
            return await get_action(uow, project_id=project_id, action_id=action_id)

    async def build(self, *, project_id: str, action_id: str) -> Action:
        async with self._uow() as uow:
            action = await get_action(uow, project_id=project_id, action_id=action_id)
            action.request_build(build_id=self._ids.new(), at=self._clock.now())
            await uow.commit()
        return action

    async def build_source(self, *, project_id: str, source_id: str) -> builtins.list[Action]:
        """Build every valid action of the source's last scan that is not building already."""
        now = self._clock.now()
        async with self._uow() as uow:
            source = await get_source(uow, project_id=project_id, source_id=source_id)
            if source.last_scan is None:
                raise Conflict("scan the source before building it", field="source_id")
            requested = []
            for action in await uow.actions.for_source(source.id):
                if action.status is ActionStatus.SCAN_ERROR or action.status.is_building:
                    continue
                action.request_build(build_id=self._ids.new(), at=now)
                requested.append(action)
            await uow.commit()
        return requested

    async def cancel(self, *, project_id: str, action_id: str) -> Action:
        async with self._uow() as uow:
            action = await get_action(uow, project_id=project_id, action_id=action_id)
            action.cancel_build(at=self._clock.now())
            await uow.commit()
        return action


class BuildReports:
    """What the builder tells about builds. Stale reports (an older build) are ignored."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    async def started(self, uow: UnitOfWork, *, action_id: str, build_id: str) -> None:
        action = await uow.actions.get_any_project(action_id)
        if action is not None:
            action.build_started(build_id=build_id, at=self._clock.now())

    async def finished(
        self,
        uow: UnitOfWork,
        *,
        action_id: str,
        build_id: str,
        outcome: BuildOutcome,
        artifact_ref: str,
        log_tail: str,
        error: str,
        lock: str,
    ) -> None:
        action = await uow.actions.get_any_project(action_id)
        if action is not None:
            action.build_finished(
                build_id=build_id,
                outcome=outcome,
                artifact_ref=artifact_ref,
                log_tail=log_tail,
                error=error,
                lock=lock,
                at=self._clock.now(),
            )
