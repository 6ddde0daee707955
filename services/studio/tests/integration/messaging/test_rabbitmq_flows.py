"""The studio's messages on a real RabbitMQ (random exchange and queue names) and PostgreSQL:
ActionPublished in -> the library; deploy -> DeploymentRequested out, decoded and checked;
DeploymentStatusChanged in -> the workflow's status; ProjectDeleted in -> clean up."""

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aio_pika
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from oryx_studio.application.workflows import AddStep, CreateWorkflow
from oryx_studio.config import Settings
from oryx_studio.domain.graph import StaticInput, StepOutput
from oryx_studio.domain.workflows import DeploymentStatus
from oryx_studio.infrastructure.messaging.generated.authorization.v1 import (
    events_pb2 as authorization_pb2,
)
from oryx_studio.infrastructure.messaging.generated.repository.v1 import (
    events_pb2 as repository_pb2,
)
from oryx_studio.infrastructure.messaging.generated.runner.v1 import events_pb2 as runner_pb2
from oryx_studio.infrastructure.messaging.generated.studio.v1 import (
    deployments_pb2 as studio_pb2,
)
from oryx_studio.infrastructure.security.secrets import FernetSecretBox
from oryx_studio.service import Resolved, build_container, start, stop

PROJECT = "project-mq"


@dataclass
class Running:
    container: Any
    settings: Settings
    connection: aio_pika.abc.AbstractRobustConnection
    deploy_orders: aio_pika.abc.AbstractQueue

    async def publish(self, exchange: str, key: str, message: Any) -> None:
        await self.container.broker().publish(
            exchange=exchange,
            routing_key=key,
            message_id=str(uuid.uuid4()),
            message_type=message.DESCRIPTOR.full_name,
            body=message.SerializeToString(),
        )


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not true within {within} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def running(
    sessions, database_url: str, rabbitmq_url: str, random_name: str, tmp_path
) -> AsyncIterator[Running]:
    settings = Settings(
        database_url=database_url,
        broker_url=rabbitmq_url,
        exchange=f"{random_name}.studio",
        repository_exchange=f"{random_name}.repository",
        runner_exchange=f"{random_name}.runner",
        authorization_exchange=f"{random_name}.authorization",
        queue_prefix=f"{random_name}.studio",
        outbox_poll_seconds=0.05,
    )
    resolved = Resolved(
        database_url=database_url,
        secret_key=FernetSecretBox.generate_key(),
        filestore_dir=tmp_path / "files",
    )
    container = build_container(settings, resolved)
    state = await start(container, settings)
    connection = await aio_pika.connect_robust(rabbitmq_url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "studio.deployment.#")
    try:
        yield Running(
            container=container, settings=settings, connection=connection, deploy_orders=queue
        )
    finally:
        await stop(container, state)
        cleanup = await connection.channel()
        for suffix in ("action-published", "deployment-status-changed", "project-deleted"):
            for name in (
                f"{settings.queue_prefix}.{suffix}",
                f"{settings.queue_prefix}.{suffix}.dlq",
            ):
                with contextlib.suppress(Exception):
                    await cleanup.queue_delete(name)
        for name in (
            settings.exchange,
            settings.repository_exchange,
            settings.runner_exchange,
            settings.authorization_exchange,
        ):
            with contextlib.suppress(Exception):
                await cleanup.exchange_delete(name)
        await connection.close()


