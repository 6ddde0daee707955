"""``watch-events`` prints what goes through the exchange, one JSON line per event."""

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from oryx_authorization.domain.events import ProjectDeleted
from oryx_authorization.infrastructure.messaging import routing
from oryx_authorization.infrastructure.messaging.rabbitmq import RabbitMqBroker
from oryx_authorization.infrastructure.messaging.watch import watch


async def test_prints_each_event_as_a_json_line(
    topology: Any, brokers: Callable[..., Awaitable[RabbitMqBroker]], rabbitmq_url: str
) -> None:
    out = io.StringIO()
    ready = asyncio.Event()
    watcher = asyncio.create_task(
        watch(rabbitmq_url, topology.exchange, out=out, ready=ready, limit=2)
    )
    async with asyncio.timeout(5):
        await ready.wait()

    broker = await brokers()
    event = ProjectDeleted(
        project_id="p1", name="demo", occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    message = routing.serialize(event)
    for message_id, message_type, payload in [
        ("m1", message.message_type, message.payload),
        ("m2", "oryx.authorization.v1.Nonsense", b"\x01"),
    ]:
        await broker.publish(
            exchange=topology.exchange,
            routing_key=message.routing_key,
            message_id=message_id,
            message_type=message_type,
            body=payload,
        )
    async with asyncio.timeout(5):
        await watcher

    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {
        "routing_key": "authorization.project.deleted.v1",
        "message_id": "m1",
        "type": "oryx.authorization.v1.ProjectDeleted",
        "message": {
            "project_id": "p1",
            "name": "demo",
            "occurred_at": "2026-01-02T03:04:05Z",
        },
    }
    assert second["message_id"] == "m2"
    assert "unknown message type" in second["error"]
