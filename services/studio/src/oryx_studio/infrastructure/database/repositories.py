"""SQLAlchemy repositories. They load and track aggregates; the unit of work writes them.

Each repository keeps a copy of every aggregate as loaded; at commit the unit of work calls
``flush()``, which inserts new aggregates, updates those that differ from their copy and
deletes removed ones. Repositories never commit.
"""

import copy
from collections.abc import Collection, Iterator
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_studio.application.ports import Page
from oryx_studio.domain.errors import UsedBy
from oryx_studio.domain.events import Event
from oryx_studio.domain.library import BUILTIN_PROJECT, Action, ActionKind, ActionVersion
from oryx_studio.domain.variables import Variable
from oryx_studio.domain.workflows import DeploymentStatus, Workflow
from oryx_studio.infrastructure.database import mappers
from oryx_studio.infrastructure.database.pagination import paginate
from oryx_studio.infrastructure.database.tables import (
    action_versions,
    actions,
    variables,
    workflows,
)

A = TypeVar("A", Action, Workflow, Variable)


class _Tracker(Generic[A]):
    def __init__(self) -> None:
        self.seen: dict[str, A] = {}
        self.loaded: dict[str, A] = {}
        self.new: set[str] = set()
        self.removed: set[str] = set()

    def loaded_one(self, aggregate: A) -> A:
        if aggregate.id in self.seen:  # one object per id within a transaction
            return self.seen[aggregate.id]
        self.seen[aggregate.id] = aggregate
        self.loaded[aggregate.id] = copy.deepcopy(aggregate)
        return aggregate

    def added(self, aggregate: A) -> None:
        self.seen[aggregate.id] = aggregate
        self.new.add(aggregate.id)
        self.removed.discard(aggregate.id)

    def changed(self) -> Iterator[A]:
        for key, aggregate in self.seen.items():
            if key not in self.new and key not in self.removed and aggregate != self.loaded[key]:
                yield aggregate

    def events(self) -> list[Event]:
        found: list[Event] = []
        for aggregate in self.seen.values():
            found.extend(aggregate.events)
            aggregate.events.clear()
        return found

    def reset(self) -> None:
        self.loaded = {k: copy.deepcopy(a) for k, a in self.seen.items() if k not in self.removed}
        self.new.clear()
        self.removed.clear()


