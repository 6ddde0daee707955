"""Mappers and repositories on the real PostgreSQL: every aggregate goes in and comes back
equal, changes are tracked, built-ins are seen by every project, the outbox gets the events."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from oryx_studio.domain.errors import Conflict
from oryx_studio.domain.graph import (
    Endpoint,
    Link,
    Position,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
)
from oryx_studio.domain.library import Action, ActionKind, builtin_actions
from oryx_studio.domain.types import FileValue
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import DeploymentStatus, Workflow
from oryx_studio.infrastructure.database.tables import outbox
from oryx_studio.infrastructure.database.uow import SqlAlchemyUnitOfWork
from oryx_studio.infrastructure.messaging import routing
from oryx_studio.infrastructure.security.clock import SystemClock, Uuid7Generator
from oryx_studio.infrastructure.security.secrets import FernetSecretBox

from ...fakes import AT, builtin, io, version  # type: ignore[import-not-found]

BOX = FernetSecretBox(FernetSecretBox.generate_key())


@pytest.fixture
def uow(sessions):  # type: ignore[no-untyped-def]
    def make() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            sessions,
            box=BOX,
            exchange="oryx.studio",
            serialize=routing.serialize,
            ids=Uuid7Generator(),
            clock=SystemClock(),
        )

    return make


def full_action() -> Action:
    v1 = replace(
        version(
            "upper",
            inputs=(
                io("text", help="h", human_name="Text"),
                io("n", "integer", has_default=True, default=3),
                io("color", "enum", enum_values=("a", "b"), optional=True),
            ),
            outputs=(io("text"), io("doc", "file")),
        ),
        id="v1",
        action_id="a1",
        categories=("text", "demo"),
        logo=b"\x89PNG\r\n",
        logo_media_type="image/png",
        metadata={"spec": {"id": "upper", "nested": [1, 2.5, None]}},
        published_at=datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=UTC),
    )
    v2 = replace(v1, id="v2", version="2.0", logo=b"", logo_media_type="")
    return Action(
        id="a1",
        project_id="p1",
        name="upper",
        builtin=False,
        versions=[v1, v2],
        created_at=AT,
        updated_at=AT,
    )


async def test_action_round_trip_and_version_changes(uow) -> None:  # type: ignore[no-untyped-def]
    action = full_action()
    async with uow() as u:
        u.actions.add(action)
        await u.commit()
    async with uow() as u:
        loaded = await u.actions.get(project_id="p1", action_id="a1")
        assert loaded == action
        assert await u.actions.get(project_id="p2", action_id="a1") is None
        # change one version, drop one, add one
        loaded.versions = [
            replace(action.versions[0], artifact_ref="local:rebuilt"),
            replace(action.versions[0], id="v3", version="3.0"),
        ]
        await u.commit()
    async with uow() as u:
        again = await u.actions.get(project_id="p1", action_id="a1")
        assert [(v.id, v.artifact_ref) for v in again.versions] == [
            ("v1", "local:rebuilt"),
            ("v3", "local:upper-1.0"),
        ]
        catalog = await u.actions.versions(project_id="p1", version_ids=["v1", "v3", "nope"])
        assert set(catalog) == {"v1", "v3"} and catalog["v1"].name == "upper"
        assert await u.actions.versions(project_id="p2", version_ids=["v1"]) == {}


async def test_builtins_are_visible_to_every_project_and_filters_work(uow) -> None:  # type: ignore[no-untyped-def]
    async with uow() as u:
        for action in builtin_actions():
            u.actions.add(action)
        u.actions.add(full_action())
        await u.commit()
    async with uow() as u:
        page = await u.actions.page(
            project_id="p2", kind=None, category=None, search=None, limit=50, cursor=None
        )
        assert page.total == 5
        cron = await u.actions.get(project_id="p9", action_id="builtin-cron")
        assert cron == next(a for a in builtin_actions() if a.name == "cron")
        mine = await u.actions.page(
            project_id="p1",
            kind=ActionKind.PROCESSOR,
            category="demo",
            search="UPP",
            limit=50,
            cursor=None,
        )
        assert [a.id for a in mine.items] == ["a1"]
        for pattern in ("%", "_", "\\"):
            none = await u.actions.page(
                project_id="p1", kind=None, category=None, search=pattern, limit=50, cursor=None
            )
            assert none.total == 0, pattern
        first = await u.actions.page(
            project_id="p1", kind=None, category=None, search=None, limit=4, cursor=None
        )
        rest = await u.actions.page(
            project_id="p1",
            kind=None,
            category=None,
            search=None,
            limit=4,
            cursor=first.next_cursor,
        )
        assert first.total == 6 and len(first.items) == 4 and len(rest.items) == 2
        assert rest.next_cursor is None


def rich_workflow() -> Workflow:
    upper = version(
        "upper", inputs=(io("text"), io("n", "integer"), io("doc", "file")), outputs=(io("text"),)
    )
    http = builtin("http-api")
    catalog = {upper.id: upper, http.id: http}
    w = Workflow.create(id="w1", project_id="p1", name="Rich «ü» 🦄", description="d\nd", at=AT)
    t = w.add_step(
        action=http, after_step_id=None, name=None, position=Position(x=1.5, y=-2), at=AT
    )
    u = w.add_step(action=upper, after_step_id=t.id, name="Up", position=None, at=AT)
    w.edit_step(
        step_id=t.id,
        dynamic_outputs=[io("who", origin="query", help="h")],
        catalog=catalog,
        variables={},
        at=AT,
    )
    w.set_input(
        step_id=u.id,
        name="text",
        source=StepOutput(step_id=t.id, output="who"),
        catalog=catalog,
        variables={},
        at=AT,
    )
    w.set_input(
        step_id=u.id,
        name="n",
        source=StaticInput(value=2**62),
        catalog=catalog,
        variables={},
        at=AT,
    )
    w.step(u.id).inputs["doc"] = StaticInput(
        value=FileValue(key="k/a.txt", name="a.txt", size_bytes=3)
    )
    w.step(u.id).inputs["other"] = VariableInput(variable_id="var1")
    w.set_results(
        results=[Result(key="out", source=StepOutput(step_id=u.id, output="text"))],
        catalog=catalog,
        at=AT,
    )
    w.set_endpoint(
        endpoint=Endpoint.make(
            path="hello/{who}", method="PUT", success_code=201, timeout_seconds=2.5
        ),
        at=AT,
    )
    w.deployment_reported(
        status=DeploymentStatus.DEPLOYED,
        message="ok",
        deployment_id="d1",
        revision=3,
        sequence=7,
        at=AT,
    )
    return w


async def test_workflow_round_trip_and_queries(uow) -> None:  # type: ignore[no-untyped-def]
    workflow = rich_workflow()
    async with uow() as u:
        u.workflows.add(workflow)
        await u.commit()
    async with uow() as u:
        loaded = await u.workflows.get(project_id="p1", workflow_id="w1")
        assert loaded == workflow
        assert await u.workflows.get(project_id="p2", workflow_id="w1") is None
        used = await u.workflows.using_action(project_id="p1", action_id="action-upper")
        assert [x.workflow_id for x in used] == ["w1"]
        assert await u.workflows.using_action(project_id="p2", action_id="action-upper") == []
        assert [
            x.workflow_name
            for x in await u.workflows.using_variable(project_id="p1", variable_id="var1")
        ] == [workflow.name]
        assert await u.workflows.with_endpoint(project_id="p1", route_key="hello/{}")
        deployed = await u.workflows.page(
            project_id="p1",
            search="rich",
            status=DeploymentStatus.DEPLOYED,
            limit=10,
            cursor=None,
        )
        assert deployed.total == 1
        loaded.set_links(links=[Link(from_step_id="http-api", to_step_id="upper")], at=AT)
        await u.commit()
    async with uow() as u:
        assert (
            await u.workflows.get(project_id="p1", workflow_id="w1")
        ).revision == workflow.revision + 1


async def test_endpoint_paths_are_unique_in_a_project(uow) -> None:  # type: ignore[no-untyped-def]
    async with uow() as u:
        u.workflows.add(rich_workflow())
        await u.commit()
    other = replace(rich_workflow(), id="w2")
    async with uow() as u:
        u.workflows.add(other)
        with pytest.raises(Conflict):
            await u.commit()
    async with uow() as u:
        u.workflows.add(replace(rich_workflow(), id="w3", project_id="p2"))
        await u.commit()  # another project may


async def test_variables_round_trip_with_the_password_encrypted(uow, sessions) -> None:  # type: ignore[no-untyped-def]
    made = [
        Variable.create(
            id=f"v-{kind}",
            project_id="p1",
            name=f"n_{kind}",
            type=VariableType(kind),
            description="d",
            value=None if kind == "file" else "s3cret",
            file=FileValue(key="k", name="f.csv", size_bytes=9) if kind == "file" else None,
            at=AT,
        )
        for kind in ("string", "password", "file")
    ]
    async with uow() as u:
        for v in made:
            u.variables.add(v)
        await u.commit()
    async with sessions() as session:
        from oryx_studio.infrastructure.database.tables import variables

        rows = {r.type: r for r in await session.execute(select(variables))}
    assert rows["password"].value is None and b"s3cret" not in rows["password"].secret_encrypted
    assert rows["string"].value == "s3cret"
    async with uow() as u:
        loaded = await u.variables.many(project_id="p1", ids=[v.id for v in made])
        assert [loaded[v.id] for v in made] == made
        assert await u.variables.by_name(project_id="p1", name="n_password") == made[1]
        assert await u.variables.many(project_id="p2", ids=[v.id for v in made]) == {}


async def test_deploy_events_go_to_the_outbox_in_the_same_transaction(uow, sessions) -> None:  # type: ignore[no-untyped-def]
    trigger = builtin("one-run")
    w = Workflow.create(id="w1", project_id="p1", name="Once", description="", at=AT)
    w.add_step(action=trigger, after_step_id=None, name=None, position=None, at=AT)
    async with uow() as u:
        u.workflows.add(w)
        await u.commit()
    async with uow() as u:
        loaded = await u.workflows.get(project_id="p1", workflow_id="w1")
        loaded.request_deployment(
            deployment_id="d1",
            catalog={trigger.id: trigger},
            variables={},
            requested_by="me",
            at=AT,
        )
        await u.commit()
    async with sessions() as session:
        rows = list(await session.execute(select(outbox)))
        assert await session.scalar(select(func.count()).select_from(outbox)) == 1
    (row,) = rows
    assert row.routing_key == "studio.deployment.requested.v1"
    message = routing.decode(row.message_type, row.payload)
    assert message.workflow_id == "w1" and message.snapshot.steps[0].builtin_trigger == "one-run"
