"""The SQLAlchemy unit of work: one transaction, its aggregates, their run events, the outbox
rows of their events, and the wake-ups of whoever waits for what changed.

At commit, in one transaction: new aggregates are inserted, changed ones updated (each only if
its row still has the version it was loaded with), every ``RunEvent`` becomes a row of
``run_events``, every integration event a row of ``outbox``, and ``pg_notify`` tells the
other runner processes (delivered when the transaction commits). After the commit, this
process's own listeners are told at once (``Signals``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import Insert, Table, Update, bindparam, insert, update
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_runner.application.ports import Clock, IdGenerator, StorageUnavailable
from oryx_runner.domain.errors import Conflict
from oryx_runner.domain.events import DeploymentStatusChanged, Event, RunEvent, RunEventType
from oryx_runner.domain.runs import StepStatus
from oryx_runner.infrastructure.database import mappers
from oryx_runner.infrastructure.database.repositories import (
    SqlAlchemyApiKeyRepository,
    SqlAlchemyDeploymentRepository,
    SqlAlchemyFileRepository,
    SqlAlchemyLogRepository,
    SqlAlchemyRunEventRepository,
    SqlAlchemyRunRepository,
    SqlAlchemyStepRunRepository,
    SqlAlchemyWorkflowRepository,
)
from oryx_runner.infrastructure.database.tables import (
    deployments,
    files,
    outbox,
    run_events,
    runs,
    step_logs,
    step_runs,
    workflow_deployments,
)
from oryx_runner.infrastructure.messaging.routing import OutboundMessage
from oryx_runner.infrastructure.triggers.fires import SqlAlchemyTriggerFireRepository

log = logging.getLogger(__name__)

# pg_notify channels between runner processes (payloads: '' or a run id)
WORK_CHANNEL = "oryx_runner_work"
CANCEL_CHANNEL = "oryx_runner_cancel"
RUN_CHANNEL = "oryx_runner_run"
ENDED_CHANNEL = "oryx_runner_ended"
DEPLOY_CHANNEL = "oryx_runner_deploy"
DEPLOYED_CHANNEL = "oryx_runner_deployed"  # payload: a project id
API_KEYS_CHANNEL = "oryx_runner_api_keys"  # payload: a project id

_STOP_EVENTS = {RunEventType.RUN_FAILED, RunEventType.RUN_CANCELED}


class Signals(Protocol):
    """What this process does when a commit changed something (implemented by the listener,
    which does the same when another process's notification arrives)."""

    def work(self) -> None: ...
    def cancel(self, run_id: str) -> None: ...
    def run_changed(self, run_id: str) -> None: ...
    def run_ended(self, run_id: str) -> None: ...
    def deploy(self) -> None: ...
    def deployed(self, project_id: str) -> None: ...


@dataclass
class _Wakeups:
    work: bool = False
    deploy: bool = False
    deployed: set[str] = field(default_factory=set)
    outbox: bool = False
    cancel: set[str] = field(default_factory=set)
    changed: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)


@functools.cache
def _insert(table: Table) -> Insert:
    """One statement per table, compiled once (rows are passed as parameters)."""
    return insert(table)


@functools.cache
def _versioned_update(table: Table) -> Update:
    """``UPDATE table SET <the columns given> WHERE id = :b_id AND version = :b_version``."""
    return update(table).where(
        table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version")
    )


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, ConnectionError | OSError | TimeoutError)


