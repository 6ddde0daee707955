"""Triggers: what starts runs of a deployed workflow.

The built-in triggers (docs/reference/builtin-triggers.md) are implemented by the runner
itself, with no process per trigger. In this version:

- ``manual``: ``POST /runner/workflows/{id}/runs`` with the typed values the workflow defines
  as the trigger's outputs (``Runs.start_manual``). Any deployed workflow can also be started
  by hand this way: the values asked for are its trigger's outputs (``fired_at`` of timing
  triggers is filled in).
- ``one-run``: fires once per deployment, in the transaction that marks it deployed.

Triggers that fire by themselves while deployed (``cron``, ``emit-every``, ``http-api``, user
sources run by the wrapper) plug in as ``TriggerDriver``s, started when their workflow is
deployed and stopped when it is undeployed; none is registered yet, and their deployments
say so in their status message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Protocol

from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import (
    BuiltinTrigger,
    IoSpec,
    IoType,
    StepSpec,
    Value,
)

FIRED_AT = "fired_at"
TIMED = frozenset({BuiltinTrigger.CRON, BuiltinTrigger.EMIT_EVERY, BuiltinTrigger.ONE_RUN})

FireRun = Callable[[dict[str, Value]], Awaitable[str]]
"""Starts a run of the deployment with these trigger outputs; answers the run's id."""


class TriggerDriver(Protocol):
    """A trigger that fires by itself while its workflow is deployed."""

    async def start(self, deployment: Deployment, fire: FireRun) -> None: ...
    async def stop(self, workflow_id: str) -> None: ...


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


def deploy_note(deployment: Deployment, drivers: Mapping[str, TriggerDriver]) -> str:
    """What the deployment's status says about its trigger, when it does not fire yet."""
    kind = deployment.trigger_kind
    if kind in (BuiltinTrigger.MANUAL, BuiltinTrigger.ONE_RUN, BuiltinTrigger.HTTP_API):
        return ""
    if kind in drivers:
        return ""
    what = "user sources" if kind == "source" else f"the {kind} trigger"
    return (
        f"{what} cannot fire yet in this version of the runner; start runs with "
        "POST /runner/workflows/{workflow_id}/runs"
    )
