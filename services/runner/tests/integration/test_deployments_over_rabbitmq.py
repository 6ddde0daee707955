"""Deploy orders in and deployment statuses out, over a real RabbitMQ (randomly named
exchanges and queues), through the inbox and the outbox."""

from __future__ import annotations

import asyncio
import secrets

import aio_pika
import pytest

from oryx_runner.infrastructure.messaging import routing
from oryx_runner.infrastructure.messaging.generated.runner.v1 import events_pb2 as runner_pb2

from ..actions import chain, deployment_message, undeployment_message
from .harness import running_runner

STATUS = runner_pb2.DeploymentStatusChanged


@pytest.fixture
async def broker_runner(rabbitmq_url, artifacts, random_name, tmp_path):  # type: ignore[no-untyped-def]
    root, _ = artifacts
    async with running_runner(
        artifacts_dir=root,
        work=tmp_path,
        broker_url=rabbitmq_url,
        exchange=f"{random_name}.runner",
        studio_exchange=f"{random_name}.studio",
        authorization_exchange=f"{random_name}.authorization",
        queue_prefix=f"{random_name}.runner",
    ) as harness:
        yield harness


async def test_orders_in_statuses_out(broker_runner, rabbitmq_url, artifacts, random_name) -> None:
    _, refs = artifacts
    connection = await aio_pika.connect_robust(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        studio = await channel.declare_exchange(
            f"{random_name}.studio", aio_pika.ExchangeType.TOPIC, durable=True
        )
        runner_exchange = await channel.declare_exchange(
            f"{random_name}.runner", aio_pika.ExchangeType.TOPIC, durable=True
        )
        statuses = await channel.declare_queue(exclusive=True, auto_delete=True)
        await statuses.bind(runner_exchange, routing.STATUS_CHANGED)
        received: asyncio.Queue[runner_pb2.DeploymentStatusChanged] = asyncio.Queue()

        async def on_status(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                assert message.type == "oryx.runner.v1.DeploymentStatusChanged"
                event = runner_pb2.DeploymentStatusChanged()
                event.ParseFromString(message.body)
                await received.put(event)

        await statuses.consume(on_status)

        async def send(key: str, kind: str, body: bytes, message_id: str) -> None:
            await studio.publish(
                aio_pika.Message(
                    body,
                    message_id=message_id,
                    type=kind,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=key,
            )

        async def next_status() -> runner_pb2.DeploymentStatusChanged:
            return await asyncio.wait_for(received.get(), timeout=30)

        workflow = f"wf-{secrets.token_hex(4)}"
        order = deployment_message(
            chain(refs, length=2),
            deployment_id="dep-1",
            workflow_id=workflow,
            project_id="p-rmq",
            revision=7,
        )
        await send(
            routing.DEPLOYMENT_REQUESTED, "oryx.studio.v1.DeploymentRequested", order, "order-1"
        )
        first = await next_status()
        assert (first.status, first.sequence, first.deployment_id, first.revision) == (
            STATUS.DEPLOYING,
            1,
            "dep-1",
            7,
        )
        second = await next_status()
        assert (second.status, second.sequence, second.workflow_id, second.project_id) == (
            STATUS.DEPLOYED, 2, workflow, "p-rmq"
        )  # fmt: skip
        # the same message again (a redelivery): applied once
        await send(
            routing.DEPLOYMENT_REQUESTED, "oryx.studio.v1.DeploymentRequested", order, "order-1"
        )
        # a run, then undeploy with cancel_running
        run_id = await broker_runner.start(workflow, project_id="p-rmq", text="x")
        await broker_runner.wait(run_id, project_id="p-rmq")
        undeploy = undeployment_message(workflow_id=workflow, project_id="p-rmq")
        await send(
            routing.UNDEPLOYMENT_REQUESTED,
            "oryx.studio.v1.UndeploymentRequested",
            undeploy,
            "order-2",
        )
        third, fourth = await next_status(), await next_status()
        assert [(e.status, e.sequence) for e in (third, fourth)] == [
            (STATUS.UNDEPLOYING, 3),
            (STATUS.UNDEPLOYED, 4),
        ]
        # an undecodable order goes to the dead-letter queue; nothing else moves
        await send(
            routing.DEPLOYMENT_REQUESTED,
            "oryx.studio.v1.DeploymentRequested",
            b"\xff\x00garbage",
            "order-3",
        )
        dlq = await channel.declare_queue(
            f"{random_name}.runner.deployment-orders.dlq",
            durable=True,
            arguments={"x-queue-type": "quorum"},
        )
        for _ in range(100):
            message = await dlq.get(fail=False)
            if message is not None:
                await message.ack()
                assert message.message_id == "order-3"
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the poison message was not dead-lettered")
        assert received.empty()
        # a broken snapshot is an error status, not a poison message
        broken = deployment_message(
            chain(refs, length=1), deployment_id="dep-2", workflow_id=workflow, project_id="p-rmq"
        )
        from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2

        message = deployments_pb2.DeploymentRequested()
        message.ParseFromString(broken)
        message.snapshot.steps[1].inputs[0].type = "blob"
        await send(
            routing.DEPLOYMENT_REQUESTED,
            "oryx.studio.v1.DeploymentRequested",
            message.SerializeToString(),
            "order-4",
        )
        fifth, sixth = await next_status(), await next_status()
        assert (fifth.status, sixth.status) == (STATUS.DEPLOYING, STATUS.ERROR)
        assert "blob" in sixth.message and sixth.sequence == 6
