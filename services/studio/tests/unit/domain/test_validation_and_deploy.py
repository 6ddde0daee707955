"""Every validation code, the deploy snapshot, and the deployment status the runner reports."""

from dataclasses import replace

import pytest

from oryx_studio.domain.errors import Conflict
from oryx_studio.domain.events import DeploymentRequested, UndeploymentRequested
from oryx_studio.domain.graph import (
    Endpoint,
    Link,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
)
from oryx_studio.domain.types import FileValue
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import (
    DeploymentStatus,
    Graph,
    GraphStep,
    Workflow,
    WorkflowInvalid,
)

from ...fakes import AT, builtin, io, version  # type: ignore[import-not-found]

TRIGGER = builtin("emit-every")
UPPER = version(
    "upper",
    inputs=(io("text"), io("times", "integer", has_default=True, default=1)),
    outputs=(io("text"), io("length", "integer")),
)
SINK = version(
    "sink", kind="publisher", inputs=(io("text", optional=True), io("doc", "file", optional=True))
)
CATALOG = {v.id: v for v in (TRIGGER, UPPER, SINK)}


def valid() -> tuple[Workflow, str, str, str]:
    w = Workflow.create(id="w1", project_id="p1", name="Demo", description="d", at=AT)
    t = w.add_step(action=TRIGGER, after_step_id=None, name=None, position=None, at=AT).id
    u = w.add_step(action=UPPER, after_step_id=t, name=None, position=None, at=AT).id
    s = w.add_step(action=SINK, after_step_id=u, name=None, position=None, at=AT).id
    w.set_input(
        step_id=t, name="seconds", source=StaticInput(value=5), catalog=CATALOG, variables={}, at=AT
    )
    w.set_input(
        step_id=u,
        name="text",
        source=StepOutput(step_id=t, output="fired_at"),
        catalog=CATALOG,
        variables={},
        at=AT,
    )
    w.set_input(
        step_id=s,
        name="text",
        source=StepOutput(step_id=u, output="text"),
        catalog=CATALOG,
        variables={},
        at=AT,
    )
    return w, t, u, s


def codes(w: Workflow, catalog=CATALOG, variables=None) -> list[tuple[str, str | None, str | None]]:  # type: ignore[no-untyped-def]
    return [
        (i.code, i.step_id, i.field) for i in w.validate(catalog=catalog, variables=variables or {})
    ]


def graph_of(steps, links=(), results=(), endpoint=None) -> Graph:  # type: ignore[no-untyped-def]
    return Graph(
        steps=tuple(GraphStep(id=i, name=i, action=a, inputs=inputs) for i, a, inputs in steps),
        links=tuple(Link(from_step_id=a, to_step_id=b) for a, b in links),
        results=tuple(results),
        endpoint=endpoint,
    )


def test_a_complete_workflow_has_no_errors() -> None:
    w, *_ = valid()
    assert codes(w) == []


def test_no_trigger() -> None:
    w = Workflow.create(id="w", project_id="p", name="Empty", description="", at=AT)
    assert codes(w) == [("no_trigger", None, None)]


def test_multiple_triggers_and_trigger_with_a_parent_from_a_document() -> None:
    w = Workflow.create(id="w", project_id="p", name="Two", description="", at=AT)
    cron = builtin("cron")
    w.replace_graph(
        graph=graph_of(
            [
                ("a", TRIGGER, {"seconds": StaticInput(value=1)}),
                ("b", cron, {"cron": StaticInput(value="* * * * *")}),
            ],
            links=[("a", "b")],
        ),
        name="Two",
        description="",
        at=AT,
    )
    assert codes(w, {**CATALOG, cron.id: cron}) == [
        ("multiple_triggers", "b", None),
        ("trigger_has_parent", "b", "links"),
    ]


