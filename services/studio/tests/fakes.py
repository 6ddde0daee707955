"""In-memory fakes of the studio's ports, and builders of library actions, for unit tests."""

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from oryx_studio.application.ports import Page
from oryx_studio.domain.errors import UsedBy
from oryx_studio.domain.events import Event
from oryx_studio.domain.library import (
    BUILTIN_PROJECT,
    Action,
    ActionKind,
    ActionVersion,
    Resources,
    builtin_actions,
)
from oryx_studio.domain.types import IoSpec, IoType
from oryx_studio.domain.variables import Variable
from oryx_studio.domain.workflows import DeploymentStatus, Workflow

AT = datetime(2026, 1, 1, tzinfo=UTC)


def io(name: str, type: str = "string", **extra: object) -> IoSpec:
    return IoSpec(name=name, type=IoType(type), **extra)  # type: ignore[arg-type]


def version(
    name: str,
    *,
    version: str = "1.0",
    kind: str = "processor",
    inputs: tuple[IoSpec, ...] = (),
    outputs: tuple[IoSpec, ...] = (),
    dynamic_outputs: bool = False,
    id: str | None = None,
    builtin_trigger: str = "",
) -> ActionVersion:
    return ActionVersion(
        id=id or f"{name}-{version}",
        action_id=f"action-{name}",
        name=name,
        version=version,
        kind=ActionKind(kind),
        human_name=name.title(),
        inputs=inputs,
        outputs=outputs,
        dynamic_outputs=dynamic_outputs,
        artifact_ref=f"local:{name}-{version}" if not builtin_trigger else "",
        builtin_trigger=builtin_trigger,
        resources=Resources(cpu=0.5, memory_bytes=64 * 1024**2, time_seconds=30),
        published_at=AT,
    )


def builtin(trigger: str) -> ActionVersion:
    return next(a for a in builtin_actions() if a.name == trigger).versions[0]


def _page(items: list, limit: int, cursor: str | None) -> Page:
    items = sorted(items, key=lambda x: (x.created_at, x.id), reverse=True)
    start = int(cursor) if cursor else 0
    chunk = items[start : start + limit]
    return Page(
        items=chunk,
        total=len(items),
        next_cursor=str(start + limit) if start + limit < len(items) else None,
    )


@dataclass
class InMemoryDatabase:
    actions: dict[str, Action] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    variables: dict[str, Variable] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    commits: int = 0