def action_published(name: str, *, version: str = "1.0") -> repository_pb2.ActionPublished:
    published_at = Timestamp()
    published_at.GetCurrentTime()
    return repository_pb2.ActionPublished(
        action_id=f"repo-{name}",
        project_id=PROJECT,
        name=name,
        version=version,
        kind="processor",
        human_name=name.title(),
        description="Shouts the text",
        categories=["text"],
        type="python3",
        resources=repository_pb2.Resources(cpu=0.5, memory_bytes=128 * 1024**2, time_seconds=60),
        inputs=[
            repository_pb2.IoDefinition(name="text", human_name="Text", type="string"),
            repository_pb2.IoDefinition(
                name="times", type="integer", default_value_json=json.dumps(2)
            ),
        ],
        outputs=[repository_pb2.IoDefinition(name="text", type="string")],
        logo=b"\x89PNG\r\n\x1a\n",
        logo_media_type="image/png",
        artifact_ref=f"local:{name}-{version}",
        source_id="source-1",
        commit_sha="a" * 40,
        metadata_json=json.dumps({"apiVersion": "ryax.tech/v2.0", "spec": {"id": name}}),
        published_at=published_at,
    )


async def test_action_published_in_deployment_requested_out_status_in(running: Running) -> None:
    c, s = running.container, running.settings
    message = action_published("upper")
    for _ in range(2):  # a redelivered message is applied once
        await running.publish(s.repository_exchange, "repository.action.published.v1", message)
    await running.publish(
        s.repository_exchange,
        "repository.action.published.v1",
        action_published("upper", version="1.1"),
    )

    async def in_library() -> Any:
        page = await c.library().list(
            project_id=PROJECT, kind=None, category="text", search=None, limit=10, cursor=None
        )
        return page.items[0] if page.items and len(page.items[0].versions) == 2 else None

    action = await eventually(in_library)
    v1 = action.version("1.0")
    assert v1.artifact_ref == "local:upper-1.0" and v1.resources.memory_bytes == 128 * 1024**2
    assert v1.input("times").default == 2 and v1.input("times").has_default
    assert v1.logo.startswith(b"\x89PNG") and v1.repository_action_id == "repo-upper"

    # compose: emit-every -> upper, then deploy
    workflows = c.workflows()
    w = (await workflows.create(project_id=PROJECT, cmd=CreateWorkflow(name="Shout"))).workflow.id
    t = (
        await workflows.add_step(
            project_id=PROJECT, workflow_id=w, cmd=AddStep(action_id="builtin-emit-every")
        )
    ).step_id
    u = (
        await workflows.add_step(
            project_id=PROJECT,
            workflow_id=w,
            cmd=AddStep(action_id=action.id, action_version="1.0", after_step_id=t),
        )
    ).step_id
    await workflows.set_input(
        project_id=PROJECT, workflow_id=w, step_id=t, name="seconds", source=StaticInput(value=30)
    )
    await workflows.set_input(
        project_id=PROJECT,
        workflow_id=w,
        step_id=u,
        name="text",
        source=StepOutput(step_id=t, output="fired_at"),
    )
    view = await c.deployments().deploy(project_id=PROJECT, workflow_id=w, user_id="user-1")
    assert view.workflow.deployment.status is DeploymentStatus.DEPLOYING

    received = await running.deploy_orders.get(timeout=10, fail=False) or await eventually(
        lambda: running.deploy_orders.get(fail=False)
    )
    await received.ack()
    assert received.routing_key == "studio.deployment.requested.v1"
    assert received.type == "oryx.studio.v1.DeploymentRequested"
    order = studio_pb2.DeploymentRequested.FromString(received.body)
    assert (order.workflow_id, order.project_id, order.requested_by) == (w, PROJECT, "user-1")
    assert order.revision == view.workflow.revision and order.deployment_id
    snapshot = order.snapshot
    assert snapshot.name == "Shout" and not snapshot.HasField("endpoint")
    trigger, step = snapshot.steps
    assert (trigger.step_id, trigger.kind, trigger.builtin_trigger, trigger.artifact_ref) == (
        t,
        "source",
        "emit-every",
        "",
    )
    assert [(b.input, b.value.integer_value) for b in trigger.bindings] == [("seconds", 30)]
    assert (step.step_id, step.action_id, step.action_name, step.action_version) == (
        u,
        v1.id,
        "upper",
        "1.0",
    )
    assert step.artifact_ref == "local:upper-1.0" and list(step.parent_step_ids) == [t]
    assert step.resources.cpu == 0.5 and step.resources.memory_bytes == 128 * 1024**2
    assert not step.resources.HasField("gpu")
    bindings = {b.input: b for b in step.bindings}
    assert getattr(bindings["text"], "from").step_id == t
    assert getattr(bindings["text"], "from").output == "fired_at"
    assert bindings["times"].value.integer_value == 2  # the default, resolved
    inputs = {i.name: i for i in step.inputs}
    assert inputs["times"].default_value.integer_value == 2 and inputs["text"].type == "string"

    # the runner reports: deploying, then deployed (and an old report arrives late)
    def status(value: int, sequence: int, text: str = "") -> runner_pb2.DeploymentStatusChanged:
        return runner_pb2.DeploymentStatusChanged(
            workflow_id=w,
            project_id=PROJECT,
            deployment_id=order.deployment_id,
            revision=order.revision,
            status=value,
            message=text,
            sequence=sequence,
        )

    key = "runner.deployment.status_changed.v1"
    await running.publish(
        s.runner_exchange, key, status(runner_pb2.DeploymentStatusChanged.DEPLOYED, 2)
    )
    await running.publish(
        s.runner_exchange, key, status(runner_pb2.DeploymentStatusChanged.DEPLOYING, 1)
    )

    async def deployed() -> Any:
        got = await workflows.get(project_id=PROJECT, workflow_id=w)
        return got if got.workflow.deployment.sequence >= 2 else None

    got = await eventually(deployed)
    await asyncio.sleep(0.3)  # give the late report its chance to (wrongly) apply
    got = await workflows.get(project_id=PROJECT, workflow_id=w)
    assert got.workflow.deployment.status is DeploymentStatus.DEPLOYED
    assert got.workflow.deployment.deployed_revision == order.revision
    assert not got.workflow.differs_from_deployed

    # undeploy goes out too
    await c.deployments().undeploy(
        project_id=PROJECT, workflow_id=w, user_id="user-1", cancel_running=True
    )
    undeploy = await eventually(lambda: running.deploy_orders.get(fail=False))
    await undeploy.ack()
    assert undeploy.routing_key == "studio.deployment.undeployment_requested.v1"
    stop_order = studio_pb2.UndeploymentRequested.FromString(undeploy.body)
    assert stop_order.workflow_id == w and stop_order.cancel_running


