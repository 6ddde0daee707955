"""``trigger_fires``: one row per fire of a timing trigger, so that it fires once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_runner.infrastructure.database.tables import trigger_fires


class SqlAlchemyTriggerFireRepository:
    """The insert runs at once, in the unit of work's transaction: a second inserter of the
    same key waits for the first transaction, then finds the row (or inserts it, if the
    first rolled back)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        *,
        deployment_id: str,
        fire_key: str,
        workflow_id: str,
        run_id: str,
        scheduled_at: datetime,
        fired_at: datetime,
    ) -> bool:
        statement = (
            insert(trigger_fires)
            .values(
                deployment_id=deployment_id,
                fire_key=fire_key,
                workflow_id=workflow_id,
                run_id=run_id,
                scheduled_at=scheduled_at,
                fired_at=fired_at,
            )
            .on_conflict_do_nothing(index_elements=["deployment_id", "fire_key"])
            .returning(trigger_fires.c.run_id)
        )
        result = await self._session.execute(statement)
        return result.first() is not None