def like(text: str) -> str:
    """``%text%`` for ILIKE, with the pattern characters of ``text`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyActionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[Action] = _Tracker()

    def _visible(self, project_id: str) -> ColumnElement[bool]:
        return actions.c.project_id.in_([project_id, BUILTIN_PROJECT])

    async def _load(self, rows: list[Any]) -> list[Action]:
        ids = [r._mapping["id"] for r in rows if r._mapping["id"] not in self._t.seen]
        versions: dict[str, list[Any]] = {i: [] for i in ids}
        if ids:
            query = (
                select(action_versions)
                .where(action_versions.c.action_id.in_(ids))
                .order_by(action_versions.c.published_at, action_versions.c.id)
            )
            for v in await self._session.execute(query):
                versions[v._mapping["action_id"]].append(v._mapping)
        loaded = []
        for row in rows:
            m = row._mapping
            if m["id"] in self._t.seen:
                loaded.append(self._t.seen[m["id"]])
            else:
                loaded.append(self._t.loaded_one(mappers.row_to_action(m, versions[m["id"]])))
        return loaded

    def add(self, action: Action) -> None:
        self._t.added(action)

    async def get(self, *, project_id: str, action_id: str) -> Action | None:
        query = select(actions).where(actions.c.id == action_id, self._visible(project_id))
        found = await self._load(list(await self._session.execute(query)))
        return found[0] if found else None

    async def by_name(self, *, project_id: str, name: str) -> Action | None:
        # FOR UPDATE: two publications of one action apply one after the other
        query = (
            select(actions)
            .where(actions.c.project_id == project_id, actions.c.name == name)
            .with_for_update()
        )
        found = await self._load(list(await self._session.execute(query)))
        if found:
            return found[0]
        return next(
            (
                a
                for a in self._t.seen.values()
                if a.project_id == project_id and a.name == name and a.id not in self._t.removed
            ),
            None,
        )

    async def versions(
        self, *, project_id: str, version_ids: Collection[str]
    ) -> dict[str, ActionVersion]:
        if not version_ids:
            return {}
        query = (
            select(action_versions, actions.c.name.label("action_name"))
            .join(actions, actions.c.id == action_versions.c.action_id)
            .where(action_versions.c.id.in_(list(version_ids)), self._visible(project_id))
        )
        return {
            r.id: mappers.row_to_version(r._mapping, name=r.action_name)
            for r in await self._session.execute(query)
        }

    async def page(
        self,
        *,
        project_id: str,
        kind: ActionKind | None,
        category: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]:
        query = select(actions).where(self._visible(project_id))
        if kind is not None:
            query = query.where(actions.c.kind == kind.value)
        if category is not None:
            query = query.where(actions.c.categories.contains([category]))
        if search:
            pattern = like(search)
            query = query.where(
                or_(
                    actions.c.name.ilike(pattern, escape="\\"),
                    actions.c.human_name.ilike(pattern, escape="\\"),
                    actions.c.description.ilike(pattern, escape="\\"),
                )
            )
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=actions.c.created_at,
            row_id=actions.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=await self._load(list(rows)), total=total, next_cursor=next_cursor)

    async def remove(self, action: Action) -> None:
        self._t.removed.add(action.id)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(actions).where(actions.c.project_id == project_id)
        )
        return _count(result)

    def collect_events(self) -> list[Event]:
        return self._t.events()

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            action = self._t.seen[key]
            await self._session.execute(insert(actions).values(mappers.action_to_row(action)))
            if action.versions:
                await self._session.execute(
                    insert(action_versions), [mappers.version_to_row(v) for v in action.versions]
                )
        for action in self._t.changed():
            await self._session.execute(
                update(actions)
                .where(actions.c.id == action.id)
                .values(mappers.action_to_row(action))
            )
            before = {v.id: v for v in self._t.loaded[action.id].versions}
            after = {v.id: v for v in action.versions}
            gone = set(before) - set(after)
            if gone:
                await self._session.execute(
                    delete(action_versions).where(action_versions.c.id.in_(gone))
                )
            for version_id, version in after.items():
                if version_id not in before:
                    await self._session.execute(
                        insert(action_versions).values(mappers.version_to_row(version))
                    )
                elif version != before[version_id]:
                    await self._session.execute(
                        update(action_versions)
                        .where(action_versions.c.id == version_id)
                        .values(mappers.version_to_row(version))
                    )
        if self._t.removed:
            await self._session.execute(delete(actions).where(actions.c.id.in_(self._t.removed)))
        self._t.reset()


class SqlAlchemyWorkflowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._t: _Tracker[Workflow] = _Tracker()

    def _load(self, row: Any) -> Workflow:
        if row._mapping["id"] in self._t.seen:
            return self._t.seen[row._mapping["id"]]
        return self._t.loaded_one(mappers.row_to_workflow(row._mapping))

    async def _one(self, query: Any) -> Workflow | None:
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    def add(self, workflow: Workflow) -> None:
        self._t.added(workflow)

    async def get(self, *, project_id: str, workflow_id: str) -> Workflow | None:
        # FOR UPDATE: edits of one workflow apply one after the other (revisions never fork)
        return await self._one(
            select(workflows)
            .where(workflows.c.id == workflow_id, workflows.c.project_id == project_id)
            .with_for_update()
        )

    async def get_any_project(self, workflow_id: str) -> Workflow | None:
        return await self._one(
            select(workflows).where(workflows.c.id == workflow_id).with_for_update()
        )

    async def page(
        self,
        *,
        project_id: str,
        search: str | None,
        status: DeploymentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Workflow]:
        query = select(workflows).where(workflows.c.project_id == project_id)
        if search:
            pattern = like(search)
            query = query.where(
                or_(
                    workflows.c.name.ilike(pattern, escape="\\"),
                    workflows.c.description.ilike(pattern, escape="\\"),
                )
            )
        if status is not None:
            query = query.where(workflows.c.deployment_status == status.value)
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=workflows.c.created_at,
            row_id=workflows.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def _used_by(self, condition: ColumnElement[bool], project_id: str) -> list[UsedBy]:
        query = (
            select(workflows.c.id, workflows.c.name)
            .where(workflows.c.project_id == project_id, condition)
            .order_by(workflows.c.name, workflows.c.id)
        )
        return [
            UsedBy(workflow_id=r.id, workflow_name=r.name)
            for r in await self._session.execute(query)
        ]

    async def using_action(self, *, project_id: str, action_id: str) -> list[UsedBy]:
        return await self._used_by(workflows.c.action_ids.contains([action_id]), project_id)

    async def using_variable(self, *, project_id: str, variable_id: str) -> list[UsedBy]:
        return await self._used_by(workflows.c.variable_ids.contains([variable_id]), project_id)

    async def with_endpoint(self, *, project_id: str, route_key: str) -> list[UsedBy]:
        return await self._used_by(workflows.c.endpoint_key == route_key, project_id)

    async def remove(self, workflow: Workflow) -> None:
        self._t.removed.add(workflow.id)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(workflows).where(workflows.c.project_id == project_id)
        )
        return _count(result)

    def collect_events(self) -> list[Event]:
        return self._t.events()

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            row = mappers.workflow_to_row(self._t.seen[key])
            await self._session.execute(insert(workflows).values(row))
        for workflow in self._t.changed():
            await self._session.execute(
                update(workflows)
                .where(workflows.c.id == workflow.id)
                .values(mappers.workflow_to_row(workflow))
            )
        if self._t.removed:
            await self._session.execute(
                delete(workflows).where(workflows.c.id.in_(self._t.removed))
            )
        self._t.reset()


class SqlAlchemyVariableRepository:
    def __init__(self, session: AsyncSession, box: mappers.SecretBox) -> None:
        self._session = session
        self._box = box
        self._t: _Tracker[Variable] = _Tracker()

    def _load(self, row: Any) -> Variable:
        if row._mapping["id"] in self._t.seen:
            return self._t.seen[row._mapping["id"]]
        return self._t.loaded_one(mappers.row_to_variable(row._mapping, self._box))

    async def _one(self, query: Any) -> Variable | None:
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    def add(self, variable: Variable) -> None:
        self._t.added(variable)

    async def get(self, *, project_id: str, variable_id: str) -> Variable | None:
        return await self._one(
            select(variables).where(
                variables.c.id == variable_id, variables.c.project_id == project_id
            )
        )

    async def by_name(self, *, project_id: str, name: str) -> Variable | None:
        return await self._one(
            select(variables).where(variables.c.project_id == project_id, variables.c.name == name)
        )

    async def many(self, *, project_id: str, ids: Collection[str]) -> dict[str, Variable]:
        if not ids:
            return {}
        query = select(variables).where(
            variables.c.project_id == project_id, variables.c.id.in_(list(ids))
        )
        return {r.id: self._load(r) for r in await self._session.execute(query)}

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Variable]:
        rows, total, next_cursor = await paginate(
            self._session,
            select(variables).where(variables.c.project_id == project_id),
            created_at=variables.c.created_at,
            row_id=variables.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def remove(self, variable: Variable) -> None:
        self._t.removed.add(variable.id)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(variables).where(variables.c.project_id == project_id)
        )
        return _count(result)

    def collect_events(self) -> list[Event]:
        return self._t.events()

    async def flush(self) -> None:
        for key in self._t.new - self._t.removed:
            row = mappers.variable_to_row(self._t.seen[key], self._box)
            await self._session.execute(insert(variables).values(row))
        for variable in self._t.changed():
            await self._session.execute(
                update(variables)
                .where(variables.c.id == variable.id)
                .values(mappers.variable_to_row(variable, self._box))
            )
        if self._t.removed:
            await self._session.execute(
                delete(variables).where(variables.c.id.in_(self._t.removed))
            )
        self._t.reset()
