"""The studio's use cases on fakes: library, workflows, deploy orders, variables, documents."""

from dataclasses import replace

import pytest

from oryx_studio.application.deployments import DeploymentReports, Deployments
from oryx_studio.application.documents import (
    DocFile,
    DocStep,
    Documents,
    DocVariable,
    MissingDependencies,
    WorkflowDocument,
    to_document,
)
from oryx_studio.application.library import Library, PublishedAction
from oryx_studio.application.projects import Projects
from oryx_studio.application.variables import (
    ChangeVariable,
    CreateVariable,
    UploadedFile,
    Variables,
)
from oryx_studio.application.workflows import AddStep, CreateWorkflow, EditStep, Workflows
from oryx_studio.domain.errors import Conflict, InUse, InvalidValue, NotFound
from oryx_studio.domain.events import DeploymentRequested
from oryx_studio.domain.graph import Link, StaticInput, StepOutput, VariableInput
from oryx_studio.domain.library import ActionKind, builtin_action_id
from oryx_studio.domain.variables import VariableType
from oryx_studio.domain.workflows import DeploymentStatus, WorkflowInvalid

from ...fakes import (  # type: ignore[import-not-found]
    AT,
    FakeClock,
    InMemoryDatabase,
    InMemoryFilestore,
    InMemoryUnitOfWork,
    SequentialIds,
    io,
)

P1, P2 = "project-1", "project-2"


def published(name: str, *, project: str = P1, version: str = "1.0", **extra) -> PublishedAction:  # type: ignore[no-untyped-def]
    fields = {
        "kind": ActionKind.PROCESSOR,
        "inputs": (io("text"), io("doc", "file", optional=True)),
        "outputs": (io("text"),),
        "categories": ("text",),
        "artifact_ref": f"local:{name}-{version}",
        **extra,
    }
    return PublishedAction(
        project_id=project,
        repository_action_id=f"repo-{name}",
        name=name,
        version=version,
        human_name=name.title(),
        published_at=AT,
        **fields,
    )


class World:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        self.files = InMemoryFilestore()
        clock, ids = FakeClock(), SequentialIds()

        def uow() -> InMemoryUnitOfWork:
            return InMemoryUnitOfWork(self.db)

        self.uow = uow
        self.library = Library(uow=uow, clock=clock, ids=ids)
        common = {"uow": uow, "filestore": self.files, "clock": clock, "ids": ids}
        self.workflows = Workflows(**common, max_file_bytes=1000)
        self.documents = Documents(**common, max_file_bytes=1000)
        self.variables = Variables(**common, max_file_bytes=1000)
        self.deployments = Deployments(uow=uow, clock=clock, ids=ids)
        self.reports = DeploymentReports()
        self.projects = Projects(filestore=self.files)

    async def publish(self, item: PublishedAction) -> str:
        async with self.uow() as uow:
            version = await self.library.publish(uow, item)
            await uow.commit()
        return version.action_id

    async def composed(self, project: str = P1) -> tuple[str, str, str]:
        """emit-every -> upper, upper's text from the trigger: a valid workflow."""
        upper = await self.publish(published("upper", project=project))
        view = await self.workflows.create(project_id=project, cmd=CreateWorkflow(name="Demo"))
        w = view.workflow.id
        t = (
            await self.workflows.add_step(
                project_id=project,
                workflow_id=w,
                cmd=AddStep(action_id=builtin_action_id("emit-every")),
            )
        ).step_id
        u = (
            await self.workflows.add_step(
                project_id=project, workflow_id=w, cmd=AddStep(action_id=upper, after_step_id=t)
            )
        ).step_id
        assert t and u
        await self.workflows.set_input(
            project_id=project,
            workflow_id=w,
            step_id=t,
            name="seconds",
            source=StaticInput(value=10),
        )
        await self.workflows.set_input(
            project_id=project,
            workflow_id=w,
            step_id=u,
            name="text",
            source=StepOutput(step_id=t, output="fired_at"),
        )
        return w, t, u


@pytest.fixture
async def world() -> World:
    w = World()
    await w.library.install_builtins()
    return w


