"""Sources' leases: which runner process runs a workflow's source.

A lease is a PostgreSQL session-level advisory lock, keyed by a 64-bit hash of the workflow
id, held on a connection of its own for as long as the source runs here. PostgreSQL releases
it when that connection ends, whatever ended it (the process stopped, crashed, was killed, or
the network dropped), and another runner process then takes it. The holder checks its
connection every few seconds; when it fails, the lease is lost and the source is stopped
here (another process may already run it).

The one-key form of ``pg_try_advisory_lock`` (a bigint) never meets the runners' presence
locks, which use the two-key form.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

import asyncpg

from oryx_runner.infrastructure.database.presence import asyncpg_dsn

log = logging.getLogger(__name__)


def lock_key(workflow_id: str) -> int:
    digest = hashlib.sha256(b"oryx-runner-source:" + workflow_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLease:
    def __init__(self, conn: asyncpg.Connection, *, key: int, check_seconds: float) -> None:
        self._conn = conn
        self._key = key
        self._lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: self._lost.set())
        self._watch = asyncio.create_task(self._check(check_seconds), name="source lease")

    async def _check(self, every: float) -> None:
        while not self._lost.is_set():
            await asyncio.sleep(every)
            try:
                await self._conn.fetchval("SELECT 1", timeout=every)
            except Exception as exc:
                log.warning("a source's lease connection failed: %r", exc)
                self._lost.set()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    async def release(self) -> None:
        self._watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watch
        with contextlib.suppress(Exception):
            await self._conn.execute("SELECT pg_advisory_unlock($1)", self._key)
        with contextlib.suppress(Exception):
            await self._conn.close(timeout=2)


class PostgresSourceLeases:
    """Implements ``SourceLeases``."""

    def __init__(self, database_url: str, *, check_seconds: float = 2.0) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._check_seconds = check_seconds

    async def try_acquire(self, workflow_id: str) -> PostgresLease | None:
        key = lock_key(workflow_id)
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
            raise
        if not taken:
            await conn.close(timeout=2)
            return None
        return PostgresLease(conn, key=key, check_seconds=self._check_seconds)
