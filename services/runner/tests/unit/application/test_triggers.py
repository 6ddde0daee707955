"""Built-in triggers of this version: what a manual run asks for, and what a trigger gives."""

from datetime import UTC, datetime

from oryx_runner.application.triggers import deploy_note, manual_inputs, trigger_outputs
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.workflows import BuiltinTrigger, WorkflowSnapshot

from ...actions import io, trigger

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def deployment(kind: BuiltinTrigger) -> Deployment:
    return Deployment(
        id="d", workflow_id="w", project_id="p", revision=1,
        snapshot=WorkflowSnapshot(name="w", steps=(trigger(kind),)),
        requested_by="u", requested_at=AT, received_at=AT,
    )  # fmt: skip


def test_a_manual_trigger_asks_for_its_dynamic_outputs() -> None:
    step = trigger(BuiltinTrigger.MANUAL, outputs=(io("text"), io("n", "integer")))
    assert [s.name for s in manual_inputs(step)] == ["text", "n"]
    assert trigger_outputs(step, {"text": "x", "n": 1}, at=AT) == {"text": "x", "n": 1}


def test_timing_triggers_fill_in_their_fire_time() -> None:
    for kind in (BuiltinTrigger.ONE_RUN, BuiltinTrigger.CRON, BuiltinTrigger.EMIT_EVERY):
        step = trigger(kind)
        assert manual_inputs(step) == []
        assert trigger_outputs(step, {}, at=AT) == {"fired_at": "2026-01-02T03:04:05Z"}


def test_triggers_that_cannot_fire_yet_say_so() -> None:
    assert deploy_note(deployment(BuiltinTrigger.MANUAL), {}) == ""
    assert deploy_note(deployment(BuiltinTrigger.ONE_RUN), {}) == ""
    assert "cron trigger cannot fire yet" in deploy_note(deployment(BuiltinTrigger.CRON), {})
    assert deploy_note(deployment(BuiltinTrigger.HTTP_API), {}) == ""


def test_kinds_handled_fire() -> None:
    handled = {"cron", "emit-every", "source"}
    for kind in (BuiltinTrigger.CRON, BuiltinTrigger.EMIT_EVERY):
        assert deploy_note(deployment(kind), handled) == ""
    assert deploy_note(deployment(BuiltinTrigger.CRON), {"source"}) != ""
