"""Step inputs: static values checked against their type, upstream outputs of a compatible
type, project variables; replacing a version and what it takes away; dynamic outputs."""

import pytest

from oryx_studio.domain.errors import Conflict, InvalidValue, NotFound
from oryx_studio.domain.graph import StaticInput, StepOutput, VariableInput
from oryx_studio.domain.types import FileValue, IoSpec, IoType, compatible
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import Workflow

from ...fakes import AT, builtin, io, version  # type: ignore[import-not-found]

TRIGGER = builtin("emit-every")
TYPES = version(
    "types",
    inputs=(
        io("text"),
        io("long", "longstring"),
        io("secret", "password"),
        io("count", "integer"),
        io("ratio", "float"),
        io("flag", "boolean"),
        io("color", "enum", enum_values=("red", "green")),
        io("doc", "file"),
        io("folder", "directory"),
        io("maybe", optional=True),
    ),
    outputs=(
        io("text"),
        io("secret", "password"),
        io("count", "integer"),
        io("ratio", "float"),
        io("flag", "boolean"),
        io("color", "enum", enum_values=("red",)),
        io("shade", "enum", enum_values=("red", "blue")),
        io("doc", "file"),
    ),
)
CATALOG = {v.id: v for v in (TRIGGER, TYPES)}


def world() -> tuple[Workflow, str, str]:
    """trigger -> a -> b, both running ``types``."""
    w = Workflow.create(id="w1", project_id="p1", name="Types", description="", at=AT)
    t = w.add_step(action=TRIGGER, after_step_id=None, name=None, position=None, at=AT)
    a = w.add_step(action=TYPES, after_step_id=t.id, name=None, position=None, at=AT)
    b = w.add_step(action=TYPES, after_step_id=a.id, name=None, position=None, at=AT)
    return w, a.id, b.id


def set_value(w: Workflow, step: str, name: str, value, variables=None) -> None:  # type: ignore[no-untyped-def]
    scalar = isinstance(value, str | int | float | bool | type(None))
    w.set_input(
        step_id=step,
        name=name,
        source=StaticInput(value=value) if scalar else value,
        catalog=CATALOG,
        variables=variables or {},
        at=AT,
    )


@pytest.mark.parametrize(
    ("name", "value", "stored"),
    [
        ("text", "hello", "hello"),
        ("text", "", ""),
        ("long", "line\nline", "line\nline"),
        ("secret", "s3cret", "s3cret"),
        ("count", 42, 42),
        ("count", 3.0, 3),
        ("count", -(2**63), -(2**63)),
        ("ratio", 0.5, 0.5),
        ("ratio", 2, 2.0),
        ("flag", False, False),
        ("color", "green", "green"),
        ("maybe", None, None),
    ],
)
def test_static_values_of_the_right_type_are_kept(name: str, value, stored) -> None:
    w, a, _ = world()
    set_value(w, a, name, value)
    kept = w.step(a).inputs[name]
    assert isinstance(kept, StaticInput) and kept.value == stored
    assert type(kept.value) is type(stored)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("text", 5),
        ("text", True),
        ("text", None),
        ("text", "nul\x00"),
        ("text", "x" * (1024 * 1024 + 1)),
        ("count", "42"),
        ("count", True),
        ("count", 1.5),
        ("count", 2**63),
        ("count", float("inf")),
        ("ratio", "0.5"),
        ("ratio", float("nan")),
        ("ratio", False),
        ("flag", 1),
        ("flag", "true"),
        ("color", "blue"),
        ("color", "RED"),
        ("doc", "report.pdf"),
        ("folder", "dir"),
    ],
)
def test_static_values_of_the_wrong_type_are_type_mismatches(name: str, value) -> None:
    w, a, _ = world()
    with pytest.raises(InvalidValue) as caught:
        set_value(w, a, name, value)
    assert caught.value.code == "type_mismatch"
    assert caught.value.field == "value"
    assert name not in w.step(a).inputs


def test_files_go_to_file_inputs_only() -> None:
    w, a, _ = world()
    doc = FileValue(key="k/doc.pdf", name="doc.pdf", size_bytes=3)
    folder = FileValue(key="k/f.zip", name="f.zip", size_bytes=3, directory=True)
    set_value(w, a, "doc", StaticInput(value=doc))
    set_value(w, a, "folder", StaticInput(value=folder))
    for name, value in (("doc", folder), ("folder", doc), ("text", doc)):
        with pytest.raises(InvalidValue):
            set_value(w, a, name, StaticInput(value=value))


def test_unknown_input_and_unknown_step_are_not_found() -> None:
    w, a, _ = world()
    with pytest.raises(NotFound) as caught:
        set_value(w, a, "nope", "x")
    assert caught.value.field == "name"
    with pytest.raises(NotFound):
        set_value(w, "ghost", "text", "x")


