"""The action library: what the repository publishes, the built-in triggers, and what people
read and delete."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oryx_studio.application.ports import Clock, IdGenerator, Page, UnitOfWork, UnitOfWorkFactory
from oryx_studio.domain.errors import InUse, NotFound
from oryx_studio.domain.library import (
    BUILTIN_PROJECT,
    Action,
    ActionKind,
    ActionVersion,
    Resources,
    builtin_actions,
)
from oryx_studio.domain.types import IoSpec


@dataclass(frozen=True, kw_only=True)
class PublishedAction:
    """An ``ActionPublished`` message, in the studio's words."""

    project_id: str
    repository_action_id: str
    name: str
    version: str
    kind: ActionKind
    human_name: str
    description: str = ""
    categories: tuple[str, ...] = ()
    type: str = "python3"
    resources: Resources = field(default_factory=Resources)
    inputs: tuple[IoSpec, ...] = ()
    outputs: tuple[IoSpec, ...] = ()
    dynamic_outputs: bool = False
    logo: bytes = b""
    logo_media_type: str = ""
    artifact_ref: str = ""
    source_id: str = ""
    commit_sha: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    published_at: datetime


async def get_action(uow: UnitOfWork, *, project_id: str, action_id: str) -> Action:
    action = await uow.actions.get(project_id=project_id, action_id=action_id)
    if action is None:
        raise NotFound(f"action {action_id} not found", field="action_id")
    return action


class Library:
    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def install_builtins(self) -> None:
        """Make the library hold the built-in triggers as this version defines them."""
        async with self._uow() as uow:
            for builtin in builtin_actions():
                kept = await uow.actions.get(project_id=BUILTIN_PROJECT, action_id=builtin.id)
                if kept is None:
                    uow.actions.add(builtin)
                elif kept.versions != builtin.versions:
                    kept.versions = builtin.versions
                    kept.updated_at = builtin.updated_at
            await uow.commit()

    async def list(
        self,
        *,
        project_id: str,
        kind: ActionKind | None,
        category: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]:
        async with self._uow() as uow:
            return await uow.actions.page(
                project_id=project_id,
                kind=kind,
                category=category,
                search=search,
                limit=limit,
                cursor=cursor,
            )

    async def get(self, *, project_id: str, action_id: str) -> Action:
        async with self._uow() as uow:
            return await get_action(uow, project_id=project_id, action_id=action_id)

    async def logo(
        self, *, project_id: str, action_id: str, version: str | None
    ) -> tuple[bytes, str]:
        action = await self.get(project_id=project_id, action_id=action_id)
        chosen = action.version(version) if version is not None else action.latest
        if chosen is None:
            raise NotFound(f"{action.name} has no version {version!r}", field="version")
        if not chosen.logo:
            raise NotFound(f"{action.name} {chosen.version} has no logo", field="action_id")
        return chosen.logo, chosen.logo_media_type or "application/octet-stream"

    async def delete(self, *, project_id: str, action_id: str) -> None:
        """Delete the action and its versions; refused while a workflow uses it."""
        async with self._uow() as uow:
            action = await get_action(uow, project_id=project_id, action_id=action_id)
            action.check_deletable()
            used_by = await uow.workflows.using_action(project_id=project_id, action_id=action.id)
            if used_by:
                raise InUse(
                    f"action {action.name} is used by workflows; remove its steps first",
                    used_by=used_by,
                    field="action_id",
                )
            await uow.actions.remove(action)
            await uow.commit()

    async def publish(self, uow: UnitOfWork, published: PublishedAction) -> ActionVersion:
        """Add (or refresh) one version; within the message consumer's unit of work."""
        now = self._clock.now()
        action = await uow.actions.by_name(project_id=published.project_id, name=published.name)
        if action is None:
            action = Action(
                id=self._ids.new(),
                project_id=published.project_id,
                name=published.name,
                builtin=False,
                versions=[],
                created_at=now,
                updated_at=now,
            )
            uow.actions.add(action)
        version = ActionVersion(
            id=self._ids.new(),
            action_id=action.id,
            name=published.name,
            version=published.version,
            kind=published.kind,
            human_name=published.human_name or published.name,
            description=published.description,
            categories=published.categories,
            type=published.type,
            resources=published.resources,
            inputs=published.inputs,
            outputs=published.outputs,
            dynamic_outputs=published.dynamic_outputs,
            artifact_ref=published.artifact_ref,
            logo=published.logo,
            logo_media_type=published.logo_media_type,
            source_id=published.source_id,
            repository_action_id=published.repository_action_id,
            commit_sha=published.commit_sha,
            metadata=published.metadata,
            published_at=published.published_at,
        )
        return action.publish(version, at=now)
