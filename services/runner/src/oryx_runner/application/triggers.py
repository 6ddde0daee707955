"""Triggers: what starts runs of a deployed workflow.

The built-in triggers (docs/reference/builtin-triggers.md) are implemented by the runner
itself, with no process per trigger:

- ``manual``: ``POST /runner/workflows/{id}/runs`` with the typed values the workflow defines
  as the trigger's outputs (``Runs.start_manual``). Any deployed workflow can also be started
  by hand this way: the values asked for are its trigger's outputs (``fired_at`` of timing
  triggers is filled in).
- ``one-run``: fires once per deployment, in the transaction that marks it deployed.
- ``cron`` and ``emit-every`` (``triggers_timing.py``), and users' own sources run by the
  wrapper (``triggers_sources.py``): ``TriggerDriver``s. In every runner process the
  ``TriggerSupervisor`` (``triggers_supervisor.py``) keeps one driver task per workflow
  deployed with such a trigger, and each fire goes through ``TriggerRuns.fire``
  (``triggers_firing.py``): one transaction that checks the deployment is still the
  deployed one, records the fire (once per fire key: ``trigger_fires``) and starts the run.

Kinds that fire through something else (``http-api``: the user APIs) are registered as
*handled*, so that their deployments do not say they cannot fire.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from oryx_runner.application.ports import FileRecord
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.runs import RunError
from oryx_runner.domain.workflows import (
    BuiltinTrigger,
    IoSpec,
    IoType,
    StepSpec,
    Value,
)

FIRED_AT = "fired_at"
TIMED = frozenset({BuiltinTrigger.CRON, BuiltinTrigger.EMIT_EVERY, BuiltinTrigger.ONE_RUN})


@dataclass(frozen=True, kw_only=True)
class Firing:
    """One fire of a trigger: the run to start, with the trigger's outputs."""

    values: Mapping[str, Value] = field(default_factory=dict)
    fire_key: str = ""
    """When set, the deployment fires at most once for this key, whatever the number of
    runner processes and restarts (a timing trigger's scheduled time)."""
    scheduled_at: datetime | None = None
    """When the fire was due; also the ``fired_at`` output of timing triggers."""
    run_id: str = ""
    """The run's id, when chosen before (files were stored under it)."""
    files: Sequence[FileRecord] = ()
    """Files of the run (the source's file outputs), already in the filestore."""
    error: RunError | None = None
    """The source reported an error instead of values: the run is recorded as failed."""


FireRun = Callable[[Firing], Awaitable[str | None]]
"""Starts a run of the deployment; answers its id, or None when nothing was started (the
fire key fired already, or the deployment is no longer the deployed one)."""


class TriggerDriver(Protocol):
    """A trigger that fires by itself while its workflow is deployed."""

    def check(self, deployment: Deployment) -> None:
        """``InvalidValue`` saying why the deployment's trigger cannot fire (a bad input)."""
        ...

    async def start(self, deployment: Deployment, fire: FireRun) -> None:
        """Start firing (in the background); returns at once."""
        ...

    async def stop(self, workflow_id: str) -> None:
        """Stop firing for the workflow; returns once stopped."""
        ...


def static_inputs(trigger: StepSpec) -> dict[str, Value]:
    """The values bound to the trigger's inputs in the snapshot (its configuration), with
    the inputs' defaults for the others."""
    values: dict[str, Value] = {i.name: i.default for i in trigger.inputs if i.has_default}
    for binding in trigger.bindings:
        if binding.source is None:
            values[binding.input] = binding.value
    return values


def manual_inputs(trigger: StepSpec) -> list[IoSpec]:
    """The values a person gives to start a run by hand: the trigger's outputs, except the
    ``fired_at`` of timing triggers, which the runner fills in."""
    if trigger.builtin_trigger in TIMED:
        return [o for o in trigger.outputs if o.name != FIRED_AT]
    return list(trigger.outputs)


def trigger_outputs(
    trigger: StepSpec, given: Mapping[str, Value], *, at: datetime
) -> dict[str, Value]:
    values = dict(given)
    if trigger.builtin_trigger in TIMED:
        spec = trigger.output(FIRED_AT)
        if spec is None or spec.type is IoType.STRING:
            values[FIRED_AT] = at.isoformat().replace("+00:00", "Z")
    return values


def deploy_note(deployment: Deployment, handled: Collection[str]) -> str:
    """What the deployment's status says about its trigger, when it does not fire yet.
    ``handled``: the trigger kinds this runner fires (its drivers' and the others')."""
    kind = deployment.trigger_kind
    if kind in (BuiltinTrigger.MANUAL, BuiltinTrigger.ONE_RUN, BuiltinTrigger.HTTP_API):
        return ""
    if kind in handled:
        return ""
    what = "user sources" if kind == "source" else f"the {kind} trigger"
    return (
        f"{what} cannot fire yet in this version of the runner; start runs with "
        "POST /runner/workflows/{workflow_id}/runs"
    )
