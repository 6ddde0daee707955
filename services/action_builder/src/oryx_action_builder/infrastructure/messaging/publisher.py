"""The ``EventPublisher`` port on a broker: publish with confirms, return once confirmed."""

from oryx_action_builder.domain.events import Event
from oryx_action_builder.infrastructure.messaging.broker import Publisher
from oryx_action_builder.infrastructure.messaging.routing import serialize


class BrokerEventPublisher:
    def __init__(self, broker: Publisher, *, exchange: str) -> None:
        self._broker = broker
        self._exchange = exchange

    async def publish(self, event: Event) -> None:
        message = serialize(event)
        await self._broker.publish(
            exchange=self._exchange,
            routing_key=message.routing_key,
            message_id=message.message_id,
            message_type=message.message_type,
            body=message.payload,
        )