def test_cycle_from_a_document() -> None:
    w = Workflow.create(id="w", project_id="p", name="Loop", description="", at=AT)
    upper = {"text": StaticInput(value="x")}
    w.replace_graph(
        graph=graph_of(
            [
                ("t", TRIGGER, {"seconds": StaticInput(value=1)}),
                ("a", UPPER, upper),
                ("b", UPPER, upper),
                ("c", UPPER, upper),
            ],
            links=[("t", "a"), ("a", "b"), ("b", "a"), ("c", "c")],
        ),
        name="Loop",
        description="",
        at=AT,
    )
    issues = w.validate(catalog=CATALOG, variables={})
    assert [(i.code, i.step_id) for i in issues] == [
        ("cycle", "a"),
        ("cycle", "c"),
        ("unreachable_step", "c"),
    ]
    assert "a -> b -> a" in issues[0].message


def test_required_input_missing_but_defaults_and_optionals_are_fine() -> None:
    w, t, u, _s = valid()
    w.unset_input(step_id=u, name="text", catalog=CATALOG, at=AT)
    w.unset_input(step_id=t, name="seconds", catalog=CATALOG, at=AT)
    assert codes(w) == [
        ("required_input_missing", t, "inputs.seconds"),
        ("required_input_missing", u, "inputs.text"),
    ]  # upper's times has a default, sink's inputs are optional


def test_type_mismatch_when_the_library_changed_under_a_value() -> None:
    w, _t, u, _s = valid()
    w.set_input(
        step_id=u, name="times", source=StaticInput(value=3), catalog=CATALOG, variables={}, at=AT
    )
    republished = replace(UPPER, inputs=(io("text", "integer"), io("times", "boolean")))
    issues = codes(w, {**CATALOG, UPPER.id: republished})
    assert issues == [("type_mismatch", u, "inputs.text"), ("type_mismatch", u, "inputs.times")]


def test_dangling_references_to_outputs_and_variables() -> None:
    w, _t, u, s = valid()
    secret = Variable.create(
        id="v1",
        project_id="p1",
        name="k",
        type=VariableType.STRING,
        description="",
        value="x",
        file=None,
        at=AT,
    )
    w.set_input(
        step_id=u,
        name="text",
        source=VariableInput(variable_id="v1"),
        catalog=CATALOG,
        variables={"v1": secret},
        at=AT,
    )
    w.set_results(
        results=[Result(key="len", source=StepOutput(step_id=u, output="length"))],
        catalog=CATALOG,
        at=AT,
    )
    without_outputs = replace(UPPER, outputs=())
    issues = codes(w, {**CATALOG, UPPER.id: without_outputs}, variables={})
    assert issues == [
        ("dangling_reference", u, "inputs.text"),
        ("dangling_reference", s, "inputs.text"),
        ("dangling_reference", u, "results.len"),
    ]


def test_unknown_action_version_when_it_left_the_library() -> None:
    w, _t, u, _s = valid()
    catalog = {k: v for k, v in CATALOG.items() if k != UPPER.id}
    assert codes(w, catalog) == [("unknown_action_version", u, "action_version")]


def test_not_upstream_after_a_link_was_removed() -> None:
    w, t, u, s = valid()
    w.set_links(
        links=[Link(from_step_id=t, to_step_id=u), Link(from_step_id=t, to_step_id=s)], at=AT
    )
    assert codes(w) == [("not_upstream", s, "inputs.text")]


def test_unreachable_step() -> None:
    w, t, u, s = valid()
    w.set_links(links=[Link(from_step_id=t, to_step_id=u)], at=AT)
    w.unset_input(step_id=s, name="text", catalog=CATALOG, at=AT)
    assert codes(w) == [("unreachable_step", s, None)]


def test_unknown_input_and_unexpected_dynamic_outputs_after_a_library_change() -> None:
    w, _t, u, _s = valid()
    w.set_input(
        step_id=u, name="times", source=StaticInput(value=2), catalog=CATALOG, variables={}, at=AT
    )
    narrower = replace(UPPER, inputs=(io("text"),))
    assert codes(w, {**CATALOG, UPPER.id: narrower}) == [("unknown_input", u, "inputs.times")]


