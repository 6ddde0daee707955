"""The two consumers of the builder and their topology.

- ``<prefix>.build-requested`` (bound to ``repository.build.requested.v1``), prefetch 1: one
  request at a time; the others wait in the queue. The request is acknowledged when its
  handler returns, which is after ``BuildFinished`` was confirmed by the broker. A failure to
  report, or the service stopping mid-build, raises: the request is delivered again.
- ``<prefix>.build-cancelled`` (bound to ``repository.build.cancelled.v1``), on a channel of
  its own, so cancels are handled while a build runs. Acknowledged once recorded.

There is no inbox: the builder keeps no state. A redelivered request is built again (quick, the
artifact being content-addressed) and reported again with the same message ids.
"""

import logging
from dataclasses import dataclass

from oryx_action_builder.application.builds import CancelBuild, RunBuild
from oryx_action_builder.infrastructure.messaging import routing
from oryx_action_builder.infrastructure.messaging.broker import (
    Broker,
    PoisonMessage,
    ReceivedMessage,
)
from oryx_action_builder.infrastructure.messaging.generated.repository.v1 import events_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Topology:
    repository_exchange: str = "oryx.repository"
    """Where the requests and cancels come from (the repository service owns it)."""
    exchange: str = "oryx.action_builder"
    """Where the builder's events go (it owns it)."""
    queue_prefix: str = "action_builder"

    @property
    def requests_queue(self) -> str:
        return f"{self.queue_prefix}.build-requested"

    @property
    def cancels_queue(self) -> str:
        return f"{self.queue_prefix}.build-cancelled"


def _decode(received: ReceivedMessage, expected: str) -> object:
    if received.message_type != expected:
        raise PoisonMessage(f"expected {expected}, got {received.message_type!r}")
    try:
        return routing.decode(received.message_type, received.body)
    except ValueError as exc:
        raise PoisonMessage(str(exc)) from exc


class BuildRequestedHandler:
    def __init__(self, run_build: RunBuild) -> None:
        self._run_build = run_build

    async def __call__(self, received: ReceivedMessage) -> None:
        message = _decode(received, routing.BUILD_REQUESTED_TYPE)
        assert isinstance(message, events_pb2.BuildRequested)
        try:
            request = routing.build_request(message)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        if received.redelivered:
            log.info(
                "build %s delivered again (delivery %d)", request.build_id, received.delivery_count
            )
        await self._run_build(request)


class BuildCancelledHandler:
    def __init__(self, cancel_build: CancelBuild) -> None:
        self._cancel_build = cancel_build

    async def __call__(self, received: ReceivedMessage) -> None:
        message = _decode(received, routing.BUILD_CANCELLED_TYPE)
        assert isinstance(message, events_pb2.BuildCancelled)
        if not message.build_id:
            raise PoisonMessage("BuildCancelled without a build_id")
        await self._cancel_build(message.build_id)


async def attach(
    broker: Broker, *, topology: Topology, run_build: RunBuild, cancel_build: CancelBuild
) -> None:
    """Declare the builder's exchange and queues and start both consumers (cancels first)."""
    await broker.declare_exchange(topology.exchange)
    await broker.consume(
        queue=topology.cancels_queue,
        exchange=topology.repository_exchange,
        routing_keys=[routing.BUILD_CANCELLED],
        handler=BuildCancelledHandler(cancel_build),
    )
    await broker.consume(
        queue=topology.requests_queue,
        exchange=topology.repository_exchange,
        routing_keys=[routing.BUILD_REQUESTED],
        handler=BuildRequestedHandler(run_build),
        prefetch=1,
    )
