"""The outbox relay: publishes the events committed to the ``outbox`` table, at least once.

The unit of work writes an event's row in the same transaction as the change; the relay then
publishes the unpublished rows, oldest first, and marks each published in one transaction per
batch. Rows are claimed with ``FOR UPDATE SKIP LOCKED``, so several replicas relay side by side
without publishing a row twice (each replica keeps the order of the rows it holds).

A publish can succeed and its confirmation still be lost: the row then goes out again later with
the same message id, and consumers drop the duplicate through their inbox. ``attempts`` counts
every publish of a row (the successful one included); ``last_error`` keeps the latest failure.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from oryx_runner.infrastructure.database.tables import outbox
from oryx_runner.infrastructure.messaging.broker import Publisher

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True, kw_only=True)
class _BatchResult:
    published: int
    failed: bool
    """True when a publish failed and the batch stopped there."""
    full: bool
    """True when the batch was full: more rows may be waiting."""


class OutboxRelay:
    """Implements the ``EventNotifier`` port: ``notify()`` after a commit wakes it at once."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        broker: Publisher,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 100,
        retention: timedelta = timedelta(days=7),
        purge_every: timedelta = timedelta(hours=1),
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self._sessions = session_factory
        self._broker = broker
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._retention = retention
        self._purge_every = purge_every
        self._max_backoff = max_backoff_seconds
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """Wake the relay; safe to call from any thread, and before ``run()`` starts."""
        self._call_in_loop(self._wake.set)

    def stop(self) -> None:
        """Make ``run()`` return after the batch in progress; a stopped relay stays stopped."""
        self._call_in_loop(self._stop.set)
        self._call_in_loop(self._wake.set)

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; return how many were published."""
        return (await self._publish_batch()).published

    async def _publish_batch(self) -> _BatchResult:
        published_ids: list[str] = []
        failed = False
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(
                        outbox.c.id,
                        outbox.c.exchange,
                        outbox.c.routing_key,
                        outbox.c.message_type,
                        outbox.c.payload,
                    )
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.created_at, outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                try:
                    await self._broker.publish(
                        exchange=row.exchange,
                        routing_key=row.routing_key,
                        message_id=row.id,
                        message_type=row.message_type,
                        body=row.payload,
                    )
                except Exception as exc:  # any failure: keep the row, retry it later, in order
                    log.warning("could not publish outbox row %s: %r", row.id, exc)
                    await session.execute(
                        update(outbox)
                        .where(outbox.c.id == row.id)
                        .values(
                            attempts=outbox.c.attempts + 1,
                            last_error=(repr(exc) or type(exc).__name__)[:MAX_ERROR_LENGTH],
                        )
                    )
                    failed = True
                    break
                log.info("published %s on %s (%s)", row.routing_key, row.exchange, row.id)
                published_ids.append(row.id)
            if published_ids:
                await session.execute(
                    update(outbox)
                    .where(outbox.c.id.in_(published_ids))
                    .values(published_at=_now(), attempts=outbox.c.attempts + 1)
                )
        return _BatchResult(
            published=len(published_ids),
            failed=failed,
            full=len(rows) == self._batch_size,
        )

    async def purge_published(self) -> int:
        """Delete the rows published longer ago than the retention; return how many."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                delete(outbox).where(outbox.c.published_at < _now() - self._retention)
            )
        return cast(CursorResult[Any], result).rowcount

    async def run(self) -> None:
        """Relay until ``stop()``: poll every ``poll_seconds``, at once when notified, and
        back off (doubling up to ``max_backoff_seconds``) while publishing fails."""
        self._loop = asyncio.get_running_loop()
        backoff = 0.0
        next_purge = self._loop.time()
        while not self._stop.is_set():
            self._wake.clear()  # a notify() from now on triggers another batch
            try:
                result = await self._publish_batch()
                if self._loop.time() >= next_purge:
                    next_purge = self._loop.time() + self._purge_every.total_seconds()
                    if purged := await self.purge_published():
                        log.info("purged %d published outbox rows", purged)
            except Exception:
                log.exception("outbox relay failed")
                result = _BatchResult(published=0, failed=True, full=False)
            if result.failed:
                backoff = min(max(backoff * 2, self._poll_seconds), self._max_backoff)
                # No early wake while failing: every commit would hammer a broker that is down.
                await _wait(self._stop, backoff)
                continue
            backoff = 0.0
            if not result.full:
                await _wait(self._wake, self._poll_seconds)

    def _call_in_loop(self, callback: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            callback()
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            callback()
        else:
            loop.call_soon_threadsafe(callback)


def _now() -> datetime:
    return datetime.now(UTC)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