@pytest.mark.parametrize(
    ("output", "input", "fits"),
    [
        ("text", "text", True),
        ("text", "secret", True),
        ("secret", "long", True),
        ("count", "count", True),
        ("count", "ratio", True),
        ("ratio", "count", False),
        ("flag", "text", False),
        ("text", "flag", False),
        ("color", "color", True),  # {red} within {red, green}
        ("shade", "color", False),  # blue is not an option
        ("color", "text", True),
        ("text", "color", False),
        ("doc", "doc", True),
        ("doc", "folder", False),
        ("doc", "text", False),
    ],
)
def test_references_take_outputs_of_a_compatible_type(output: str, input: str, fits: bool) -> None:
    w, a, b = world()
    ref = StepOutput(step_id=a, output=output)
    if fits:
        set_value(w, b, input, ref)
        assert w.step(b).inputs[input] == ref
    else:
        with pytest.raises(InvalidValue) as caught:
            set_value(w, b, input, ref)
        assert (caught.value.code, caught.value.field) == ("type_mismatch", "from.output")


def test_references_must_point_upstream_to_an_existing_output() -> None:
    w, a, b = world()
    with pytest.raises(InvalidValue) as downstream:
        set_value(w, a, "text", StepOutput(step_id=b, output="text"))
    assert downstream.value.code == "not_upstream"
    with pytest.raises(InvalidValue) as itself:
        set_value(w, a, "text", StepOutput(step_id=a, output="text"))
    assert itself.value.code == "not_upstream"
    with pytest.raises(InvalidValue) as missing:
        set_value(w, b, "text", StepOutput(step_id=a, output="nothing"))
    assert (missing.value.code, missing.value.field) == ("unknown_output", "from.output")
    with pytest.raises(NotFound) as ghost:
        set_value(w, b, "text", StepOutput(step_id="ghost", output="text"))
    assert ghost.value.field == "from.step_id"
    # a grand-parent is upstream too
    set_value(w, b, "text", StepOutput(step_id=w.steps[0].id, output="fired_at"))


def variable(kind: str, value: str | None = "v", file: FileValue | None = None) -> Variable:
    return Variable.create(
        id=f"var-{kind}",
        project_id="p1",
        name=f"my_{kind}",
        type=VariableType(kind),
        description="",
        value=value,
        file=file,
        at=AT,
    )


def test_variables_fit_inputs_of_their_type() -> None:
    w, a, _ = world()
    text, secret = variable("string", "green"), variable("password", "pw")
    file = variable("file", None, FileValue(key="k", name="n", size_bytes=1))
    known = {v.id: v for v in (text, secret, file)}
    for name, var in (("text", text), ("secret", secret), ("long", secret), ("color", text)):
        set_value(w, a, name, VariableInput(variable_id=var.id), known)
    set_value(w, a, "doc", VariableInput(variable_id=file.id), known)
    for name, var in (("count", text), ("doc", text), ("text", file), ("flag", secret)):
        with pytest.raises(InvalidValue) as caught:
            set_value(w, a, name, VariableInput(variable_id=var.id), known)
        assert caught.value.code == "type_mismatch"
    with pytest.raises(NotFound) as unknown:
        set_value(w, a, "text", VariableInput(variable_id="var-ghost"), known)
    assert unknown.value.field == "variable_id"
    red = variable("string", "blue")
    with pytest.raises(InvalidValue):  # not one of the enum's values
        set_value(w, a, "color", VariableInput(variable_id=red.id), {red.id: red})


def test_unset_input_goes_back_to_its_default() -> None:
    w, a, _ = world()
    set_value(w, a, "text", "x")
    revision = w.revision
    w.unset_input(step_id=a, name="text", catalog=CATALOG, at=AT)
    assert "text" not in w.step(a).inputs and w.revision == revision + 1
    w.unset_input(step_id=a, name="text", catalog=CATALOG, at=AT)  # already unset: no edit
    assert w.revision == revision + 1
    with pytest.raises(NotFound):
        w.unset_input(step_id=a, name="nope", catalog=CATALOG, at=AT)


def test_compatibility_table_is_not_symmetric() -> None:
    integer, real = IoSpec(name="i", type=IoType.INTEGER), IoSpec(name="f", type=IoType.FLOAT)
    assert compatible(integer, real) and not compatible(real, integer)


# replacing a version --------------------------------------------------------------------------

V2 = version(
    "types",
    version="2.0",
    inputs=(
        io("text", "integer"),
        io("count", "integer"),
        io("color", "enum", enum_values=("red",)),
    ),
    outputs=(io("count", "string"),),
)


