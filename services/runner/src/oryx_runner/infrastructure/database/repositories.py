"""SQLAlchemy repositories. They load and track aggregates; the unit of work writes them.

Each repository keeps one object per id within a transaction. At commit, the unit of work
inserts the new aggregates and updates those that recorded events (every change of a run,
step run or workflow state records one), each only if its row still has the version it was
loaded with (optimistic concurrency: a concurrent change makes the commit fail with
``Conflict``). Repositories never commit.

The claim of ready step runs is one SQL statement (``SqlAlchemyStepRunRepository.claim``),
the hot path of the engine: it does what ``StepRun.start`` does, for a batch, and appends
their run events, in one round trip.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_runner.application.ports import (
    ClaimedStep,
    FileRecord,
    Page,
    RunFilter,
    StepLogs,
    StoredRunEvent,
)
from oryx_runner.domain.api_keys import ApiKey, ApiSettings
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.events import RunEvent, RunEventType
from oryx_runner.domain.runs import OutputSets, StepRun, WorkflowRun
from oryx_runner.infrastructure.database import mappers
from oryx_runner.infrastructure.database.pagination import paginate
from oryx_runner.infrastructure.database.tables import (
    api_keys,
    api_settings,
    deployments,
    files,
    run_events,
    runs,
    step_logs,
    step_runs,
    workflow_deployments,
)

A = TypeVar("A")


class IdentityMap(Generic[A]):
    """The aggregates of one transaction: loaded (and their loaded version) or new."""

    def __init__(self) -> None:
        self.seen: dict[str, A] = {}
        self.new: list[str] = []

    def loaded(self, key: str, make: Any, row: Any) -> A:
        known = self.seen.get(key)
        if known is not None:
            return known
        aggregate: A = make(row)
        self.seen[key] = aggregate
        return aggregate

    def added(self, key: str, aggregate: A) -> None:
        self.seen[key] = aggregate
        self.new.append(key)


class SqlAlchemyDeploymentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.new: list[Deployment] = []
        self._cache: dict[str, Deployment] = {}

    def add(self, deployment: Deployment) -> None:
        self.new.append(deployment)
        self._cache[deployment.id] = deployment

    async def get(self, deployment_id: str) -> Deployment | None:
        if deployment_id in self._cache:
            return self._cache[deployment_id]
        row = (
            await self._session.execute(
                select(deployments).where(deployments.c.id == deployment_id)
            )
        ).first()
        if row is None:
            return None
        deployment = mappers.row_to_deployment(row._mapping)
        self._cache[deployment_id] = deployment
        return deployment

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(deployments).where(deployments.c.project_id == project_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyWorkflowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.map: IdentityMap[WorkflowDeployment] = IdentityMap()

    def _load(self, row: Any) -> WorkflowDeployment:
        return self.map.loaded(row.workflow_id, lambda r: mappers.row_to_workflow(r._mapping), row)

    def add(self, state: WorkflowDeployment) -> None:
        self.map.added(state.workflow_id, state)

    async def get(
        self, *, workflow_id: str, project_id: str | None = None, for_update: bool = False
    ) -> WorkflowDeployment | None:
        query = select(workflow_deployments).where(
            workflow_deployments.c.workflow_id == workflow_id
        )
        if project_id is not None:
            query = query.where(workflow_deployments.c.project_id == project_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    async def page(
        self, *, project_id: str, limit: int, cursor: str | None
    ) -> Page[WorkflowDeployment]:
        rows, total, next_cursor = await paginate(
            self._session,
            select(workflow_deployments).where(workflow_deployments.c.project_id == project_id),
            created_at=workflow_deployments.c.changed_at,
            row_id=workflow_deployments.c.workflow_id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def next_to_reconcile(self) -> WorkflowDeployment | None:
        query = (
            select(workflow_deployments)
            .where(workflow_deployments.c.status.in_(("deploying", "undeploying")))
            .order_by(workflow_deployments.c.changed_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = (await self._session.execute(query)).first()
        return self._load(row) if row else None

    async def artifacts_in_use(self) -> set[str]:
        query = (
            select(deployments.c.snapshot)
            .join(workflow_deployments, workflow_deployments.c.deployment_id == deployments.c.id)
            .where(workflow_deployments.c.status.in_(("deploying", "deployed")))
        )
        used: set[str] = set()
        for (snapshot,) in await self._session.execute(query):
            used.update(s.get("artifact_ref", "") for s in snapshot.get("steps", ()))
        used.discard("")
        return used

    async def deployed(
        self, *, project_id: str | None = None, trigger_kind: str | None = None
    ) -> list[WorkflowDeployment]:
        query = select(workflow_deployments).where(workflow_deployments.c.status == "deployed")
        if project_id is not None:
            query = query.where(workflow_deployments.c.project_id == project_id)
        if trigger_kind is not None:
            kind = deployments.c.snapshot["steps"][0]["builtin_trigger"].astext
            query = query.join(
                deployments, deployments.c.id == workflow_deployments.c.deployment_id
            ).where(
                or_(kind.is_(None), kind == "")
                if trigger_kind == "source"
                else kind == trigger_kind
            )
        query = query.order_by(workflow_deployments.c.workflow_id)
        return [self._load(r) for r in await self._session.execute(query)]

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(
            delete(workflow_deployments).where(workflow_deployments.c.project_id == project_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SqlAlchemyRunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.map: IdentityMap[WorkflowRun] = IdentityMap()
        self.removed: list[WorkflowRun] = []

    def _load(self, row: Any) -> WorkflowRun:
        return self.map.loaded(row.id, lambda r: mappers.row_to_run(r._mapping), row)

    def add(self, run: WorkflowRun) -> None:
        self.map.added(run.id, run)

    async def get(self, *, project_id: str, run_id: str) -> WorkflowRun | None:
        row = (
            await self._session.execute(
                select(runs).where(runs.c.id == run_id, runs.c.project_id == project_id)
            )
        ).first()
        return self._load(row) if row else None

    async def find(self, run_id: str) -> WorkflowRun | None:
        row = (await self._session.execute(select(runs).where(runs.c.id == run_id))).first()
        return self._load(row) if row else None

    async def lock(self, run_id: str) -> WorkflowRun | None:
        row = (
            await self._session.execute(select(runs).where(runs.c.id == run_id).with_for_update())
        ).first()
        if row is None:
            return None
        known = self.map.seen.get(run_id)
        if known is not None:
            # the lock may have waited for another transaction: take its row as it is now
            fresh = mappers.row_to_run(row._mapping)
            known.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "events"})
            return known
        return self._load(row)

    async def page(
        self, *, project_id: str, filters: RunFilter, limit: int, cursor: str | None
    ) -> Page[WorkflowRun]:
        query = select(runs).where(runs.c.project_id == project_id)
        if filters.workflow_id is not None:
            query = query.where(runs.c.workflow_id == filters.workflow_id)
        if filters.status is not None:
            query = query.where(runs.c.status == filters.status.value)
        if filters.since is not None:
            query = query.where(runs.c.submitted_at >= filters.since)
        if filters.until is not None:
            query = query.where(runs.c.submitted_at < filters.until)
        rows, total, next_cursor = await paginate(
            self._session,
            query,
            created_at=runs.c.submitted_at,
            row_id=runs.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._load(r) for r in rows], total=total, next_cursor=next_cursor)

    async def running_of_workflow(self, workflow_id: str) -> list[WorkflowRun]:
        query = (
            select(runs)
            .where(runs.c.workflow_id == workflow_id, runs.c.status == "running")
            .with_for_update()
        )
        return [self._load(r) for r in await self._session.execute(query)]

    async def remove(self, run: WorkflowRun) -> None:
        self.removed.append(run)

    async def remove_project(self, project_id: str) -> int:
        result = await self._session.execute(delete(runs).where(runs.c.project_id == project_id))
        return int(getattr(result, "rowcount", 0) or 0)


_CLAIM = text(
    """
    WITH picked AS (
        SELECT id FROM step_runs
        WHERE status = 'ready' AND not_before <= :at
        ORDER BY not_before
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE step_runs AS s
        SET status = 'running', attempt = s.attempt + 1, claimed_by = :runner,
            started_at = COALESCE(s.started_at, :at), version = s.version + 1
        FROM picked WHERE s.id = picked.id
        RETURNING s.*
    ), logged AS (
        INSERT INTO run_events (run_id, step_run_id, type, at, data)
        SELECT run_id, id, 'step.started', :at,
               jsonb_build_object('attempt', attempt, 'runner_id', CAST(:runner AS text))
        FROM claimed
    )
    SELECT c.*, r.project_id AS run_project_id, r.workflow_id AS run_workflow_id,
           r.deployment_id AS run_deployment_id
    FROM claimed AS c JOIN runs AS r ON r.id = c.run_id
    """
).bindparams(bindparam("at"), bindparam("limit"), bindparam("runner"))


# column names of our own tables, no input
_WITH_RUN = text(
    "SELECT "  # noqa: S608
    + ", ".join(f"r.{c.name} AS r_{c.name}" for c in runs.columns)
    + ", "
    + ", ".join(f"s.{c.name} AS s_{c.name}" for c in step_runs.columns)
    + " FROM runs AS r LEFT JOIN step_runs AS s ON s.run_id = r.id AND s.id = :step"
    " WHERE r.id = :run FOR UPDATE OF r"
)


class SqlAlchemyStepRunRepository:
    def __init__(self, session: AsyncSession, runs: SqlAlchemyRunRepository) -> None:
        self._session = session
        self._runs = runs
        self.map: IdentityMap[StepRun] = IdentityMap()

    def _load(self, row: Any) -> StepRun:
        return self.map.loaded(row.id, lambda r: mappers.row_to_step(r._mapping), row)

    def add(self, step: StepRun) -> None:
        self.map.added(step.id, step)

    async def get(self, step_run_id: str) -> StepRun | None:
        row = (
            await self._session.execute(select(step_runs).where(step_runs.c.id == step_run_id))
        ).first()
        return self._load(row) if row else None

    async def with_run_locked(
        self, *, run_id: str, step_run_id: str
    ) -> tuple[WorkflowRun | None, StepRun | None]:
        result = await self._session.execute(_WITH_RUN, {"run": run_id, "step": step_run_id})
        row = result.first()
        if row is None:
            return None, None
        values = row._mapping
        run_row = {c.name: values[f"r_{c.name}"] for c in runs.columns}
        run = self._runs.map.loaded(run_id, mappers.row_to_run, run_row)
        if values["s_id"] is None:
            return run, None
        step_row = {c.name: values[f"s_{c.name}"] for c in step_runs.columns}
        return run, self.map.loaded(step_run_id, mappers.row_to_step, step_row)

    async def of_run(self, run_id: str) -> list[StepRun]:
        query = (
            select(step_runs)
            .where(step_runs.c.run_id == run_id)
            .order_by(step_runs.c.submitted_at, step_runs.c.id)
        )
        return [self._load(r) for r in await self._session.execute(query)]

    async def active_of_run(self, run_id: str) -> list[StepRun]:
        query = select(step_runs).where(
            step_runs.c.run_id == run_id, step_runs.c.status.in_(("ready", "running"))
        )
        return [self._load(r) for r in await self._session.execute(query)]

    async def succeeded_of(self, run_id: str, step_ids: set[str]) -> list[StepRun]:
        if not step_ids:
            return []
        query = select(step_runs).where(
            step_runs.c.run_id == run_id,
            step_runs.c.step_id.in_(sorted(step_ids)),
            step_runs.c.status == "succeeded",
        )
        return [self._load(r) for r in await self._session.execute(query)]

    async def outputs_of(self, step_run_ids: set[str]) -> dict[str, OutputSets]:
        found: dict[str, OutputSets] = {}
        missing = []
        for key in step_run_ids:
            known = self.map.seen.get(key)
            if known is not None and known.outputs is not None:
                found[key] = known.outputs
            else:
                missing.append(key)
        if missing:
            query = select(step_runs.c.id, step_runs.c.outputs).where(step_runs.c.id.in_(missing))
            for row in await self._session.execute(query):
                found[row.id] = mappers.outputs_from_json(row.outputs) or []
        return found

    async def count_active(self, run_id: str, *, besides: str) -> int:
        query = select(func.count()).where(
            step_runs.c.run_id == run_id,
            step_runs.c.status.in_(("ready", "running")),
            step_runs.c.id != besides,
        )
        pending_new = sum(
            1
            for key in self.map.new
            if key != besides
            and self.map.seen[key].run_id == run_id
            and not self.map.seen[key].status.is_final
        )
        return int(await self._session.scalar(query) or 0) + pending_new

    async def claim(self, *, runner_id: str, limit: int, at: datetime) -> list[ClaimedStep]:
        result = await self._session.execute(
            _CLAIM, {"at": at, "limit": limit, "runner": runner_id}
        )
        claimed = []
        for row in result:
            step = mappers.row_to_step(row._mapping)
            self.map.seen[step.id] = step
            claimed.append(
                ClaimedStep(
                    step=step,
                    project_id=row.run_project_id,
                    workflow_id=row.run_workflow_id,
                    deployment_id=row.run_deployment_id,
                )
            )
        return claimed

    async def running_claimed_by(self, runner_ids: Sequence[str]) -> list[StepRun]:
        if not runner_ids:
            return []
        query = (
            select(step_runs)
            .where(step_runs.c.status == "running", step_runs.c.claimed_by.in_(list(runner_ids)))
            .with_for_update(skip_locked=True)
        )
        return [self._load(r) for r in await self._session.execute(query)]

    async def running_by_others(self, *, live: Sequence[str]) -> list[str]:
        query = select(step_runs.c.claimed_by).distinct().where(step_runs.c.status == "running")
        if live:
            query = query.where(
                or_(step_runs.c.claimed_by.is_(None), step_runs.c.claimed_by.not_in(list(live)))
            )
        return [r[0] or "" for r in await self._session.execute(query)]


class SqlAlchemyFileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.new: list[FileRecord] = []

    def add(self, record: FileRecord) -> None:
        self.new.append(record)

    async def get(self, *, project_id: str | None, file_id: str) -> FileRecord | None:
        query = select(files).where(files.c.id == file_id)
        if project_id is not None:
            query = query.where(files.c.project_id == project_id)
        row = (await self._session.execute(query)).first()
        return mappers.row_to_file(row._mapping) if row else None


class SqlAlchemyLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.new: list[StepLogs] = []

    def add(self, logs: StepLogs) -> None:
        self.new.append(logs)

    async def of_step(self, step_run_id: str) -> list[StepLogs]:
        query = (
            select(step_logs)
            .where(step_logs.c.step_run_id == step_run_id)
            .order_by(step_logs.c.attempt)
        )
        return [mappers.row_to_logs(r._mapping) for r in await self._session.execute(query)]


class SqlAlchemyRunEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def after(self, *, run_id: str, after_id: int, limit: int) -> list[StoredRunEvent]:
        query = (
            select(run_events)
            .where(run_events.c.run_id == run_id, run_events.c.id > after_id)
            .order_by(run_events.c.id)
            .limit(limit)
        )
        return [
            StoredRunEvent(
                id=row.id,
                event=RunEvent(
                    type=RunEventType(row.type),
                    run_id=row.run_id,
                    step_run_id=row.step_run_id,
                    at=row.at,
                    data=row.data,
                ),
            )
            for row in await self._session.execute(query)
        ]


class SqlAlchemyApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _key(row: Any) -> ApiKey:
        return ApiKey(
            id=row.id,
            project_id=row.project_id,
            name=row.name,
            prefix=row.prefix,
            key_hash=row.key_hash,
            created_by=row.created_by,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )

    async def add(self, key: ApiKey) -> None:
        await self._session.execute(
            insert(api_keys).values(
                id=key.id,
                project_id=key.project_id,
                name=key.name,
                prefix=key.prefix,
                key_hash=key.key_hash,
                created_by=key.created_by,
                created_at=key.created_at,
                last_used_at=key.last_used_at,
            )
        )

    async def page(self, *, project_id: str, limit: int, cursor: str | None) -> Page[ApiKey]:
        rows, total, next_cursor = await paginate(
            self._session,
            select(api_keys).where(api_keys.c.project_id == project_id),
            created_at=api_keys.c.created_at,
            row_id=api_keys.c.id,
            limit=limit,
            cursor=cursor,
        )
        return Page(items=[self._key(r) for r in rows], total=total, next_cursor=next_cursor)

    async def remove(self, *, project_id: str, key_id: str) -> bool:
        result = await self._session.execute(
            delete(api_keys).where(api_keys.c.id == key_id, api_keys.c.project_id == project_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def hashes(self, project_id: str) -> dict[str, str]:
        query = select(api_keys.c.key_hash, api_keys.c.id).where(
            api_keys.c.project_id == project_id
        )
        return {row.key_hash: row.id for row in await self._session.execute(query)}

    async def touch(self, key_ids: Sequence[str], *, at: datetime) -> None:
        await self._session.execute(
            update(api_keys).where(api_keys.c.id.in_(list(key_ids))).values(last_used_at=at)
        )

    async def settings(self, project_id: str) -> ApiSettings:
        row = (
            await self._session.execute(
                select(api_settings).where(api_settings.c.project_id == project_id)
            )
        ).first()
        if row is None:
            return ApiSettings(project_id=project_id)
        return ApiSettings(
            project_id=project_id,
            require_api_key=row.require_api_key,
            changed_at=row.changed_at,
        )

    async def save_settings(self, settings: ApiSettings) -> None:
        values = {
            "project_id": settings.project_id,
            "require_api_key": settings.require_api_key,
            "changed_at": settings.changed_at,
        }
        statement = pg_insert(api_settings).values(values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[api_settings.c.project_id],
                set_={
                    "require_api_key": statement.excluded.require_api_key,
                    "changed_at": statement.excluded.changed_at,
                },
            )
        )

    async def remove_project(self, project_id: str) -> int:
        await self._session.execute(
            delete(api_settings).where(api_settings.c.project_id == project_id)
        )
        result = await self._session.execute(
            delete(api_keys).where(api_keys.c.project_id == project_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)