class InMemoryActions:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def add(self, action: Action) -> None:
        self.db.actions[action.id] = action

    def _visible(self, action: Action, project_id: str) -> bool:
        return action.project_id in (project_id, BUILTIN_PROJECT)

    async def get(self, *, project_id: str, action_id: str) -> Action | None:
        action = self.db.actions.get(action_id)
        return action if action and self._visible(action, project_id) else None

    async def by_name(self, *, project_id: str, name: str) -> Action | None:
        return next(
            (a for a in self.db.actions.values() if a.project_id == project_id and a.name == name),
            None,
        )

    async def versions(
        self, *, project_id: str, version_ids: Collection[str]
    ) -> dict[str, ActionVersion]:
        return {
            v.id: v
            for a in self.db.actions.values()
            if self._visible(a, project_id)
            for v in a.versions
            if v.id in version_ids
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
        items = [
            a
            for a in self.db.actions.values()
            if self._visible(a, project_id)
            and (kind is None or a.latest.kind is kind)
            and (category is None or category in a.latest.categories)
            and (search is None or search.lower() in (a.name + a.latest.human_name).lower())
        ]
        return _page(items, limit, cursor)

    async def remove(self, action: Action) -> None:
        self.db.actions.pop(action.id, None)

    async def remove_project(self, project_id: str) -> int:
        gone = [k for k, a in self.db.actions.items() if a.project_id == project_id]
        for key in gone:
            del self.db.actions[key]
        return len(gone)


class InMemoryWorkflows:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db
        self.removed: list[Workflow] = []

    def add(self, workflow: Workflow) -> None:
        self.db.workflows[workflow.id] = workflow

    async def get(self, *, project_id: str, workflow_id: str) -> Workflow | None:
        workflow = self.db.workflows.get(workflow_id)
        return workflow if workflow and workflow.project_id == project_id else None

    async def get_any_project(self, workflow_id: str) -> Workflow | None:
        return self.db.workflows.get(workflow_id)

    async def page(
        self,
        *,
        project_id: str,
        search: str | None,
        status: DeploymentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Workflow]:
        items = [
            w
            for w in self.db.workflows.values()
            if w.project_id == project_id
            and (search is None or search.lower() in w.name.lower())
            and (status is None or w.deployment.status is status)
        ]
        return _page(items, limit, cursor)

    def _used(self, project_id: str, keep) -> list[UsedBy]:  # type: ignore[no-untyped-def]
        return [
            UsedBy(workflow_id=w.id, workflow_name=w.name)
            for w in self.db.workflows.values()
            if w.project_id == project_id and keep(w)
        ]

    async def using_action(self, *, project_id: str, action_id: str) -> list[UsedBy]:
        return self._used(
            project_id, lambda w: any(s.action.action_id == action_id for s in w.steps)
        )

    async def using_variable(self, *, project_id: str, variable_id: str) -> list[UsedBy]:
        return self._used(project_id, lambda w: variable_id in w.variable_ids())

    async def with_endpoint(self, *, project_id: str, route_key: str) -> list[UsedBy]:
        return self._used(
            project_id, lambda w: w.endpoint is not None and w.endpoint.route_key == route_key
        )

    async def remove(self, workflow: Workflow) -> None:
        self.removed.append(workflow)
        self.db.workflows.pop(workflow.id, None)

    async def remove_project(self, project_id: str) -> int:
        gone = [k for k, w in self.db.workflows.items() if w.project_id == project_id]
        for key in gone:
            del self.db.workflows[key]
        return len(gone)


class InMemoryVariables:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    def add(self, variable: Variable) -> None:
        self.db.variables[variable.id] = variable

    async def get(self, *, project_id: str, variable_id: str) -> Variable | None:
        variable = self.db.variables.get(variable_id)
        return variable if variable and variable.project_id == project_id else None

    async def by_name(self, *, project_id: str, name: str) -> Variable | None:
        return next(
            (
                v
                for v in self.db.variables.values()
                if v.project_id == project_id and v.name == name
            ),
            None,
        )

    async def many(self, *, project_id: str, ids: Collection[str]) -> dict[str, Variable]:
        return {
            k: v for k, v in self.db.variables.items() if k in ids and v.project_id == project_id
        }

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Variable]:
        items = [v for v in self.db.variables.values() if v.project_id == project_id]
        return _page(items, limit, cursor)

    async def remove(self, variable: Variable) -> None:
        self.db.variables.pop(variable.id, None)

    async def remove_project(self, project_id: str) -> int:
        gone = [k for k, v in self.db.variables.items() if v.project_id == project_id]
        for key in gone:
            del self.db.variables[key]
        return len(gone)


class InMemoryUnitOfWork:
    def __init__(self, db: InMemoryDatabase) -> None:
        self.db = db

    async def __aenter__(self) -> Self:
        self.actions = InMemoryActions(self.db)
        self.workflows = InMemoryWorkflows(self.db)
        self.variables = InMemoryVariables(self.db)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.db.commits += 1
        for aggregate in [*self.db.workflows.values(), *self.workflows.removed]:
            self.db.published.extend(aggregate.events)
            aggregate.events.clear()


class InMemoryFilestore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        self.objects[key] = data

    async def get(self, key: str) -> bytes:
        return self.objects[key]

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    async def delete_prefix(self, prefix: str) -> int:
        folder = prefix.rstrip("/") + "/"
        gone = [k for k in self.objects if k.startswith(folder)]
        for key in gone:
            del self.objects[key]
        return len(gone)

    async def presign_get(self, key: str, *, expires: timedelta) -> str:
        return f"memory://{key}"

    async def presign_put(self, key: str, *, expires: timedelta) -> str:
        return f"memory://{key}"


class FakeClock:
    def __init__(self) -> None:
        self.current = AT

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"id-{next(self._counter):04d}"