class SqlAlchemyUnitOfWork:
    """Opens its own session, or joins one (``session=``) owned by a message consumer; a
    joined unit of work writes at ``commit()`` but leaves the commit to the session's owner."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        exchange: str,
        serialize: Callable[[Event], OutboundMessage],
        ids: IdGenerator,
        clock: Clock,
        signals: Signals | None = None,
        on_outbox: Callable[[], None] | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        self._sessions = sessions
        self._exchange = exchange
        self._serialize = serialize
        self._ids = ids
        self._clock = clock
        self._signals = signals
        self._on_outbox = on_outbox
        self._joined = session
        self._session: AsyncSession | None = None
        self._after_commit: list[_Wakeups] = []

    async def __aenter__(self) -> Self:
        self._session = self._joined or self._sessions()
        self.deployments = SqlAlchemyDeploymentRepository(self._session)
        self.workflows = SqlAlchemyWorkflowRepository(self._session)
        self.runs = SqlAlchemyRunRepository(self._session)
        self.steps = SqlAlchemyStepRunRepository(self._session, self.runs)
        self.files = SqlAlchemyFileRepository(self._session)
        self.logs = SqlAlchemyLogRepository(self._session)
        self.run_events = SqlAlchemyRunEventRepository(self._session)
        self.api_keys = SqlAlchemyApiKeyRepository(self._session)
        self.trigger_fires = SqlAlchemyTriggerFireRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        self._session = None
        if self._joined is not None or session is None:
            self._deliver()
            return
        try:
            await session.rollback()  # a no-op after commit
        except Exception:  # the connection is gone; the transaction died with it
            log.debug("rollback failed", exc_info=True)
        finally:
            await session.close()
        if exc is not None and is_connection_error(exc):
            raise StorageUnavailable(f"the database connection failed: {exc}") from exc

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open; use `async with`")
        return self._session

    async def commit(self) -> None:
        session = self.session
        try:
            wakeups = await self._flush(session)
            if self._joined is None:
                await session.commit()
        except IntegrityError as exc:
            if self._joined is None:
                await session.rollback()
            raise Conflict("the change conflicts with the current state; reload and retry") from exc
        except Conflict:
            if self._joined is None:
                await session.rollback()
            raise
        except Exception as exc:
            if is_connection_error(exc):
                raise StorageUnavailable(f"the database connection failed: {exc}") from exc
            raise
        self._after_commit.append(wakeups)
        if self._joined is None:
            self._deliver()

    def _deliver(self) -> None:
        """Tell this process what the committed transactions changed."""
        pending, self._after_commit = self._after_commit, []
        if self._signals is None:
            return
        for wakeups in pending:
            for run_id in wakeups.cancel:
                self._signals.cancel(run_id)
            for run_id in wakeups.changed:
                self._signals.run_changed(run_id)
            for run_id in wakeups.ended:
                self._signals.run_ended(run_id)
            if wakeups.work:
                self._signals.work()
            if wakeups.deploy:
                self._signals.deploy()
            for project_id in wakeups.deployed:
                self._signals.deployed(project_id)
        if any(w.outbox for w in pending) and self._on_outbox is not None:
            self._on_outbox()

    async def _flush(self, session: AsyncSession) -> _Wakeups:
        wakeups = _Wakeups()
        if self.deployments.new:
            await session.execute(
                _insert(deployments), [mappers.deployment_to_row(d) for d in self.deployments.new]
            )
            self.deployments.new.clear()
        events: list[Event] = []
        wmap = self.workflows.map
        for key, state in wmap.seen.items():
            if key in wmap.new:
                await session.execute(
                    _insert(workflow_deployments), [mappers.workflow_to_row(state)]
                )
            elif state.events:
                await session.execute(
                    update(workflow_deployments)
                    .where(workflow_deployments.c.workflow_id == key)
                    .values(mappers.workflow_to_row(state))
                )
            for event in state.events:
                if not isinstance(event, DeploymentStatusChanged):
                    continue
                wakeups.deployed.add(event.project_id)
                if event.status in ("deploying", "undeploying"):
                    wakeups.deploy = True
            events.extend(state.events)
            state.events.clear()
        wmap.new.clear()

        run_rows, ready = await self._flush_runs(session)
        wakeups.work = ready
        for removed in self.runs.removed:
            await session.execute(runs.delete().where(runs.c.id == removed.id))
        self.runs.removed.clear()

        if self.files.new:
            await session.execute(_insert(files), [mappers.file_to_row(f) for f in self.files.new])
            self.files.new.clear()
        if self.logs.new:
            await session.execute(
                _insert(step_logs), [mappers.logs_to_row(x) for x in self.logs.new]
            )
            self.logs.new.clear()
        if run_rows:
            await session.execute(
                _insert(run_events),
                [
                    {
                        "run_id": e.run_id,
                        "step_run_id": e.step_run_id,
                        "type": e.type.value,
                        "at": e.at,
                        "data": e.data,
                    }
                    for e in run_rows
                ],
            )
            for e in run_rows:
                wakeups.changed.add(e.run_id)
                if e.type.ends_run:
                    wakeups.ended.add(e.run_id)
                if e.type in _STOP_EVENTS:
                    wakeups.cancel.add(e.run_id)
        wakeups.outbox = bool(events)
        if events:
            await self._write_outbox(session, events)
        # the other runner processes learn of it from the tables' triggers (migration 0002)
        return wakeups

    async def _flush_runs(self, session: AsyncSession) -> tuple[list[RunEvent], bool]:
        """Write runs and step runs; answers their events in the order they belong in the
        log (a run's creation, then its steps' changes, then the run's end), and whether a
        step run is now ready (work for the runners)."""
        ready = False
        created: list[RunEvent] = []
        steps: list[RunEvent] = []
        ended: list[RunEvent] = []
        rmap = self.runs.map
        new_runs = [rmap.seen[k] for k in rmap.new]
        if new_runs:
            await session.execute(_insert(runs), [mappers.run_to_row(r) for r in new_runs])
        for key, run in rmap.seen.items():
            if run.events and key not in rmap.new:
                await self._update_versioned(session, runs, run, mappers.run_to_row(run))
            for event in run.events:
                (created if event.type is RunEventType.RUN_CREATED else ended).append(event)
            run.events.clear()
        rmap.new.clear()
        smap = self.steps.map
        new_steps = [smap.seen[k] for k in smap.new]
        if new_steps:
            await session.execute(_insert(step_runs), [mappers.step_to_row(s) for s in new_steps])
        for key, step in smap.seen.items():
            if step.events and key not in smap.new:
                await self._update_versioned(session, step_runs, step, mappers.step_to_row(step))
            if step.events and step.status is StepStatus.READY:
                ready = True
            steps.extend(step.events)
            step.events.clear()
        smap.new.clear()
        return created + steps + ended, ready

    @staticmethod
    async def _update_versioned(
        session: AsyncSession, table: Any, aggregate: Any, row: dict[str, Any]
    ) -> None:
        loaded = aggregate.version
        params = {**row, "version": loaded + 1, "b_id": aggregate.id, "b_version": loaded}
        result = await session.execute(_versioned_update(table), params)
        if getattr(result, "rowcount", 1) != 1:
            raise Conflict(f"{aggregate.id} was changed at the same time; try again")
        aggregate.version = loaded + 1

    async def _write_outbox(self, session: AsyncSession, events: list[Event]) -> None:
        at = self._clock.now()
        rows = []
        for event in events:
            message = self._serialize(event)
            rows.append(
                {
                    "id": self._ids.new(),
                    "exchange": self._exchange,
                    "routing_key": message.routing_key,
                    "message_type": message.message_type,
                    "payload": message.payload,
                    "created_at": at,
                }
            )
        await session.execute(_insert(outbox), rows)
