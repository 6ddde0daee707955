"""The migrations build exactly the declared tables; the claim and recovery statements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from oryx_runner.application.ports import StorageUnavailable
from oryx_runner.domain.runs import StepRun, WorkflowRun
from oryx_runner.infrastructure.database.tables import metadata
from oryx_runner.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_runner.infrastructure.messaging.routing import serialize
from oryx_runner.infrastructure.security.clock import SystemClock, Uuid7Generator

from ...actions import chain
from ...unit.infrastructure.test_mappers import deployment


async def test_the_migrated_schema_is_the_declared_one(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diff == []


def uow(sessions):  # type: ignore[no-untyped-def]
    return SqlAlchemyUnitOfWork(
        sessions, exchange="x", serialize=serialize, ids=Uuid7Generator(), clock=SystemClock()
    )


async def test_claims_never_hand_a_step_run_to_two_runners() -> None:
    from oryx_runner.infrastructure.database.engine import create_engine, session_factory

    from ...conftest import drop_database, new_database

    url = await new_database("oryx_runner_claims")
    engine = create_engine(url)
    try:
        await _claims(session_factory(engine))
    finally:
        await engine.dispose()
        await drop_database(url)


async def _claims(sessions) -> None:  # type: ignore[no-untyped-def]
    ids = Uuid7Generator()
    at = datetime.now(UTC)
    d = deployment(chain({"append": "local:a"}, length=1))
    async with uow(sessions) as work:
        if await work.deployments.get(d.id) is None:
            work.deployments.add(d)
        run = WorkflowRun.create(
            run_id=ids.new(), project_id="p", workflow_id=d.workflow_id, deployment_id=d.id,
            trigger="manual", requested_by="", at=at,
        )  # fmt: skip
        work.runs.add(run)
        for i in range(40):
            work.steps.add(
                StepRun.ready(
                    step_run_id=ids.new(),
                    run_id=run.id,
                    step_id="s1",
                    branch_key=str(i),
                    context={},
                    inputs={"text": str(i)},
                    at=at - timedelta(seconds=1),
                )
            )
        await work.commit()

    async def claim(runner: str) -> list[str]:
        got = []
        while True:
            async with uow(sessions) as work:
                batch = await work.steps.claim(runner_id=runner, limit=3, at=datetime.now(UTC))
                await work.commit()
            if not batch:
                return got
            got += [c.step.id for c in batch if c.step.run_id == run.id]

    import asyncio

    results = await asyncio.gather(*(claim(f"runner-{i}") for i in range(4)))
    claimed = [sid for batch in results for sid in batch]
    assert len(claimed) == 40 and len(set(claimed)) == 40
    async with uow(sessions) as work:
        steps = await work.steps.of_run(run.id)
        assert {s.status.value for s in steps} == {"running"} and {s.attempt for s in steps} == {1}
        events = await work.run_events.after(run_id=run.id, after_id=0, limit=1000)
    assert sum(1 for e in events if e.event.type.value == "step.started") == 40


async def test_a_lost_database_is_storage_unavailable(artifacts) -> None:  # type: ignore[no-untyped-def]
    from oryx_runner.infrastructure.database.engine import create_engine, session_factory

    engine = create_engine("postgresql://postgres@127.0.0.1:1/none")
    try:
        async with uow(session_factory(engine)) as work:
            await work.runs.get(project_id="p", run_id="r")
    except StorageUnavailable:
        pass
    else:
        raise AssertionError("no StorageUnavailable")
    finally:
        await engine.dispose()
