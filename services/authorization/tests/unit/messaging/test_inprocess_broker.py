"""The in-process broker keeps the port's at-least-once semantics (see broker.py)."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from oryx_authorization.infrastructure.messaging.broker import PoisonMessage, ReceivedMessage
from oryx_authorization.infrastructure.messaging.inprocess import InProcessBroker, topic_matches

EXCHANGE = "oryx.test"


@pytest.fixture
async def broker() -> AsyncIterator[InProcessBroker]:
    broker = InProcessBroker(max_deliveries=3, retry_delay=0)
    await broker.start()
    yield broker
    await broker.close()


async def publish(broker: InProcessBroker, routing_key: str, message_id: str) -> None:
    await broker.publish(
        exchange=EXCHANGE,
        routing_key=routing_key,
        message_id=message_id,
        message_type="test.Message",
        body=message_id.encode(),
    )


class Recorder:
    """A handler that records what it got and fails on demand."""

    def __init__(self, *, failures: int = 0, poison: bool = False) -> None:
        self.received: list[ReceivedMessage] = []
        self.failures = failures
        self.poison = poison

    async def __call__(self, message: ReceivedMessage) -> None:
        self.received.append(message)
        if self.poison:
            raise PoisonMessage("cannot decode")
        if self.failures:
            self.failures -= 1
            raise RuntimeError("transient failure")

    @property
    def ids(self) -> list[str]:
        return [m.message_id for m in self.received]


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("authorization.user.deleted.v1", "authorization.user.deleted.v1", True),
        ("authorization.user.deleted.v1", "authorization.user.created.v1", False),
        ("authorization.*.deleted.v1", "authorization.project.deleted.v1", True),
        ("authorization.*.deleted.v1", "authorization.project.member.deleted.v1", False),
        ("authorization.#", "authorization.user.deleted.v1", True),
        ("authorization.#", "authorization", True),
        ("#", "anything.at.all", True),
        ("#.v1", "authorization.user.deleted.v1", True),
        ("#.v1", "authorization.user.deleted.v2", False),
        ("authorization.#.v1", "authorization.v1", True),
        ("*", "one", True),
        ("*", "one.two", False),
        ("authorization.*", "authorization", False),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


async def test_routes_by_topic_with_wildcards(broker: InProcessBroker) -> None:
    exact, deleted, everything = Recorder(), Recorder(), Recorder()
    await broker.consume(
        queue="exact",
        exchange=EXCHANGE,
        routing_keys=["authorization.user.deleted.v1"],
        handler=exact,
    )
    await broker.consume(
        queue="deleted",
        exchange=EXCHANGE,
        routing_keys=["authorization.*.deleted.v1"],
        handler=deleted,
    )
    await broker.consume(
        queue="everything",
        exchange=EXCHANGE,
        # Two matching bindings still deliver one copy, as in AMQP.
        routing_keys=["authorization.#", "#.v1"],
        handler=everything,
    )

    await publish(broker, "authorization.user.deleted.v1", "1")
    await publish(broker, "authorization.project.deleted.v1", "2")
    await publish(broker, "authorization.project.member_removed.v1", "3")
    await publish(broker, "studio.workflow.deployed.v2", "4")
    await broker.join()

    assert exact.ids == ["1"]
    assert deleted.ids == ["1", "2"]
    assert everything.ids == ["1", "2", "3"]
    assert exact.received[0].body == b"1"
    assert exact.received[0].message_type == "test.Message"
    assert exact.received[0].routing_key == "authorization.user.deleted.v1"


async def test_declared_queue_keeps_messages_until_a_consumer_attaches(
    broker: InProcessBroker,
) -> None:
    await publish(broker, "a.b", "before-declaration")  # routed nowhere: dropped
    await broker.declare_queue(queue="late", exchange=EXCHANGE, routing_keys=["a.*"])
    await publish(broker, "a.b", "waiting")
    assert broker.pending("late") == 1

    late = Recorder()
    await broker.consume(queue="late", exchange=EXCHANGE, routing_keys=["a.*"], handler=late)
    await broker.join()

    assert late.ids == ["waiting"]
    assert broker.pending("late") == 0


async def test_redelivers_when_the_handler_raises(broker: InProcessBroker) -> None:
    flaky = Recorder(failures=2)
    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=flaky)

    await publish(broker, "k", "m1")
    await broker.join()

    assert flaky.ids == ["m1", "m1", "m1"]
    assert [m.delivery_count for m in flaky.received] == [1, 2, 3]
    assert [m.redelivered for m in flaky.received] == [False, True, True]
    assert broker.dead_letters("q") == []


async def test_dead_letters_after_max_deliveries_and_goes_on(broker: InProcessBroker) -> None:
    failing = Recorder(failures=3)  # max_deliveries is 3
    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=failing)

    await publish(broker, "k", "doomed")
    await publish(broker, "k", "next")
    await broker.join()

    assert failing.ids == ["doomed", "doomed", "doomed", "next"]
    [dead] = broker.dead_letters("q")
    assert dead.message_id == "doomed"
    assert dead.delivery_count == 3


async def test_dead_letters_a_poison_message_at_once(broker: InProcessBroker) -> None:
    poisoned = Recorder(poison=True)
    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=poisoned)

    await publish(broker, "k", "garbage")
    await broker.join()

    assert poisoned.ids == ["garbage"]
    assert [m.message_id for m in broker.dead_letters("q")] == ["garbage"]


async def test_handles_one_message_at_a_time_in_order(broker: InProcessBroker) -> None:
    running = 0
    most_running = 0
    order: list[str] = []

    async def slow(message: ReceivedMessage) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        await asyncio.sleep(0.001 * (int(message.message_id) % 3))
        order.append(message.message_id)
        running -= 1
        if message.message_id == "7" and message.delivery_count == 1:
            raise RuntimeError("retried before the messages behind it")

    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=slow)
    for i in range(20):
        await publish(broker, "k", str(i))
    await broker.join()

    expected = [str(i) for i in range(20)]
    expected.insert(8, "7")
    assert order == expected
    assert most_running == 1


async def test_close_lets_the_handler_in_progress_finish(broker: InProcessBroker) -> None:
    started = asyncio.Event()
    handled: list[str] = []

    async def slow(message: ReceivedMessage) -> None:
        started.set()
        await asyncio.sleep(0.05)
        handled.append(message.message_id)

    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=slow)
    await publish(broker, "k", "m1")
    await publish(broker, "k", "m2")
    await started.wait()
    await broker.close()

    assert handled == ["m1"]
    assert broker.pending("q") == 1  # m2 was not taken
    with pytest.raises(RuntimeError, match="closed"):
        await publish(broker, "k", "m3")


async def test_close_cancels_a_handler_that_outlives_the_grace_and_keeps_its_message() -> None:
    broker = InProcessBroker(shutdown_grace=0.05)
    await broker.start()
    started = asyncio.Event()

    async def hangs(message: ReceivedMessage) -> None:
        started.set()
        await asyncio.Event().wait()

    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=hangs)
    await publish(broker, "k", "m1")
    await started.wait()
    await broker.close()

    assert broker.pending("q") == 1


async def test_one_consumer_per_queue(broker: InProcessBroker) -> None:
    await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=Recorder())
    with pytest.raises(ValueError, match="already has a consumer"):
        await broker.consume(queue="q", exchange=EXCHANGE, routing_keys=["#"], handler=Recorder())


async def test_refuses_to_work_before_start() -> None:
    broker = InProcessBroker()
    with pytest.raises(RuntimeError, match="not started"):
        await publish(broker, "k", "m1")