async def test_published_actions_upsert_their_versions(world: World) -> None:
    action_id = await world.publish(published("echo"))
    assert await world.publish(published("echo", artifact_ref="local:rebuilt")) == action_id
    await world.publish(published("echo", version="2.0"))
    action = await world.library.get(project_id=P1, action_id=action_id)
    assert [v.version for v in action.versions] == ["1.0", "2.0"]
    assert action.version("1.0").artifact_ref == "local:rebuilt"
    with pytest.raises(NotFound):  # another project does not see it
        await world.library.get(project_id=P2, action_id=action_id)
    page = await world.library.list(
        project_id=P1, kind=None, category=None, search=None, limit=50, cursor=None
    )
    assert page.total == 6  # echo and the five built-in triggers
    sources = await world.library.list(
        project_id=P2,
        kind=ActionKind.SOURCE,
        category="Triggers",
        search=None,
        limit=50,
        cursor=None,
    )
    assert sources.total == 5


async def test_install_builtins_twice_changes_nothing(world: World) -> None:
    before = dict(world.db.actions)
    await world.library.install_builtins()
    assert world.db.actions == before


async def test_deleting_an_action_in_use_names_the_workflows(world: World) -> None:
    w, _, _ = await world.composed()
    upper = next(a for a in world.db.actions.values() if a.name == "upper")
    with pytest.raises(InUse) as caught:
        await world.library.delete(project_id=P1, action_id=upper.id)
    assert [u.workflow_id for u in caught.value.used_by] == [w]
    assert "Demo" in caught.value.message
    with pytest.raises(Conflict):
        await world.library.delete(project_id=P1, action_id=builtin_action_id("cron"))
    unused = await world.publish(published("spare"))
    await world.library.delete(project_id=P1, action_id=unused)
    assert unused not in world.db.actions


async def test_logo_of_the_latest_version(world: World) -> None:
    action_id = await world.publish(
        published("pretty", logo=b"\x89PNG...", logo_media_type="image/png")
    )
    assert await world.library.logo(project_id=P1, action_id=action_id, version=None) == (
        b"\x89PNG...",
        "image/png",
    )
    plain = await world.publish(published("plain"))
    with pytest.raises(NotFound):
        await world.library.logo(project_id=P1, action_id=plain, version=None)


async def test_add_step_with_a_version_the_action_lacks(world: World) -> None:
    action_id = await world.publish(published("upper"))
    view = await world.workflows.create(project_id=P1, cmd=CreateWorkflow(name="W"))
    with pytest.raises(NotFound) as caught:
        await world.workflows.add_step(
            project_id=P1,
            workflow_id=view.workflow.id,
            cmd=AddStep(action_id=action_id, action_version="9.9"),
        )
    assert caught.value.field == "action_version"
    other = await world.publish(published("other", project=P2))
    with pytest.raises(NotFound):  # an action of another project
        await world.workflows.add_step(
            project_id=P1, workflow_id=view.workflow.id, cmd=AddStep(action_id=other)
        )


async def test_replace_version_through_the_use_case(world: World) -> None:
    w, _t, u = await world.composed()
    await world.publish(published("upper", version="2.0", inputs=(io("other"),)))
    view = await world.workflows.edit_step(
        project_id=P1, workflow_id=w, step_id=u, cmd=EditStep(action_version="2.0")
    )
    assert [(i.step_id, i.input) for i in view.removed.inputs] == [(u, "text")]
    assert [i.code for i in view.issues] == ["required_input_missing"]
    with pytest.raises(NotFound):
        await world.workflows.edit_step(
            project_id=P1, workflow_id=w, step_id=u, cmd=EditStep(action_version="3.0")
        )


async def test_file_inputs_are_stored_and_copied_with_the_workflow(world: World) -> None:
    w, _t, u = await world.composed()
    view = await world.workflows.upload_input_file(
        project_id=P1,
        workflow_id=w,
        step_id=u,
        name="doc",
        file_name="../../etc/x.txt",
        data=b"abc",
    )
    value = view.workflow.step(u).inputs["doc"]
    assert isinstance(value, StaticInput)
    assert value.value.name == "x.txt" and value.value.size_bytes == 3
    assert value.value.key.startswith(f"projects/{P1}/studio/workflows/{w}/files/")
    assert world.files.objects[value.value.key] == b"abc"
    with pytest.raises(InvalidValue):  # over the limit
        await world.workflows.upload_input_file(
            project_id=P1, workflow_id=w, step_id=u, name="doc", file_name="big", data=b"x" * 1001
        )
    with pytest.raises(InvalidValue):  # not a file input
        await world.workflows.upload_input_file(
            project_id=P1, workflow_id=w, step_id=u, name="text", file_name="a", data=b"a"
        )
    copy = await world.workflows.create(
        project_id=P1, cmd=CreateWorkflow(name="Copy", from_workflow_id=w)
    )
    copied = copy.workflow.step(u).inputs["doc"]
    assert copied.value.key != value.value.key
    assert world.files.objects[copied.value.key] == b"abc"
    await world.workflows.delete(project_id=P1, workflow_id=w, user_id="me")
    assert value.value.key not in world.files.objects
    assert copied.value.key in world.files.objects  # the copy keeps its own


