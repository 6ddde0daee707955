"""The action library (versions, built-in triggers) and project variables."""

from dataclasses import replace

import pytest

from oryx_studio.domain.errors import Conflict, InvalidValue
from oryx_studio.domain.library import (
    Action,
    ActionKind,
    builtin_action_id,
    builtin_actions,
    version_key,
)
from oryx_studio.domain.types import FileValue, IoType
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import Workflow

from ...fakes import AT, builtin, io, version  # type: ignore[import-not-found]


def test_builtin_triggers_match_the_shared_contract() -> None:
    by_name = {a.name: a for a in builtin_actions()}
    assert sorted(by_name) == ["cron", "emit-every", "http-api", "manual", "one-run"]
    for name, action in by_name.items():
        (v,) = action.versions
        assert action.id == builtin_action_id(name) == f"builtin-{name}"
        assert action.builtin and action.project_id == ""
        assert (v.kind, v.type, v.version, v.categories) == (
            ActionKind.SOURCE,
            "builtin",
            "1.0",
            ("Triggers",),
        )
        assert v.builtin_trigger == name and v.artifact_ref == ""
    cron = by_name["cron"].versions[0]
    assert [(i.name, i.type, i.required) for i in cron.inputs] == [
        ("cron", IoType.STRING, True),
        ("timezone", IoType.STRING, False),
    ]
    assert cron.input("timezone").default == "UTC"
    assert [(i.name, i.type) for i in by_name["emit-every"].versions[0].inputs] == [
        ("seconds", IoType.INTEGER)
    ]
    assert by_name["http-api"].versions[0].dynamic_outputs
    assert by_name["manual"].versions[0].dynamic_outputs
    assert [o.name for o in by_name["one-run"].versions[0].outputs] == ["fired_at"]
    with pytest.raises(Conflict) as caught:
        by_name["cron"].check_deletable()
    assert caught.value.code == "builtin_action"


def test_publishing_the_same_version_again_keeps_its_id() -> None:
    action = Action(
        id="a1",
        project_id="p",
        name="echo",
        builtin=False,
        versions=[],
        created_at=AT,
        updated_at=AT,
    )
    first = action.publish(version("echo", id="v-1"), at=AT)
    assert first.action_id == "a1"
    rebuilt = action.publish(
        replace(version("echo", id="v-other"), artifact_ref="local:new"), at=AT
    )
    assert rebuilt.id == "v-1" and len(action.versions) == 1
    assert action.versions[0].artifact_ref == "local:new"
    action.publish(version("echo", version="1.10", id="v-110"), at=AT)
    action.publish(version("echo", version="1.9", id="v-19"), at=AT)
    assert action.latest.version == "1.10"
    assert action.version("1.9").id == "v-19" and action.version_by_id("v-110") is not None


def test_versions_sort_naturally() -> None:
    ordered = ["0.9", "1.0", "1.0.1", "1.2", "1.10", "2.0-beta", "2.0"]
    assert sorted(reversed(ordered), key=version_key)[:5] == ordered[:5]
    assert version_key("2.0") > version_key("1.99")


def test_kind_names_from_the_metadata() -> None:
    assert ActionKind.parse("Processor") is ActionKind.PROCESSOR
    assert ActionKind.parse("Trigger") is ActionKind.SOURCE
    with pytest.raises(ValueError):
        ActionKind.parse("Functions")


def make(kind: str, value: str | None = "x", file: FileValue | None = None) -> Variable:
    return Variable.create(
        id="v",
        project_id="p",
        name="token",
        type=VariableType(kind),
        description="",
        value=value,
        file=file,
        at=AT,
    )


def test_variables_hold_a_value_of_their_type() -> None:
    assert make("password", "s3cret").value == "s3cret"
    file = FileValue(key="k", name="a.csv", size_bytes=1)
    assert make("file", None, file).file == file
    for kind, value, f in (("file", "x", None), ("file", None, None), ("string", None, None)):
        with pytest.raises(InvalidValue):
            make(kind, value, f)
    with pytest.raises(InvalidValue):
        make("string", "x", file)
    with pytest.raises(InvalidValue):
        make("string", "bell\x07")
    assert make("string", "tab\tand\nnewline").value == "tab\tand\nnewline"


@pytest.mark.parametrize("name", ["", "1abc", "has space", "a" * 65, "dash-ok"[:0] or "é", "x/y"])
def test_variable_names(name: str) -> None:
    with pytest.raises(InvalidValue):
        Variable.create(
            id="v",
            project_id="p",
            name=name,
            type=VariableType.STRING,
            description="",
            value="x",
            file=None,
            at=AT,
        )


def test_changing_a_password_without_a_value_keeps_it() -> None:
    v = make("password", "old")
    v.change(name="renamed", description="d", at=AT)
    assert (v.name, v.value, v.description) == ("renamed", "old", "d")
    v.change(value="new", at=AT)
    assert v.value == "new"


def test_dynamic_outputs_not_allowed_after_a_library_change() -> None:
    manual = builtin("manual")
    w = Workflow.create(id="w", project_id="p", name="M", description="", at=AT)
    t = w.add_step(action=manual, after_step_id=None, name=None, position=None, at=AT)
    w.edit_step(
        step_id=t.id, dynamic_outputs=[io("x")], catalog={manual.id: manual}, variables={}, at=AT
    )
    changed = replace(manual, dynamic_outputs=False)
    issues = w.validate(catalog={manual.id: changed}, variables={})
    assert [(i.code, i.field) for i in issues] == [
        ("dynamic_outputs_not_allowed", "dynamic_outputs")
    ]