def test_endpoint_missing_and_path_mismatch() -> None:
    http = builtin("http-api")
    catalog = {**CATALOG, http.id: http}
    w = Workflow.create(id="w", project_id="p", name="Api", description="", at=AT)
    t = w.add_step(action=http, after_step_id=None, name=None, position=None, at=AT).id
    assert codes(w, catalog) == [("endpoint_missing", t, "endpoint")]
    w.edit_step(
        step_id=t, dynamic_outputs=[io("id", origin="path")], catalog=catalog, variables={}, at=AT
    )
    w.set_endpoint(
        endpoint=Endpoint.make(
            path="items/{key}", method="GET", success_code=200, timeout_seconds=1
        ),
        at=AT,
    )
    assert codes(w, catalog) == [
        ("endpoint_path_mismatch", t, "endpoint.path"),
        ("endpoint_path_mismatch", t, "endpoint.path"),
    ]
    w.set_endpoint(
        endpoint=Endpoint.make(
            path="items/{id}", method="GET", success_code=200, timeout_seconds=1
        ),
        at=AT,
    )
    assert codes(w, catalog) == []


# deploy -------------------------------------------------------------------------------------


def test_deploy_is_refused_with_the_errors() -> None:
    w, _t, u, _s = valid()
    w.unset_input(step_id=u, name="text", catalog=CATALOG, at=AT)
    with pytest.raises(WorkflowInvalid) as caught:
        w.request_deployment(
            deployment_id="d1", catalog=CATALOG, variables={}, requested_by="me", at=AT
        )
    assert [i.code for i in caught.value.issues] == ["required_input_missing"]
    assert caught.value.code == "workflow_invalid"
    assert w.events == [] and w.deployment.status is DeploymentStatus.UNDEPLOYED


def test_deploy_emits_the_snapshot() -> None:
    w, t, u, s = valid()
    key = Variable.create(
        id="v1",
        project_id="p1",
        name="key",
        type=VariableType.PASSWORD,
        description="",
        value="s3cret",
        file=None,
        at=AT,
    )
    doc = FileValue(key="projects/p1/workflows/w1/files/f1/a.txt", name="a.txt", size_bytes=3)
    w.set_input(
        step_id=u,
        name="text",
        source=VariableInput(variable_id="v1"),
        catalog=CATALOG,
        variables={"v1": key},
        at=AT,
    )
    w.set_input(
        step_id=s, name="doc", source=StaticInput(value=doc), catalog=CATALOG, variables={}, at=AT
    )
    w.set_results(
        results=[Result(key="len", source=StepOutput(step_id=u, output="length"))],
        catalog=CATALOG,
        at=AT,
    )
    w.request_deployment(
        deployment_id="d1", catalog=CATALOG, variables={"v1": key}, requested_by="me", at=AT
    )
    (event,) = w.events
    assert isinstance(event, DeploymentRequested)
    assert (event.deployment_id, event.revision, event.requested_by) == ("d1", w.revision, "me")
    snapshot = event.snapshot
    assert [x.step_id for x in snapshot.steps] == [t, u, s]
    trigger, upper, sink = snapshot.steps
    assert trigger.builtin_trigger == "emit-every" and trigger.artifact_ref == ""
    assert upper.artifact_ref == "local:upper-1.0" and upper.kind == "processor"
    assert upper.parent_step_ids == (t,)
    assert upper.resources.memory_bytes == 64 * 1024**2
    bindings = {b.input: b for b in upper.bindings}
    assert bindings["text"].value == "s3cret"  # the variable, resolved
    assert bindings["times"].value == 1  # the default, explicit
    sink_bindings = {b.input: b for b in sink.bindings}
    assert sink_bindings["text"].source == StepOutput(step_id=u, output="text")
    assert sink_bindings["doc"].value == doc
    assert snapshot.results == (Result(key="len", source=StepOutput(step_id=u, output="length")),)
    assert snapshot.endpoint is None
    assert w.deployment.status is DeploymentStatus.DEPLOYING
    assert w.deployment.requested_revision == w.revision


