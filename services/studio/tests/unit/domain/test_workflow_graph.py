"""The workflow aggregate's graph rules: steps, triggers, links, cycles, removal, revisions."""

import pytest

from oryx_studio.domain.errors import Conflict, InvalidValue, NotFound
from oryx_studio.domain.graph import Link, Position, Result, StaticInput, StepOutput
from oryx_studio.domain.workflows import Workflow, find_cycles, topological_order

from ...fakes import AT, builtin, io, version  # type: ignore[import-not-found]

TRIGGER = builtin("emit-every")
UPPER = version("upper", inputs=(io("text"),), outputs=(io("text"), io("length", "integer")))
SINK = version("sink", kind="publisher", inputs=(io("text", optional=True),))
CATALOG = {v.id: v for v in (TRIGGER, UPPER, SINK)}


def new_workflow() -> Workflow:
    return Workflow.create(id="w1", project_id="p1", name="Demo", description="", at=AT)


def chain() -> tuple[Workflow, str, str, str]:
    """trigger -> upper -> sink"""
    w = new_workflow()
    t = w.add_step(action=TRIGGER, after_step_id=None, name=None, position=None, at=AT)
    u = w.add_step(action=UPPER, after_step_id=t.id, name=None, position=None, at=AT)
    s = w.add_step(action=SINK, after_step_id=u.id, name=None, position=None, at=AT)
    return w, t.id, u.id, s.id


def test_steps_get_readable_unique_ids_and_links_after_their_parent() -> None:
    w, t, u, s = chain()
    assert (t, u, s) == ("emit-every", "upper", "sink")
    again = w.add_step(action=UPPER, after_step_id=t, name="Again", position=None, at=AT)
    assert again.id == "upper-2"
    assert w.links == [
        Link(from_step_id=t, to_step_id=u),
        Link(from_step_id=u, to_step_id=s),
        Link(from_step_id=t, to_step_id="upper-2"),
    ]
    assert w.trigger is not None and w.trigger.id == t
    assert w.step(u).name == "Upper"
    assert w.ancestors(s) == {t, u}


def test_every_edit_increments_the_revision() -> None:
    w = new_workflow()
    assert w.revision == 1
    t = w.add_step(action=TRIGGER, after_step_id=None, name=None, position=None, at=AT)
    w.rename(name="Other", description=None, at=AT)
    w.edit_step(step_id=t.id, position=Position(x=1, y=2), catalog=CATALOG, variables={}, at=AT)
    assert w.revision == 4
    w.rename(name=None, description=None, at=AT)  # nothing to change: no new revision
    assert w.revision == 4


def test_one_trigger_per_workflow_and_no_parent_for_it() -> None:
    w, _t, _u, _ = chain()
    with pytest.raises(Conflict) as second:
        w.add_step(action=builtin("cron"), after_step_id=None, name=None, position=None, at=AT)
    assert second.value.code == "multiple_triggers"
    w2 = new_workflow()
    first = w2.add_step(action=UPPER, after_step_id=None, name=None, position=None, at=AT)
    with pytest.raises(InvalidValue) as parent:
        w2.add_step(action=TRIGGER, after_step_id=first.id, name=None, position=None, at=AT)
    assert parent.value.code == "trigger_has_parent"


def test_add_after_an_unknown_step_is_not_found() -> None:
    w = new_workflow()
    with pytest.raises(NotFound) as caught:
        w.add_step(action=UPPER, after_step_id="nope", name=None, position=None, at=AT)
    assert caught.value.field == "after_step_id"


@pytest.mark.parametrize(
    ("links", "code", "field"),
    [
        ([("upper", "upper")], "self_link", "links[0]"),
        ([("emit-every", "upper"), ("emit-every", "upper")], "duplicate_link", "links[1]"),
        ([("upper", "emit-every")], "trigger_has_parent", "links[0].to_step_id"),
        (
            [("emit-every", "upper"), ("upper", "sink"), ("sink", "upper")],
            "cycle",
            "links",
        ),
    ],
)
def test_links_that_break_the_graph_are_refused(links, code: str, field: str) -> None:
    w, *_ = chain()
    before = (list(w.links), w.revision)
    with pytest.raises(InvalidValue) as caught:
        w.set_links(links=[Link(from_step_id=a, to_step_id=b) for a, b in links], at=AT)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert (w.links, w.revision) == before


def test_a_cycle_is_named_in_the_message() -> None:
    w, t, u, s = chain()
    w.add_step(action=UPPER, after_step_id=s, name="x", position=None, at=AT)
    links = [(t, u), (u, s), (s, "upper-2"), ("upper-2", u)]
    with pytest.raises(InvalidValue) as caught:
        w.set_links(links=[Link(from_step_id=a, to_step_id=b) for a, b in links], at=AT)
    assert "upper -> sink -> upper-2 -> upper" in caught.value.message


def test_links_to_a_step_of_another_workflow_are_not_found() -> None:
    w, t, *_ = chain()
    with pytest.raises(NotFound) as caught:
        w.set_links(links=[Link(from_step_id=t, to_step_id="elsewhere")], at=AT)
    assert caught.value.field == "links[0].to_step_id"


def test_links_can_be_replaced_and_emptied() -> None:
    w, t, u, s = chain()
    w.set_links(links=[Link(from_step_id=t, to_step_id=s)], at=AT)
    assert w.parents(s) == [t] and w.parents(u) == []
    w.set_links(links=[], at=AT)
    assert w.links == []