def test_replacing_the_version_reports_what_it_removed() -> None:
    w, a, b = world()
    set_value(w, a, "text", "hello")  # now an integer: the string no longer fits
    set_value(w, a, "count", 3)  # still fits
    set_value(w, a, "color", "green")  # no longer an option
    set_value(w, a, "flag", True)  # no longer declared
    set_value(w, b, "count", StepOutput(step_id=a, output="count"))  # now a string: no fit
    set_value(w, b, "text", StepOutput(step_id=a, output="text"))  # gone from v2
    removed = w.edit_step(step_id=a, action=V2, catalog={**CATALOG, V2.id: V2}, variables={}, at=AT)
    by_step = {(i.step_id, i.input) for i in removed.inputs}
    assert by_step == {(a, "text"), (a, "color"), (a, "flag"), (b, "count"), (b, "text")}
    assert w.step(a).inputs == {"count": StaticInput(value=3)}
    assert w.step(a).action.version == "2.0" and w.step(a).action.version_id == V2.id


def test_a_processor_replaced_by_a_source_loses_its_parents() -> None:
    w, a, _b = world()
    as_source = version("types", version="9", kind="source", outputs=(io("text"),))
    catalog = {**CATALOG, as_source.id: as_source}
    with pytest.raises(Conflict) as caught:  # the workflow has its trigger already
        w.edit_step(step_id=a, action=as_source, catalog=catalog, variables={}, at=AT)
    assert caught.value.code == "multiple_triggers"
    w.remove_step(step_id=w.steps[0].id, at=AT)
    removed = w.edit_step(step_id=a, action=as_source, catalog=catalog, variables={}, at=AT)
    assert removed.links == () and w.step(a).is_trigger  # its parent was removed with the trigger


# dynamic outputs ------------------------------------------------------------------------------


def test_http_trigger_outputs_need_an_origin() -> None:
    http = builtin("http-api")
    w = Workflow.create(id="w", project_id="p", name="Api", description="", at=AT)
    t = w.add_step(action=http, after_step_id=None, name=None, position=None, at=AT)
    catalog = {http.id: http}

    def define(*outputs: IoSpec) -> None:
        w.edit_step(step_id=t.id, dynamic_outputs=outputs, catalog=catalog, variables={}, at=AT)

    define(io("order_id", "integer", origin="path"), io("upload", "file", origin="body"))
    assert [o.name for o in w.outputs_of(w.step(t.id), catalog)] == ["order_id", "upload"]
    for bad in (
        io("x"),  # no origin
        io("x", origin="cookie"),
        io("f", "file", origin="query"),
        io("Bad-Name", origin="query"),
        io("e", "enum", origin="query"),  # an enum without values
        io("s", origin="query", enum_values=("a",)),
    ):
        with pytest.raises(InvalidValue):
            define(bad)
    with pytest.raises(InvalidValue):
        define(io("a", origin="query"), io("a", origin="header"))


def test_dynamic_outputs_only_on_triggers_that_take_them() -> None:
    w, a, _ = world()
    with pytest.raises(InvalidValue) as caught:
        w.edit_step(step_id=a, dynamic_outputs=[io("x")], catalog=CATALOG, variables={}, at=AT)
    assert caught.value.code == "dynamic_outputs_not_allowed"
    manual = builtin("manual")
    w2 = Workflow.create(id="w", project_id="p", name="M", description="", at=AT)
    t = w2.add_step(action=manual, after_step_id=None, name=None, position=None, at=AT)
    with pytest.raises(InvalidValue):  # only the HTTP trigger's outputs have an origin
        w2.edit_step(
            step_id=t.id,
            dynamic_outputs=[io("x", origin="query")],
            catalog={manual.id: manual},
            variables={},
            at=AT,
        )


def test_removing_a_dynamic_output_drops_what_used_it() -> None:
    manual = builtin("manual")
    catalog = {manual.id: manual, TYPES.id: TYPES}
    w = Workflow.create(id="w", project_id="p", name="M", description="", at=AT)
    t = w.add_step(action=manual, after_step_id=None, name=None, position=None, at=AT)
    a = w.add_step(action=TYPES, after_step_id=t.id, name=None, position=None, at=AT)
    w.edit_step(step_id=t.id, dynamic_outputs=[io("who")], catalog=catalog, variables={}, at=AT)
    w.set_input(
        step_id=a.id,
        name="text",
        source=StepOutput(step_id=t.id, output="who"),
        catalog=catalog,
        variables={},
        at=AT,
    )
    removed = w.edit_step(step_id=t.id, dynamic_outputs=[], catalog=catalog, variables={}, at=AT)
    assert removed.dynamic_outputs == ("who",)
    assert [(i.step_id, i.input) for i in removed.inputs] == [(a.id, "text")]