async def test_deploy_emits_and_reports_update_the_status(world: World) -> None:
    w, t, u = await world.composed()
    view = await world.deployments.deploy(project_id=P1, workflow_id=w, user_id="alice")
    assert view.workflow.deployment.status is DeploymentStatus.DEPLOYING
    (event,) = world.db.published
    assert isinstance(event, DeploymentRequested)
    assert [s.step_id for s in event.snapshot.steps] == [t, u]
    assert event.requested_by == "alice" and event.project_id == P1
    async with world.uow() as uow:
        applied = await world.reports.status_changed(
            uow,
            workflow_id=w,
            project_id=P1,
            deployment_id=event.deployment_id,
            revision=event.revision,
            status=DeploymentStatus.DEPLOYED,
            message="",
            sequence=1,
            changed_at=AT,
        )
        ignored = await world.reports.status_changed(
            uow,
            workflow_id=w,
            project_id=P2,
            deployment_id="x",
            revision=1,
            status=DeploymentStatus.ERROR,
            message="",
            sequence=5,
            changed_at=AT,
        )
        await uow.commit()
    assert applied and not ignored  # a report naming another project is dropped
    got = await world.workflows.get(project_id=P1, workflow_id=w)
    assert got.workflow.deployment.status is DeploymentStatus.DEPLOYED
    with pytest.raises(Conflict):
        await world.workflows.delete(project_id=P1, workflow_id=w, user_id="alice")
    await world.deployments.undeploy(
        project_id=P1, workflow_id=w, user_id="alice", cancel_running=False
    )
    assert len(world.db.published) == 2


async def test_deploy_refused_with_the_errors(world: World) -> None:
    view = await world.workflows.create(project_id=P1, cmd=CreateWorkflow(name="Empty"))
    with pytest.raises(WorkflowInvalid) as caught:
        await world.deployments.deploy(project_id=P1, workflow_id=view.workflow.id, user_id="u")
    assert [i.code for i in caught.value.issues] == ["no_trigger"]
    assert world.db.published == []


async def test_variables_crud_and_in_use(world: World) -> None:
    secret = await world.variables.create(
        project_id=P1,
        cmd=CreateVariable(name="token", type=VariableType.PASSWORD, value="s3cret"),
    )
    with pytest.raises(Conflict) as taken:
        await world.variables.create(
            project_id=P1, cmd=CreateVariable(name="token", type=VariableType.STRING, value="x")
        )
    assert taken.value.code == "name_taken"
    other = await world.variables.create(  # another project may use the name
        project_id=P2, cmd=CreateVariable(name="token", type=VariableType.STRING, value="x")
    )
    assert other.id != secret.id
    file = await world.variables.create(
        project_id=P1,
        cmd=CreateVariable(
            name="data", type=VariableType.FILE, file=UploadedFile(name="d.csv", data=b"1,2")
        ),
    )
    assert world.files.objects[file.file.key] == b"1,2"
    changed = await world.variables.change(
        project_id=P1, variable_id=secret.id, cmd=ChangeVariable(description="api key")
    )
    assert changed.value == "s3cret"
    w, _t, u = await world.composed()
    await world.workflows.set_input(
        project_id=P1,
        workflow_id=w,
        step_id=u,
        name="text",
        source=VariableInput(variable_id=secret.id),
    )
    with pytest.raises(InUse):
        await world.variables.delete(project_id=P1, variable_id=secret.id)
    await world.variables.delete(project_id=P1, variable_id=file.id)
    assert file.file.key not in world.files.objects
    with pytest.raises(NotFound):
        await world.variables.get(project_id=P2, variable_id=secret.id)


# documents ----------------------------------------------------------------------------------