async def test_project_deleted_and_poison_messages(running: Running) -> None:
    c, s = running.container, running.settings
    await running.publish(
        s.repository_exchange, "repository.action.published.v1", action_published("gone")
    )
    bad = action_published("bad")
    bad.kind = "Functions"  # no retry can make sense of it: dead-lettered, not retried forever
    await running.publish(s.repository_exchange, "repository.action.published.v1", bad)

    async def library_size() -> int:
        page = await c.library().list(
            project_id=PROJECT, kind=None, category=None, search=None, limit=50, cursor=None
        )
        return page.total

    await eventually(lambda: _equals(library_size, 6))
    await c.workflows().create(project_id=PROJECT, cmd=CreateWorkflow(name="Doomed"))
    await running.publish(
        s.authorization_exchange,
        "authorization.project.deleted.v1",
        authorization_pb2.ProjectDeleted(project_id=PROJECT, name="mq"),
    )
    await eventually(lambda: _equals(library_size, 5))  # the built-in triggers stay
    page = await c.workflows().list(
        project_id=PROJECT, search=None, status=None, limit=5, cursor=None
    )
    assert page.total == 0
    channel = await running.connection.channel()
    dlq = await channel.declare_queue(f"{s.queue_prefix}.action-published.dlq", passive=True)
    dead = await eventually(lambda: dlq.get(fail=False))
    await dead.ack()
    assert repository_pb2.ActionPublished.FromString(dead.body).name == "bad"


async def _equals(check: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await check() == expected
