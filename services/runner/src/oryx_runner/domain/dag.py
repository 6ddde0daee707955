"""DAG semantics: which step runs follow a finished one, with which inputs, and the results.

- A step runs when all its parents succeeded, and sees the outputs of every upstream step.
- A step whose answer holds several output sets (``handle`` returned a list of dicts) fans
  out: each set continues the flow as its own branch.
- A step with several parents joins branches that agree: for every upstream step both sides
  share, they follow the same step run and the same output set. After a fan-out at A into
  A[0] and A[1], and B and C both after A, the step D after B and C runs twice: once for
  (B, C) of A[0], once for (B, C) of A[1], never for a mix.

Each step run carries its *context*: for every upstream step, the step run and output set
its branch follows. Planning is pure: the caller loads what it needs and writes the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oryx_runner.domain.runs import Context, OutputSets, StepRun, StepStatus, WorkflowRun
from oryx_runner.domain.workflows import StepSpec, Value, WorkflowSnapshot


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    step: StepSpec
    context: Context
    branch_key: str


def branch_key(step_id: str, picks: Mapping[str, tuple[str, int]]) -> str:
    """A short, stable name for the branch a step run follows (its parents' picks)."""
    text = step_id + "|" + "|".join(f"{p}={sr}:{i}" for p, (sr, i) in sorted(picks.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _merge(left: Context, right: Context) -> Context | None:
    merged = dict(left)
    for step_id, pick in right.items():
        known = merged.get(step_id)
        if known is None:
            merged[step_id] = pick
        elif known != pick:
            return None
    return merged


def plan_children(
    *, snapshot: WorkflowSnapshot, finished: StepRun, candidates: Iterable[StepRun]
) -> list[PlannedStep]:
    """The step runs that can start now that ``finished`` succeeded.

    ``candidates``: the succeeded step runs of the run for the *other* parents of the
    finished step's children (see ``other_parents``); ``finished`` itself may be among them.
    Each planned step run has a ``branch_key`` unique in its run, so planning twice is safe.
    """
    if finished.status is not StepStatus.SUCCEEDED or not finished.outputs:
        return []
    by_step: dict[str, list[StepRun]] = {}
    for step_run in candidates:
        if step_run.status is StepStatus.SUCCEEDED and step_run.id != finished.id:
            by_step.setdefault(step_run.step_id, []).append(step_run)
    planned: list[PlannedStep] = []
    for child in snapshot.children(finished.step_id):
        for index in range(len(finished.outputs)):
            pick = (finished.id, index)
            start = _merge(finished.context, {finished.step_id: pick})
            assert start is not None  # a step run's context never names its own step
            partials: list[tuple[Context, dict[str, tuple[str, int]]]] = [
                (start, {finished.step_id: pick})
            ]
            for parent in child.parents:
                if parent == finished.step_id:
                    continue
                grown = []
                for context, picks in partials:
                    for other in by_step.get(parent, []):
                        for j in range(len(other.outputs or [])):
                            merged = _merge(context, {**other.context, parent: (other.id, j)})
                            if merged is not None:
                                grown.append((merged, {**picks, parent: (other.id, j)}))
                partials = grown
            for context, picks in partials:
                planned.append(
                    PlannedStep(
                        step=child, context=context, branch_key=branch_key(child.step_id, picks)
                    )
                )
    return planned


def other_parents(snapshot: WorkflowSnapshot, step_id: str) -> set[str]:
    """The parents, besides ``step_id``, of the steps that follow ``step_id``."""
    return {p for child in snapshot.children(step_id) for p in child.parents if p != step_id}


def needed_outputs(planned: Sequence[PlannedStep]) -> set[str]:
    """The step runs whose outputs the planned steps' inputs read."""
    needed: set[str] = set()
    for item in planned:
        for binding in item.step.bindings:
            if binding.source is not None and binding.source.step_id in item.context:
                needed.add(item.context[binding.source.step_id][0])
    return needed


def resolve_inputs(
    step: StepSpec, context: Context, outputs_of: Mapping[str, OutputSets]
) -> dict[str, Value]:
    """The values of ``step``'s bound inputs on the branch ``context``. An output an
    upstream step did not give (an optional one) is None; the action's default then applies."""
    values: dict[str, Value] = {}
    for binding in step.bindings:
        if binding.source is None:
            values[binding.input] = binding.value
            continue
        pick = context.get(binding.source.step_id)
        if pick is None:
            values[binding.input] = None
            continue
        step_run_id, index = pick
        sets = outputs_of.get(step_run_id) or []
        values[binding.input] = (
            sets[index].get(binding.source.output) if index < len(sets) else None
        )
    return values


def collect_results(snapshot: WorkflowSnapshot, succeeded: Iterable[StepRun]) -> dict[str, Any]:
    """The run's result: for each result spec, the output of its step. When the step ran on
    several branches (after a fan-out), the list of its values, in the order they ran."""
    by_step: dict[str, list[StepRun]] = {}
    for step_run in sorted(succeeded, key=lambda s: (s.submitted_at, s.id)):
        by_step.setdefault(step_run.step_id, []).append(step_run)
    result: dict[str, Any] = {}
    for spec in snapshot.results:
        values = [
            values.get(spec.source.output)
            for step_run in by_step.get(spec.source.step_id, [])
            for values in step_run.outputs or []
        ]
        result[spec.key] = values[0] if len(values) == 1 else (values or None)
    return result


def start_run(
    *,
    snapshot: WorkflowSnapshot,
    run: WorkflowRun,
    trigger_outputs: dict[str, Value],
    new_id: Callable[[], str],
    at: datetime,
) -> list[StepRun]:
    """The step runs of a new run: the trigger's (done, holding ``trigger_outputs``) and
    those that follow it. A workflow with nothing after its trigger succeeds at once."""
    trigger = StepRun.trigger(
        step_run_id=new_id(),
        run_id=run.id,
        step_id=snapshot.trigger.step_id,
        outputs=trigger_outputs,
        at=at,
    )
    steps = [trigger]
    outputs = {trigger.id: trigger.outputs or []}
    for item in plan_children(snapshot=snapshot, finished=trigger, candidates=()):
        steps.append(
            StepRun.ready(
                step_run_id=new_id(),
                run_id=run.id,
                step_id=item.step.step_id,
                branch_key=item.branch_key,
                context=item.context,
                inputs=resolve_inputs(item.step, item.context, outputs),
                at=at,
            )
        )
    if len(steps) == 1:
        run.succeed(result=collect_results(snapshot, steps), at=at)
    return steps
