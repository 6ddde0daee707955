"""``watch-events``: print the events going through an exchange, one JSON line each.

A person's window on RabbitMQ: an exclusive, auto-delete queue bound to ``#`` sees every event
published from now on, without taking anything from the services' own queues.
"""

import asyncio
import json
import sys
from typing import Any, TextIO

import aio_pika
from aio_pika.abc import AbstractIncomingMessage
from google.protobuf.json_format import MessageToDict

from oryx_runner.infrastructure.messaging import routing
from oryx_runner.infrastructure.messaging.consumer import Decoder


async def watch(
    broker_url: str,
    exchange: str,
    *,
    out: TextIO = sys.stdout,
    decode: Decoder = routing.decode,
    ready: asyncio.Event | None = None,
    limit: int | None = None,
) -> None:
    """Print events until cancelled (or after ``limit`` of them); ``ready`` is set once the
    queue is bound, so that nothing published afterwards is missed."""
    connection = await aio_pika.connect_robust(
        broker_url, client_properties={"connection_name": "oryx watch-events"}
    )
    async with connection:
        channel = await connection.channel(publisher_confirms=False)
        amqp_exchange = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(amqp_exchange, "#")
        if ready is not None:
            ready.set()
        seen = 0
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                print(json.dumps(event_line(message, decode)), file=out, flush=True)
                seen += 1
                if limit is not None and seen >= limit:
                    return


def event_line(
    message: AbstractIncomingMessage, decode: Decoder = routing.decode
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "routing_key": message.routing_key,
        "message_id": message.message_id,
        "type": message.type,
    }
    try:
        line["message"] = MessageToDict(
            decode(message.type or "", message.body), preserving_proto_field_name=True
        )
    except ValueError as exc:
        line["error"] = str(exc)
    return line
