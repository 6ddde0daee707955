"""Snapshot validation and typed values."""

import pytest

from oryx_runner.domain.errors import InvalidValue
from oryx_runner.domain.workflows import (
    FileValue,
    OutputRef,
    ResultSpec,
    WorkflowSnapshot,
    check_inputs,
    validate_snapshot,
)

from ...actions import chain, io, step, trigger

REFS = {"append": "local:a"}


def test_a_chain_is_valid() -> None:
    validate_snapshot(chain(REFS))


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((), "no steps"),
        ((step("a", "append", REFS, after=()),), "not a trigger"),
        ((trigger(), step("a", "append", REFS, after=("b",))), "not an earlier step"),
        ((trigger(), step("a", "append", REFS, after=())), "no parent"),
        (
            (
                trigger(),
                step("a", "append", REFS, after=("trigger",), bind={"text": ("z", "text")}),
            ),
            "not upstream",
        ),
        (
            (
                trigger(),
                step("a", "append", REFS, after=("trigger",), bind={"text": ("trigger", "nope")}),
            ),
            "unknown output",
        ),
        (
            (trigger(), step("a", "append", REFS, after=("trigger",), bind={"nope": "x"})),
            "unknown input",
        ),
        ((trigger(), trigger()), "two steps"),
    ],
)
def test_invalid_snapshots_say_why(steps: tuple, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        validate_snapshot(WorkflowSnapshot(name="w", steps=steps))


def test_results_must_name_an_output() -> None:
    snapshot = WorkflowSnapshot(
        name="w",
        steps=(trigger(),),
        results=(ResultSpec(key="r", source=OutputRef(step_id="trigger", output="nope")),),
    )
    with pytest.raises(InvalidValue, match="result"):
        validate_snapshot(snapshot)


SPECS = (
    io("name"),
    io("count", "integer"),
    io("ratio", "float", optional=True),
    io("flag", "boolean", has_default=True, default=False),
    io("color", "enum", enum_values=("red", "blue"), optional=True),
    io("data", "file", optional=True),
)


def test_values_are_checked_by_type() -> None:
    values = check_inputs(SPECS, {"name": "x", "count": "12", "ratio": 2, "color": "red"})
    assert values == {
        "name": "x",
        "count": 12,
        "ratio": 2.0,
        "flag": False,
        "color": "red",
        "data": None,
    }
    assert check_inputs(SPECS, {"name": "x", "count": 3.0, "flag": "true"})["flag"] is True
    file = FileValue(key="k", name="a.txt")
    assert check_inputs(SPECS, {"name": "x", "count": 1, "data": file})["data"] == file


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"count": 1}, "inputs.name"),
        ({"name": "x", "count": "many"}, "inputs.count"),
        ({"name": "x", "count": True}, "inputs.count"),
        ({"name": "x", "count": 2**70}, "inputs.count"),
        ({"name": "x", "count": 1.5}, "inputs.count"),
        ({"name": 3, "count": 1}, "inputs.name"),
        ({"name": "a\x00b", "count": 1}, "inputs.name"),
        ({"name": "x", "count": 1, "ratio": "nan"}, "inputs.ratio"),
        ({"name": "x", "count": 1, "color": "green"}, "inputs.color"),
        ({"name": "x", "count": 1, "flag": "perhaps"}, "inputs.flag"),
        ({"name": "x", "count": 1, "data": "a path"}, "inputs.data"),
        ({"name": "x", "count": 1, "other": 1}, "inputs.other"),
        ({"name": "x" * 1_000_001, "count": 1}, "inputs.name"),
    ],
)
def test_bad_values_name_their_field(given: dict, field: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        check_inputs(SPECS, given)
    assert caught.value.field == field
