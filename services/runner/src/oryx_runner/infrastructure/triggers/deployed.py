"""Which workflows are deployed now, with which kind of trigger (for the supervisor)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# The trigger is the snapshot's first step; a user's source has no builtin_trigger.
_DEPLOYED = text(
    """
    SELECT wd.workflow_id, wd.deployment_id FROM workflow_deployments AS wd
    JOIN deployments AS d ON d.id = wd.deployment_id
    WHERE wd.status = 'deployed'
      AND COALESCE(NULLIF(d.snapshot -> 'steps' -> 0 ->> 'builtin_trigger', ''), 'source')
          = ANY(CAST(:kinds AS varchar[]))
    """
)


class SqlAlchemyDeployedTriggers:
    """Implements ``DeployedTriggers``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def deployed(self, *, kinds: Sequence[str]) -> dict[str, str]:
        if not kinds:
            return {}
        async with self._sessions() as session:
            rows = await session.execute(_DEPLOYED, {"kinds": list(kinds)})
            return {row[0]: row[1] for row in rows}
