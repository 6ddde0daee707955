"""The triggers' adapters on a real PostgreSQL: one run per fire key under concurrent fires,
the deployed-triggers query, and sources' leases (advisory locks)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import asyncpg
from sqlalchemy import text

from oryx_runner.application.triggers import Firing
from oryx_runner.application.triggers_firing import TriggerRuns
from oryx_runner.domain.deployments import Deployment, WorkflowDeployment
from oryx_runner.domain.workflows import BuiltinTrigger, StepSpec, WorkflowSnapshot
from oryx_runner.infrastructure.database.presence import asyncpg_dsn
from oryx_runner.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_runner.infrastructure.messaging.routing import serialize
from oryx_runner.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_runner.infrastructure.triggers.deployed import SqlAlchemyDeployedTriggers
from oryx_runner.infrastructure.triggers.leases import PostgresSourceLeases

from ...actions import source, trigger


def uow(sessions):  # type: ignore[no-untyped-def]
    return SqlAlchemyUnitOfWork(
        sessions, exchange="x", serialize=serialize, ids=Uuid7Generator(), clock=SystemClock()
    )


async def deployed(sessions, first: StepSpec) -> Deployment:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    deployment = Deployment(
        id=f"dep-{secrets.token_hex(4)}", workflow_id=f"wf-{secrets.token_hex(4)}",
        project_id="p", revision=1, snapshot=WorkflowSnapshot(name="w", steps=(first,)),
        requested_by="u", requested_at=now, received_at=now,
    )  # fmt: skip
    async with uow(sessions) as work:
        work.deployments.add(deployment)
        state = WorkflowDeployment.first(deployment, at=now)
        state.deployed(deployment_id=deployment.id, at=now)
        work.workflows.add(state)
        await work.commit()
    return deployment


async def test_concurrent_fires_of_one_key_start_one_run(sessions) -> None:  # type: ignore[no-untyped-def]
    deployment = await deployed(sessions, trigger(BuiltinTrigger.EMIT_EVERY, seconds=1))
    runs = TriggerRuns(uow=lambda: uow(sessions), clock=SystemClock(), ids=Uuid7Generator())
    at = datetime(2026, 5, 1, 12, tzinfo=UTC)
    firing = Firing(fire_key="2026-05-01T12:00:00Z", scheduled_at=at)
    started = await asyncio.gather(*(runs.fire(deployment, firing) for _ in range(6)))
    run_ids = [r for r in started if r is not None]
    assert len(run_ids) == 1
    again = await runs.fire(deployment, Firing(fire_key="2026-05-01T12:00:01Z"))
    assert again is not None
    async with uow(sessions) as work:
        run = await work.runs.get(project_id="p", run_id=run_ids[0])
        assert run is not None and run.trigger == "emit-every"
        (trigger_step,) = await work.steps.of_run(run.id)
        assert trigger_step.outputs == [{"fired_at": "2026-05-01T12:00:00Z"}]
        rows = await work.session.execute(
            text("SELECT fire_key, run_id FROM trigger_fires WHERE deployment_id = :d ORDER BY 1"),
            {"d": deployment.id},
        )
        assert [tuple(r) for r in rows] == [
            ("2026-05-01T12:00:00Z", run_ids[0]), ("2026-05-01T12:00:01Z", again)
        ]  # fmt: skip


async def test_a_fire_for_a_workflow_no_longer_deployed_starts_nothing(sessions) -> None:  # type: ignore[no-untyped-def]
    deployment = await deployed(sessions, trigger(BuiltinTrigger.CRON, cron="* * * * *"))
    async with uow(sessions) as work:
        state = await work.workflows.get(workflow_id=deployment.workflow_id, for_update=True)
        assert state is not None
        state.request_undeploy(
            requested_at=datetime.now(UTC), cancel_running=False, at=datetime.now(UTC)
        )
        await work.commit()
    runs = TriggerRuns(uow=lambda: uow(sessions), clock=SystemClock(), ids=Uuid7Generator())
    assert await runs.fire(deployment, Firing(fire_key="k")) is None


async def test_the_deployed_triggers_by_kind(sessions) -> None:  # type: ignore[no-untyped-def]
    every = await deployed(sessions, trigger(BuiltinTrigger.EMIT_EVERY, seconds=1))
    mine = await deployed(sessions, source("local:src"))
    query = SqlAlchemyDeployedTriggers(sessions)
    found = await query.deployed(kinds=["emit-every", "source"])
    assert found[every.workflow_id] == every.id and found[mine.workflow_id] == mine.id
    assert every.workflow_id not in await query.deployed(kinds=["cron"])
    assert await query.deployed(kinds=[]) == {}


async def test_a_source_lease_is_held_by_one_and_lost_with_its_connection(database_url) -> None:  # type: ignore[no-untyped-def]
    leases = PostgresSourceLeases(database_url, check_seconds=0.2)
    other = PostgresSourceLeases(database_url, check_seconds=0.2)
    workflow = f"wf-{secrets.token_hex(4)}"
    held = await leases.try_acquire(workflow)
    assert held is not None
    assert await other.try_acquire(workflow) is None
    second = await other.try_acquire(workflow + "-2")
    assert second is not None  # another workflow's is free
    await second.release()
    await held.release()
    held = await other.try_acquire(workflow)
    assert held is not None
    # the database ends the holder's connection: the lease is lost, and free for others
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    finally:
        await admin.close()
    await asyncio.wait_for(held.wait_lost(), timeout=5)
    await held.release()
    taken = await leases.try_acquire(workflow)
    assert taken is not None
    await taken.release()
