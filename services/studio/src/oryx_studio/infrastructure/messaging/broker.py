"""The broker port: what the outbox relay and the consumers need from a message broker.

Two adapters implement it with the same at-least-once semantics: ``RabbitMqBroker``
(``rabbitmq.py``, the distributed mode) and ``InProcessBroker`` (``inprocess.py``, the embedded
mode and unit tests).

Semantics every adapter keeps:

- Exchanges are topic exchanges; routing keys are matched with AMQP's ``*`` (one word) and
  ``#`` (zero or more words) wildcards. A message routed to no queue is dropped, as AMQP does.
- A queue belongs to one consumer and collects the messages of its bindings from the moment it is
  declared, whether or not a handler is attached yet.
- A handler returning normally acknowledges the message. Raising any exception means "retry":
  the message is delivered again, until it has been delivered ``max_deliveries`` times; then it
  goes to the queue's dead-letter queue (``<queue>.dlq``). Raising ``PoisonMessage`` sends it
  there at once (for a message no retry can fix, such as an undecodable payload).
- The handlers of one queue in one process run one at a time, in delivery order.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_MAX_DELIVERIES = 5
DEFAULT_PREFETCH = 10


def dead_letter_queue(queue: str) -> str:
    """The name of a queue's dead-letter queue."""
    return f"{queue}.dlq"


@dataclass(frozen=True, kw_only=True)
class ReceivedMessage:
    message_id: str
    """The AMQP message id; the outbox row id of the emitter, so the key of the inbox."""
    routing_key: str
    message_type: str
    """The protobuf full name, e.g. ``oryx.studio.v1.UserDeleted``."""
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False
    delivery_count: int = 1
    """How many times this message has been delivered, this delivery included."""


Handler = Callable[[ReceivedMessage], Awaitable[None]]
"""Returns: acknowledge. Raises: deliver again (or dead-letter on ``PoisonMessage``)."""


class PoisonMessage(Exception):
    """Raised by a handler for a message that can never be processed: dead-letter it now."""


class Publisher(Protocol):
    """The part of the broker the outbox relay needs."""

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
        """Return once the broker holds the message in every bound queue; raise otherwise.

        A failed publish may still have reached the broker (a lost confirmation), so the
        caller retries with the same ``message_id`` and consumers drop duplicates.
        """
        ...


class Broker(Publisher, Protocol):
    async def start(self) -> None:
        """Connect (or get ready); call once before anything else."""
        ...

    async def close(self) -> None:
        """Stop the consumers and disconnect; unacknowledged messages stay in their queues."""
        ...

    async def declare_exchange(self, name: str) -> None:
        """Declare a durable topic exchange (idempotent)."""
        ...

    async def declare_queue(
        self, *, queue: str, exchange: str, routing_keys: Sequence[str]
    ) -> None:
        """Declare a durable queue and its dead-letter queue, bound to each routing key.

        From then on, messages routed to the queue wait there until a consumer takes them.
        """
        ...

    async def consume(
        self,
        *,
        queue: str,
        exchange: str,
        routing_keys: Sequence[str],
        handler: Handler,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> None:
        """Declare the queue (as ``declare_queue``) and start handing its messages to ``handler``.

        Returns once the consumer is attached; messages are then handled in the background
        until ``close()``.
        """
        ...
