"""This runner process in the database: its registration, its liveness, and the listener of
the other processes' notifications.

A runner registers a row in ``runner_instances`` and holds a session-level advisory lock
``(LOCK_NAMESPACE, lock_key)`` on a dedicated connection for as long as it lives. PostgreSQL
releases the lock when that connection ends, whether the process stopped, crashed or was
killed: a runner is alive exactly while its lock is held, which every runner can read from
``pg_locks`` (``live_runners``). The same connection LISTENs to the notification channels.
If it drops while the process lives, it is opened again and the same lock taken back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_runner.infrastructure.database.uow import (
    API_KEYS_CHANNEL,
    CANCEL_CHANNEL,
    DEPLOY_CHANNEL,
    DEPLOYED_CHANNEL,
    ENDED_CHANNEL,
    RUN_CHANNEL,
    WORK_CHANNEL,
)
from oryx_runner.infrastructure.signals import LocalSignals

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x0A7A0002

_LIVE = text(
    """
    SELECT ri.id FROM runner_instances AS ri
    JOIN pg_locks AS l
      ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
     AND l.classid = CAST(:ns AS oid) AND l.objid = CAST(ri.lock_key AS oid)
     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
)

_PRUNE = text(
    """
    DELETE FROM runner_instances AS ri
    WHERE ri.id <> ALL(CAST(:live AS varchar[]))
      AND NOT EXISTS (
        SELECT 1 FROM step_runs AS s WHERE s.status = 'running' AND s.claimed_by = ri.id
      )
    """
)


def asyncpg_dsn(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class PostgresPresence:
    """Implements ``RunnerLiveness``; feeds ``LocalSignals`` from other processes."""

    def __init__(
        self,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        *,
        runner_id: str,
        signals: LocalSignals,
        check_seconds: float = 2.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._sessions = sessions
        self.runner_id = runner_id
        self._signals = signals
        self._check_seconds = check_seconds
        self._lock_key = 0
        self._conn: asyncpg.Connection | None = None
        self._watch: asyncio.Task[None] | None = None
        self._closing = False
        self._prune_every = 30
        self._sweeps = 0
        self._lost = asyncio.Event()

    async def start(self) -> None:
        await self._connect(register=True)
        self._watch = asyncio.create_task(self._keep(), name="runner presence")

    async def close(self) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.execute("DELETE FROM runner_instances WHERE id = $1", self.runner_id)
            with contextlib.suppress(Exception):
                await conn.close(timeout=5)

    async def live_runners(self) -> list[str]:
        async with self._sessions() as session:
            rows = await session.execute(_LIVE, {"ns": LOCK_NAMESPACE})
            live = [r[0] for r in rows]
            self._sweeps += 1
            if self._sweeps % self._prune_every == 0 and self.runner_id in live:
                await session.execute(_PRUNE, {"live": live})
                await session.commit()
        return live

    # -- the dedicated connection ---------------------------------------------------------

    async def _connect(self, *, register: bool) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            if register:
                for _ in range(10):
                    key = random.randint(1, 2**31 - 1)  # noqa: S311 (not a secret)
                    if await conn.fetchval(
                        "SELECT pg_try_advisory_lock($1, $2)", LOCK_NAMESPACE, key
                    ):
                        try:
                            await conn.execute(
                                "INSERT INTO runner_instances (id, lock_key, host, pid, "
                                "started_at) VALUES ($1, $2, $3, $4, $5)",
                                self.runner_id,
                                key,
                                socket.gethostname()[:255],
                                os.getpid(),
                                datetime.now(UTC),
                            )
                        except asyncpg.UniqueViolationError:
                            await conn.execute(
                                "SELECT pg_advisory_unlock($1, $2)", LOCK_NAMESPACE, key
                            )
                            continue
                        self._lock_key = key
                        break
                else:
                    raise RuntimeError("could not register this runner (no free lock key)")
            else:
                await conn.execute(
                    "SELECT pg_advisory_lock($1, $2)", LOCK_NAMESPACE, self._lock_key
                )
            for channel in (
                WORK_CHANNEL,
                CANCEL_CHANNEL,
                RUN_CHANNEL,
                ENDED_CHANNEL,
                DEPLOY_CHANNEL,
                DEPLOYED_CHANNEL,
                API_KEYS_CHANNEL,
            ):
                await conn.add_listener(channel, self._notified)
            conn.add_termination_listener(lambda _conn: self._lost.set())
        except BaseException:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
            raise
        self._conn = conn

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if channel == WORK_CHANNEL:
            if payload != self.runner_id:  # our own commits woke us already
                self._signals.work()
        elif channel == CANCEL_CHANNEL:
            self._signals.cancel(payload)
        elif channel == RUN_CHANNEL:
            self._signals.run_changed(payload)
        elif channel == ENDED_CHANNEL:
            self._signals.run_ended(payload)
        elif channel == DEPLOY_CHANNEL:
            self._signals.deploy()
        elif channel == DEPLOYED_CHANNEL:
            self._signals.deployed(payload)
        elif channel == API_KEYS_CHANNEL:
            self._signals.api_keys(payload)

    async def _keep(self) -> None:
        """Check the connection; when it is gone, open another and take the lock back."""
        backoff = 0.2
        while not self._closing:
            if self._conn is not None:
                with contextlib.suppress(TimeoutError):  # lost: at once; else check now and then
                    await asyncio.wait_for(self._lost.wait(), timeout=self._check_seconds)
            else:
                await asyncio.sleep(backoff)
            self._lost.clear()
            conn = self._conn
            try:
                if conn is not None and not conn.is_closed():
                    await conn.fetchval("SELECT 1", timeout=self._check_seconds)
                    continue
            except Exception:
                log.warning("the runner's database connection failed; opening another")
            with contextlib.suppress(Exception):
                if conn is not None:
                    conn.terminate()
            self._conn = None
            try:
                await self._connect(register=False)
                backoff = 0.2
                log.info("runner %s is back on the database", self.runner_id)
                self._signals.work()  # notifications may have been missed meanwhile
                self._signals.deploy()
                self._signals.deployed("")
                self._signals.api_keys("")
            except Exception as exc:
                backoff = min(backoff * 2, 5.0)
                log.warning("could not reconnect (%r); again in %.1f s", exc, backoff)