def test_reports_keep_the_highest_sequence_and_show_drift() -> None:
    w, *_ = valid()
    w.request_deployment(
        deployment_id="d1", catalog=CATALOG, variables={}, requested_by="me", at=AT
    )
    revision = w.revision
    assert not w.differs_from_deployed
    w.rename(name="Edited while deploying", description=None, at=AT)
    assert w.differs_from_deployed
    w.revision = revision  # as if that edit had not happened

    def report(status: DeploymentStatus, sequence: int, message: str = "") -> bool:
        return w.deployment_reported(
            status=status,
            message=message,
            deployment_id="d1",
            revision=revision,
            sequence=sequence,
            at=AT,
        )

    assert report(DeploymentStatus.DEPLOYED, 2)
    assert not report(DeploymentStatus.DEPLOYING, 1)  # older, arrived late
    assert not report(DeploymentStatus.ERROR, 2)  # a duplicate
    assert w.deployment.status is DeploymentStatus.DEPLOYED
    assert w.deployment.deployed_revision == revision and not w.differs_from_deployed
    w.rename(name="Edited", description=None, at=AT)
    assert w.differs_from_deployed
    assert report(DeploymentStatus.ERROR, 3, "the site is down")
    assert w.deployment.message == "the site is down"
    assert report(DeploymentStatus.UNDEPLOYED, 4)
    assert w.deployment.deployed_revision is None and not w.differs_from_deployed


def test_undeploy_and_delete_rules() -> None:
    w, *_ = valid()
    with pytest.raises(Conflict) as not_deployed:
        w.request_undeployment(cancel_running=False, requested_by="me", at=AT)
    assert not_deployed.value.code == "not_deployed"
    w.request_deployment(
        deployment_id="d1", catalog=CATALOG, variables={}, requested_by="me", at=AT
    )
    with pytest.raises(Conflict) as deployed:
        w.delete(requested_by="me", at=AT)
    assert deployed.value.code == "workflow_deployed"
    w.events.clear()
    w.request_undeployment(cancel_running=True, requested_by="me", at=AT)
    (event,) = w.events
    assert isinstance(event, UndeploymentRequested) and event.cancel_running
    assert w.deployment.status is DeploymentStatus.UNDEPLOYING
    w.deployment_reported(
        status=DeploymentStatus.ERROR,
        message="x",
        deployment_id="d1",
        revision=1,
        sequence=9,
        at=AT,
    )
    w.events.clear()
    w.delete(requested_by="me", at=AT)  # in error: allowed, and the runner is told to undeploy
    assert [type(e) for e in w.events] == [UndeploymentRequested]


def test_snapshot_of_an_http_workflow_holds_its_endpoint() -> None:
    http = builtin("http-api")
    catalog = {**CATALOG, http.id: http}
    w = Workflow.create(id="w", project_id="p", name="Api", description="", at=AT)
    t = w.add_step(action=http, after_step_id=None, name=None, position=None, at=AT).id
    w.edit_step(
        step_id=t,
        dynamic_outputs=[io("name", origin="query")],
        catalog=catalog,
        variables={},
        at=AT,
    )
    endpoint = Endpoint.make(path="hello", method="GET", success_code=200, timeout_seconds=10)
    w.set_endpoint(endpoint=endpoint, at=AT)
    w.request_deployment(deployment_id="d", catalog=catalog, variables={}, requested_by="u", at=AT)
    (event,) = w.events
    assert event.snapshot.endpoint == endpoint
    (step,) = event.snapshot.steps
    assert [(o.name, o.origin) for o in step.outputs] == [("name", "query")]