async def test_export_then_import_into_another_project_gives_an_equal_workflow(
    world: World,
) -> None:
    w, _t, u = await world.composed()
    var = await world.variables.create(
        project_id=P1, cmd=CreateVariable(name="greeting", type=VariableType.STRING, value="hi")
    )
    await world.workflows.upload_input_file(
        project_id=P1, workflow_id=w, step_id=u, name="doc", file_name="a.txt", data=b"abc"
    )
    sink = await world.publish(published("sink", kind=ActionKind.PUBLISHER))
    s = (
        await world.workflows.add_step(
            project_id=P1, workflow_id=w, cmd=AddStep(action_id=sink, after_step_id=u)
        )
    ).step_id
    await world.workflows.set_input(
        project_id=P1,
        workflow_id=w,
        step_id=s,
        name="text",
        source=VariableInput(variable_id=var.id),
    )
    exported = await world.documents.export(project_id=P1, workflow_id=w, with_files=True)
    assert exported.files == {f"files/{u}/doc/a.txt": b"abc"}

    with pytest.raises(MissingDependencies) as caught:  # P2 has none of it yet
        await world.documents.import_document(
            project_id=P2, document=as_document(exported.document), files=exported.files
        )
    assert {(m.kind, m.name) for m in caught.value.missing} == {
        ("action", "upper"),
        ("action", "sink"),
        ("variable", "greeting"),
    }
    await world.publish(published("upper", project=P2))
    await world.publish(published("sink", project=P2, kind=ActionKind.PUBLISHER))
    await world.variables.create(
        project_id=P2, cmd=CreateVariable(name="greeting", type=VariableType.STRING, value="hey")
    )
    view = await world.documents.import_document(
        project_id=P2, document=as_document(exported.document), files=exported.files
    )
    imported = view.workflow
    assert imported.project_id == P2 and imported.id != w and imported.revision == 1
    again = await world.documents.export(project_id=P2, workflow_id=imported.id, with_files=True)
    assert again.document == exported.document
    assert again.files == exported.files
    assert view.issues == []


def as_document(doc: dict) -> WorkflowDocument:
    """What the API's parser makes of an exported document (kept small on purpose)."""

    def source(data: dict):  # type: ignore[no-untyped-def]
        if "from" in data:
            return StepOutput(**data["from"])
        if "variable" in data:
            return DocVariable(name=data["variable"])
        if "file" in data:
            return DocFile(path=data["file"])
        return StaticInput(value=data["value"])

    spec = doc["spec"]
    return WorkflowDocument(
        name=doc["metadata"]["name"],
        description=doc["metadata"].get("description", ""),
        steps=tuple(
            DocStep(
                id=s["id"],
                name=s["name"],
                action=s["action"],
                version=s["version"],
                builtin=s.get("builtin", False),
                inputs={k: source(v) for k, v in s.get("inputs", {}).items()},
            )
            for s in spec["steps"]
        ),
        links=tuple(Link(**k) for k in spec["links"]),
    )


async def test_replace_by_a_document_keeps_the_files_it_names(world: World) -> None:
    w, _t, u = await world.composed()
    await world.workflows.upload_input_file(
        project_id=P1, workflow_id=w, step_id=u, name="doc", file_name="a.txt", data=b"abc"
    )
    before = await world.workflows.get(project_id=P1, workflow_id=w)
    revision, inputs = before.workflow.revision, dict(before.workflow.step(u).inputs)
    document = to_document(before.workflow, variable_names={})
    document["metadata"]["name"] = "Renamed"
    view = await world.documents.replace(
        project_id=P1, workflow_id=w, document=as_document(document)
    )
    assert view.workflow.name == "Renamed"
    assert view.workflow.step(u).inputs == inputs
    assert view.workflow.revision == revision + 1
    missing_file = replace(
        as_document(document),
        steps=tuple(
            replace(s, inputs={**s.inputs, "doc": DocFile(path="files/x/doc/other.txt")})
            if s.id == u
            else s
            for s in as_document(document).steps
        ),
    )
    with pytest.raises(MissingDependencies) as caught:
        await world.documents.replace(project_id=P1, workflow_id=w, document=missing_file)
    assert [(m.kind, m.name) for m in caught.value.missing] == [("file", "files/x/doc/other.txt")]


async def test_project_deleted_cleans_everything_of_that_project(world: World) -> None:
    w, _t, u = await world.composed()
    await world.workflows.upload_input_file(
        project_id=P1, workflow_id=w, step_id=u, name="doc", file_name="a.txt", data=b"abc"
    )
    await world.composed(project=P2)
    async with world.uow() as uow:
        await world.projects.deleted(uow, project_id=P1)
        await uow.commit()
    assert all(x.project_id != P1 for x in world.db.workflows.values())
    assert all(a.project_id != P1 for a in world.db.actions.values())
    assert not any(k.startswith(f"projects/{P1}/") for k in world.files.objects)
    assert any(w.project_id == P2 for w in world.db.workflows.values())
    assert len([a for a in world.db.actions.values() if a.builtin]) == 5
