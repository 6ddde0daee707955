"""Unit tests: the execution id an action sees, in one worker, call after call."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from oryx_wrapper import EXECUTION_ID_ENV, current_execution_id
from oryx_wrapper.capture import Capture
from oryx_wrapper.metadata import ActionMetadata, IoDefinition, IoType, Kind
from oryx_wrapper.protocol import SUCCESS, USER_ERROR, WorkReply, WorkRequest
from oryx_wrapper.worker import Worker

METADATA = ActionMetadata(
    id="who",
    version="1",
    kind=Kind.PROCESSOR,
    outputs=(IoDefinition(name="seen", type=IoType.STRING, optional=True),),
)


@pytest.fixture(autouse=True)
def no_inherited_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTION_ID_ENV, raising=False)


def run(handle: Any, execution_id: str, tmp_path: Path) -> WorkReply:
    worker = Worker(METADATA, handle, Capture(), tmp_path)
    return worker.run(WorkRequest(execution_id=execution_id, inputs={}, workdir=str(tmp_path)))


def seen(reply: WorkReply) -> Any:
    assert reply.status == SUCCESS, reply.error
    return reply.outputs[0]["seen"]


def test_outside_an_execution_there_is_no_id(monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_execution_id() is None
    monkeypatch.setenv(EXECUTION_ID_ENV, "")
    assert current_execution_id() is None
    monkeypatch.setenv(EXECUTION_ID_ENV, "set-by-a-test")  # how an action's own tests set it
    assert current_execution_id() == "set-by-a-test"


def test_the_handler_sees_its_id_and_the_next_call_never_sees_it(tmp_path: Path) -> None:
    def handle(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"seen": f"{current_execution_id()}|{os.environ.get(EXECUTION_ID_ENV)}"}

    assert seen(run(handle, "step-1", tmp_path)) == "step-1|step-1"
    assert EXECUTION_ID_ENV not in os.environ
    assert seen(run(handle, "step-2", tmp_path)) == "step-2|step-2"
    assert seen(run(handle, "", tmp_path)) == "None|None"  # a caller that sent no id


def test_the_id_is_removed_after_a_failure_or_a_handler_that_changed_it(tmp_path: Path) -> None:
    def fail(inputs: dict[str, Any]) -> dict[str, Any]:
        raise ValueError(current_execution_id())

    def tamper(inputs: dict[str, Any]) -> dict[str, Any]:
        os.environ[EXECUTION_ID_ENV] = "changed-by-the-handler"
        return {}

    failed = run(fail, "step-1", tmp_path)
    assert failed.status == USER_ERROR and failed.error is not None
    assert failed.error.message == "step-1"
    assert EXECUTION_ID_ENV not in os.environ
    assert run(tamper, "step-2", tmp_path).status == SUCCESS
    assert current_execution_id() is None


def test_an_async_handler_sees_its_id(tmp_path: Path) -> None:
    async def handle(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"seen": current_execution_id()}

    assert seen(run(handle, "step-async", tmp_path)) == "step-async"
    assert current_execution_id() is None
