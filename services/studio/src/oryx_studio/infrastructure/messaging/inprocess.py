"""The in-process broker: the embedded mode's (and unit tests') stand-in for RabbitMQ.

It keeps the port's semantics (see ``broker.py``): topic routing with ``*`` and ``#``, one queue
per consumer that collects messages from its declaration on, acknowledgement when the handler
returns, redelivery when it raises, a dead-letter list after ``max_deliveries`` or on
``PoisonMessage``, one handler call at a time per queue, in order.

A message stays at the head of its queue until its handler returns, so a failing message is
retried before the ones behind it (as RabbitMQ requeues it at its place). Queues live in memory:
what is queued when the process stops is lost, which the embedded mode accepts.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from oryx_studio.infrastructure.messaging.broker import (
    DEFAULT_MAX_DELIVERIES,
    DEFAULT_PREFETCH,
    Handler,
    PoisonMessage,
    ReceivedMessage,
)

log = logging.getLogger(__name__)


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on ``.``; ``*`` is one word, ``#`` zero or more."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


@lru_cache(maxsize=4096)
def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


@dataclass(kw_only=True)
class _Envelope:
    message: ReceivedMessage
    deliveries: int = 0


class _Queue:
    def __init__(self, name: str) -> None:
        self.name = name
        self.pending: deque[_Envelope] = deque()
        self.dead: list[ReceivedMessage] = []
        self.has_messages = asyncio.Event()
        self.idle = asyncio.Event()
        """Set while a consumer is attached and has nothing left to do."""
        self.worker: asyncio.Task[None] | None = None

    def put(self, message: ReceivedMessage) -> None:
        self.pending.append(_Envelope(message=message))
        self.has_messages.set()
        self.idle.clear()


class InProcessBroker:
    def __init__(
        self,
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        retry_delay: float = 1.0,
        shutdown_grace: float = 10.0,
    ) -> None:
        """``retry_delay``: pause before a failed message is delivered again.
        ``shutdown_grace``: how long ``close()`` lets the handlers in progress finish."""
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self._max_deliveries = max_deliveries
        self._retry_delay = retry_delay
        self._shutdown_grace = shutdown_grace
        self._bindings: dict[str, list[tuple[str, _Queue]]] = {}
        """exchange -> (binding pattern, queue), in declaration order."""
        self._queues: dict[str, _Queue] = {}
        self._started = False
        self._closed = False

    async def start(self) -> None:
        """Get ready; after a ``close()``, the queues are still there but need consumers again."""
        self._started = True
        self._closed = False

    async def close(self) -> None:
        """Stop taking messages, let the handlers in progress finish (within the grace
        period, then cancel them); what is not acknowledged stays queued."""
        self._closed = True
        workers = [q.worker for q in self._queues.values() if q.worker is not None]
        for queue in self._queues.values():
            queue.has_messages.set()  # wake idle workers so they see the broker closed
        if workers:
            await asyncio.wait(workers, timeout=self._shutdown_grace)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for queue in self._queues.values():
            queue.worker = None

    async def declare_exchange(self, name: str) -> None:
        self._check_open()
        self._bindings.setdefault(name, [])

    async def declare_queue(
        self, *, queue: str, exchange: str, routing_keys: Sequence[str]
    ) -> None:
        await self.declare_exchange(exchange)
        target = self._queues.get(queue)
        if target is None:
            target = self._queues[queue] = _Queue(queue)
        bindings = self._bindings[exchange]
        for key in routing_keys:
            if (key, target) not in bindings:
                bindings.append((key, target))

    async def publish(
        self,
        *,
        exchange: str,
        routing_key: str,
        message_id: str,
        message_type: str,
        body: bytes,
        headers: Mapping[str, Any] | None = None,
    ) -> None:
        # Like the RabbitMQ adapter, publishing declares the exchange on first use.
        await self.declare_exchange(exchange)
        targets = {
            q.name: q for key, q in self._bindings[exchange] if topic_matches(key, routing_key)
        }
        for queue in targets.values():
            queue.put(
                ReceivedMessage(
                    message_id=message_id,
                    routing_key=routing_key,
                    message_type=message_type,
                    body=body,
                    headers=dict(headers or {}),
                )
            )

    async def consume(
        self,
        *,
        queue: str,
        exchange: str,
        routing_keys: Sequence[str],
        handler: Handler,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        await self.declare_queue(queue=queue, exchange=exchange, routing_keys=routing_keys)
        target = self._queues[queue]
        if target.worker is not None:
            raise ValueError(f"queue {queue!r} already has a consumer in this process")
        target.worker = asyncio.create_task(self._work(target, handler), name=f"consume {queue}")
        target.worker.add_done_callback(_log_crash)

    def dead_letters(self, queue: str) -> list[ReceivedMessage]:
        """The messages dead-lettered from ``queue``, oldest first, as last delivered."""
        target = self._queues.get(queue)
        return list(target.dead) if target else []

    def pending(self, queue: str) -> int:
        """How many messages wait in ``queue`` (the one being handled included)."""
        target = self._queues.get(queue)
        return len(target.pending) if target else 0

    async def join(self) -> None:
        """Wait until every consumed queue is empty and its handler idle."""
        while True:
            busy = [q for q in self._queues.values() if q.worker and not q.idle.is_set()]
            if not busy:
                return
            await busy[0].idle.wait()

    def _check_open(self) -> None:
        if not self._started:
            raise RuntimeError("the broker is not started")
        if self._closed:
            raise RuntimeError("the broker is closed")

    async def _work(self, queue: _Queue, handler: Handler) -> None:
        while not self._closed:
            if not queue.pending:
                queue.has_messages.clear()
                queue.idle.set()
                await queue.has_messages.wait()
                continue
            envelope = queue.pending[0]  # stays queued until the handler returns
            envelope.deliveries += 1
            received = replace(
                envelope.message,
                redelivered=envelope.deliveries > 1,
                delivery_count=envelope.deliveries,
            )
            try:
                await handler(received)
            except PoisonMessage as exc:
                log.warning(
                    "dead-lettering poison message %s from %s: %s",
                    received.message_id,
                    queue.name,
                    exc,
                )
                queue.pending.popleft()
                queue.dead.append(received)
            except Exception:
                if envelope.deliveries >= self._max_deliveries:
                    log.exception(
                        "dead-lettering message %s from %s after %d deliveries",
                        received.message_id,
                        queue.name,
                        envelope.deliveries,
                    )
                    queue.pending.popleft()
                    queue.dead.append(received)
                else:
                    log.warning(
                        "handler of %s failed on message %s (delivery %d); retrying",
                        queue.name,
                        received.message_id,
                        envelope.deliveries,
                        exc_info=True,
                    )
                    await asyncio.sleep(self._retry_delay)
            else:
                queue.pending.popleft()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("consumer %s stopped", task.get_name(), exc_info=task.exception())
