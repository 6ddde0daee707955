"""DAG semantics: what follows a finished step, fan-out, joins, inputs and results."""

from datetime import UTC, datetime

from oryx_runner.domain import dag
from oryx_runner.domain.runs import StepRun, WorkflowRun
from oryx_runner.domain.workflows import OutputRef, ResultSpec, WorkflowSnapshot

from ...actions import step, trigger

AT = datetime(2026, 1, 1, tzinfo=UTC)
REFS = {"append": "local:a", "join": "local:j", "fanout": "local:f"}


def done(
    step_run_id: str, step_id: str, outputs: list[dict], context: dict | None = None
) -> StepRun:
    s = StepRun.ready(
        step_run_id=step_run_id, run_id="r", step_id=step_id, branch_key=step_run_id,
        context=context or {}, inputs={}, at=AT,
    )  # fmt: skip
    s.start(runner_id="me", at=AT)
    s.succeed(outputs=outputs, at=AT)
    return s


def diamond() -> WorkflowSnapshot:
    """trigger -> A (fanout) -> B, C -> D (join of B and C)"""
    return WorkflowSnapshot(
        name="diamond",
        steps=(
            trigger(),
            step("a", "fanout", REFS, after=("trigger",), bind={"text": ("trigger", "text")}),
            step("b", "append", REFS, after=("a",), bind={"text": ("a", "text")}),
            step("c", "append", REFS, after=("a",), bind={"text": ("a", "text"), "suffix": "!"}),
            step(
                "d",
                "join",
                REFS,
                after=("b", "c"),
                bind={"left": ("b", "text"), "right": ("c", "text")},
            ),
        ),
        results=(ResultSpec(key="joined", source=OutputRef(step_id="d", output="text")),),
    )


def test_a_new_run_starts_with_its_trigger_done_and_the_next_steps_ready() -> None:
    snapshot = diamond()
    run = WorkflowRun.create(
        run_id="r", project_id="p", workflow_id="w", deployment_id="d", trigger="manual",
        requested_by="", at=AT,
    )  # fmt: skip
    ids = iter(f"sr{i}" for i in range(10))
    steps = dag.start_run(
        snapshot=snapshot, run=run, trigger_outputs={"text": "hi"}, new_id=lambda: next(ids), at=AT
    )
    assert [(s.step_id, s.status.value) for s in steps] == [
        ("trigger", "succeeded"),
        ("a", "ready"),
    ]
    assert steps[1].inputs == {"text": "hi"}
    assert steps[1].context == {"trigger": ("sr0", 0)}


def test_a_fan_out_opens_one_branch_per_output_set() -> None:
    snapshot = diamond()
    trig = done("t", "trigger", [{"text": "x"}])
    a = done("a1", "a", [{"text": "x#0"}, {"text": "x#1"}, {"text": "x#2"}], {"trigger": ("t", 0)})
    planned = dag.plan_children(snapshot=snapshot, finished=a, candidates=[trig, a])
    assert sorted((p.step.step_id, p.context["a"][1]) for p in planned) == [
        ("b", 0), ("b", 1), ("b", 2), ("c", 0), ("c", 1), ("c", 2)
    ]  # fmt: skip
    keys = {p.branch_key for p in planned}
    assert len(keys) == 6
    b1 = next(p for p in planned if p.step.step_id == "b" and p.context["a"][1] == 1)
    assert dag.resolve_inputs(b1.step, b1.context, {a.id: a.outputs or []}) == {"text": "x#1"}


def test_a_join_waits_for_every_parent_and_never_mixes_branches() -> None:
    snapshot = diamond()
    done("a1", "a", [{"text": "0"}, {"text": "1"}], {"trigger": ("t", 0)})
    b0 = done("b0", "b", [{"text": "0+"}], {"trigger": ("t", 0), "a": ("a1", 0)})
    b1 = done("b1", "b", [{"text": "1+"}], {"trigger": ("t", 0), "a": ("a1", 1)})
    # C of branch 0 not done yet: D of branch 0 must wait
    assert dag.plan_children(snapshot=snapshot, finished=b0, candidates=[b0, b1]) == []
    c0 = done("c0", "c", [{"text": "0!"}], {"trigger": ("t", 0), "a": ("a1", 0)})
    planned = dag.plan_children(snapshot=snapshot, finished=c0, candidates=[b0, b1])
    assert len(planned) == 1
    (d,) = planned
    assert d.context["b"] == ("b0", 0) and d.context["c"] == ("c0", 0)
    inputs = dag.resolve_inputs(d.step, d.context, {"b0": b0.outputs or [], "c0": c0.outputs or []})
    assert inputs == {"left": "0+", "right": "0!"}
    assert dag.needed_outputs(planned) == {"b0", "c0"}
    # planning again names the same branch: the unique key makes it happen once
    again = dag.plan_children(snapshot=snapshot, finished=c0, candidates=[b0, b1])
    assert again[0].branch_key == d.branch_key


def test_a_step_that_returns_no_set_ends_its_branch() -> None:
    snapshot = diamond()
    a = done("a1", "a", [], {"trigger": ("t", 0)})
    assert dag.plan_children(snapshot=snapshot, finished=a, candidates=[]) == []


def test_results_take_one_value_or_the_list_of_every_branch() -> None:
    snapshot = diamond()
    d0 = done("d0", "d", [{"text": "first"}])
    assert dag.collect_results(snapshot, [d0]) == {"joined": "first"}
    d1 = done("d1", "d", [{"text": "second"}])
    assert dag.collect_results(snapshot, [d0, d1]) == {"joined": ["first", "second"]}
    assert dag.collect_results(snapshot, []) == {"joined": None}


def test_a_workflow_with_only_a_trigger_succeeds_at_once() -> None:
    snapshot = WorkflowSnapshot(name="t", steps=(trigger(),))
    run = WorkflowRun.create(
        run_id="r", project_id="p", workflow_id="w", deployment_id="d", trigger="manual",
        requested_by="", at=AT,
    )  # fmt: skip
    steps = dag.start_run(
        snapshot=snapshot, run=run, trigger_outputs={"text": "x"}, new_id=lambda: "t", at=AT
    )
    assert len(steps) == 1 and run.status.value == "succeeded"
