"""Ports: what the use cases need from the outside world, in their own words."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from oryx_studio.domain.errors import UsedBy
from oryx_studio.domain.library import Action, ActionKind, ActionVersion
from oryx_studio.domain.variables import Variable
from oryx_studio.domain.workflows import DeploymentStatus, Workflow

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Page(Generic[T]):
    items: Sequence[T]
    total: int
    next_cursor: str | None


class ActionRepository(Protocol):
    """The library. Reads by project also see the built-in actions (``BUILTIN_PROJECT``)."""

    def add(self, action: Action) -> None: ...
    async def get(self, *, project_id: str, action_id: str) -> Action | None: ...
    async def by_name(self, *, project_id: str, name: str) -> Action | None:
        """The project's own action of that name (never a built-in one); locked for update."""
        ...

    async def versions(
        self, *, project_id: str, version_ids: Collection[str]
    ) -> dict[str, ActionVersion]:
        """The versions among ``version_ids`` this project sees, by id."""
        ...

    async def page(
        self,
        *,
        project_id: str,
        kind: ActionKind | None,
        category: str | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Action]: ...
    async def remove(self, action: Action) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class WorkflowRepository(Protocol):
    def add(self, workflow: Workflow) -> None: ...
    async def get(self, *, project_id: str, workflow_id: str) -> Workflow | None: ...
    async def get_any_project(self, workflow_id: str) -> Workflow | None:
        """For messages from other services, which carry no caller; locked for update."""
        ...

    async def page(
        self,
        *,
        project_id: str,
        search: str | None,
        status: DeploymentStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Workflow]: ...
    async def using_action(self, *, project_id: str, action_id: str) -> list[UsedBy]: ...
    async def using_variable(self, *, project_id: str, variable_id: str) -> list[UsedBy]: ...
    async def with_endpoint(self, *, project_id: str, route_key: str) -> list[UsedBy]: ...
    async def remove(self, workflow: Workflow) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class VariableRepository(Protocol):
    def add(self, variable: Variable) -> None: ...
    async def get(self, *, project_id: str, variable_id: str) -> Variable | None: ...
    async def by_name(self, *, project_id: str, name: str) -> Variable | None: ...
    async def many(self, *, project_id: str, ids: Collection[str]) -> dict[str, Variable]: ...
    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[Variable]: ...
    async def remove(self, variable: Variable) -> None: ...
    async def remove_project(self, project_id: str) -> int: ...


class UnitOfWork(Protocol):
    @property
    def actions(self) -> ActionRepository: ...
    @property
    def workflows(self) -> WorkflowRepository: ...
    @property
    def variables(self) -> VariableRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    def new(self) -> str: ...