def test_removing_a_step_takes_its_links_and_the_references_to_it() -> None:
    w, t, u, s = chain()
    w.set_input(
        step_id=s,
        name="text",
        source=StepOutput(step_id=u, output="text"),
        catalog=CATALOG,
        variables={},
        at=AT,
    )
    w.set_results(
        results=[Result(key="out", source=StepOutput(step_id=u, output="length"))],
        catalog=CATALOG,
        at=AT,
    )
    removed = w.remove_step(step_id=u, at=AT)
    assert [(k.from_step_id, k.to_step_id) for k in removed.links] == [(t, u), (u, s)]
    assert [(i.step_id, i.input) for i in removed.inputs] == [(s, "text")]
    assert removed.results == ("out",)
    assert w.links == [] and w.results == [] and w.step(s).inputs == {}


def test_removing_the_http_trigger_removes_the_endpoint() -> None:
    from oryx_studio.domain.graph import Endpoint

    w = new_workflow()
    t = w.add_step(action=builtin("http-api"), after_step_id=None, name=None, position=None, at=AT)
    w.set_endpoint(
        endpoint=Endpoint.make(path="/items", method="post", success_code=201, timeout_seconds=5),
        at=AT,
    )
    assert w.endpoint is not None and w.endpoint.path == "items"
    assert w.copy(id="w2", name="Copy", at=AT, files={}).endpoint is None  # paths are unique
    assert w.remove_step(step_id=t.id, at=AT).endpoint is True
    assert w.endpoint is None


def test_endpoint_needs_the_http_trigger() -> None:
    from oryx_studio.domain.graph import Endpoint

    w, *_ = chain()
    with pytest.raises(Conflict) as caught:
        w.set_endpoint(
            endpoint=Endpoint.make(path="x", method="GET", success_code=200, timeout_seconds=0),
            at=AT,
        )
    assert caught.value.code == "no_http_trigger"


@pytest.mark.parametrize(
    ("path", "method", "code", "timeout", "field"),
    [
        ("", "GET", 200, 1, "path"),
        ("a b", "GET", 200, 1, "path"),
        ("a/../b", "GET", 200, 1, None),
        ("{x}/{x}", "GET", 200, 1, "path"),
        ("a/{X}", "GET", 200, 1, "path"),
        ("a", "TRACE", 200, 1, "method"),
        ("a", "GET", 204, 1, "success_code"),
        ("a", "GET", 200, -1, "timeout_seconds"),
        ("a", "GET", 200, 301, "timeout_seconds"),
        ("openapi.json", "GET", 200, 1, "path"),
        ("/docs/", "GET", 200, 1, "path"),
        ("docs/openapi.json", "GET", 200, 1, None),
    ],
)
def test_endpoint_rules(path: str, method: str, code: int, timeout: float, field) -> None:
    from oryx_studio.domain.graph import Endpoint

    if field is None:  # '..' is a valid segment in itself; the runner never resolves it
        Endpoint.make(path=path, method=method, success_code=code, timeout_seconds=timeout)
        return
    with pytest.raises(InvalidValue) as caught:
        Endpoint.make(path=path, method=method, success_code=code, timeout_seconds=timeout)
    assert caught.value.field == field


def test_endpoints_with_the_same_shape_share_a_route_key() -> None:
    from oryx_studio.domain.graph import Endpoint

    a = Endpoint.make(path="orders/{id}", method="GET", success_code=200, timeout_seconds=1)
    b = Endpoint.make(
        path="/orders/{order_id}/", method="POST", success_code=201, timeout_seconds=1
    )
    assert a.route_key == b.route_key == "orders/{}"
    assert b.parameters == ("order_id",)


def test_position_must_be_finite() -> None:
    with pytest.raises(InvalidValue):
        Position(x=float("nan"), y=0)
    with pytest.raises(InvalidValue):
        Position(x=0, y=1e12)


def test_copy_is_a_new_undeployed_workflow_with_the_same_graph() -> None:
    w, _t, u, _s = chain()
    w.set_input(
        step_id=u, name="text", source=StaticInput(value="hi"), catalog=CATALOG, variables={}, at=AT
    )
    w.deployment.deployed_revision = 3
    copy = w.copy(id="w2", name="Copy", at=AT, files={})
    assert copy.id == "w2" and copy.revision == 1
    assert copy.deployment.deployed_revision is None
    assert [s.id for s in copy.steps] == [s.id for s in w.steps]
    assert copy.step(u).inputs == {"text": StaticInput(value="hi")}
    copy.step(u).inputs.clear()
    assert w.step(u).inputs  # deep enough: editing the copy leaves the original


def test_find_cycles_reports_each_cycle_once() -> None:
    links = [
        Link(from_step_id=a, to_step_id=b)
        for a, b in [("a", "b"), ("b", "a"), ("c", "c"), ("d", "e"), ("e", "f"), ("f", "d")]
    ]
    assert find_cycles(["a", "b", "c", "d", "e", "f", "g"], links) == [
        ["a", "b"],
        ["c"],
        ["d", "e", "f"],
    ]
    assert find_cycles(["a", "b"], [Link(from_step_id="a", to_step_id="b")]) == []


def test_topological_order_puts_the_trigger_first_and_parents_before_children() -> None:
    w, t, u, s = chain()
    w.steps.reverse()  # the order of the list does not matter
    assert [step.id for step in topological_order(w.steps, w.links)] == [t, u, s]
