"""The deployed workflow: an immutable snapshot of its steps, as the studio sent it.

A workflow is a DAG: one trigger (a source, first), then actions. Each step says where each of
its inputs comes from: a static value, or an output of an upstream step. The runner never
changes a snapshot; runs pin the one they started on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from oryx_runner.domain.errors import InvalidValue


class IoType(StrEnum):
    STRING = "string"
    LONGSTRING = "longstring"
    PASSWORD = "password"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    ENUM = "enum"
    FILE = "file"
    DIRECTORY = "directory"

    @property
    def is_file(self) -> bool:
        return self in (IoType.FILE, IoType.DIRECTORY)

    @property
    def is_text(self) -> bool:
        return self in (IoType.STRING, IoType.LONGSTRING, IoType.PASSWORD, IoType.ENUM)


class StepKind(StrEnum):
    SOURCE = "source"
    PROCESSOR = "processor"
    PUBLISHER = "publisher"


class BuiltinTrigger(StrEnum):
    """Triggers the runner implements itself (docs/reference/builtin-triggers.md)."""

    HTTP_API = "http-api"
    CRON = "cron"
    EMIT_EVERY = "emit-every"
    ONE_RUN = "one-run"
    MANUAL = "manual"


@dataclass(frozen=True, kw_only=True)
class FileValue:
    """A file (or a directory, as an archive) kept in the filestore."""

    key: str
    name: str
    size_bytes: int = 0
    directory: bool = False
    sha256: str = ""
    file_id: str = ""
    """The runner's id of the file, for downloads; empty for a file it does not track."""


Value = str | int | float | bool | FileValue | None
"""A typed value as steps exchange it; its type is the IoSpec's."""


@dataclass(frozen=True, kw_only=True)
class IoSpec:
    name: str
    type: IoType
    optional: bool = False
    enum_values: tuple[str, ...] = ()
    default: Value = None
    has_default: bool = False
    origin: str = ""
    human_name: str = ""
    help: str = ""


@dataclass(frozen=True, kw_only=True)
class Resources:
    cpu: float | None = None
    memory_bytes: int | None = None
    time_seconds: int | None = None
    gpu: int | None = None


@dataclass(frozen=True, kw_only=True)
class OutputRef:
    step_id: str
    output: str


@dataclass(frozen=True, kw_only=True)
class Binding:
    """Where one input takes its value from: ``value`` (static) or ``source`` (upstream)."""

    input: str
    value: Value = None
    source: OutputRef | None = None


@dataclass(frozen=True, kw_only=True)
class StepSpec:
    step_id: str
    name: str
    action_id: str
    action_name: str
    action_version: str
    kind: StepKind
    builtin_trigger: str = ""
    artifact_ref: str = ""
    resources: Resources = field(default_factory=Resources)
    inputs: tuple[IoSpec, ...] = ()
    outputs: tuple[IoSpec, ...] = ()
    bindings: tuple[Binding, ...] = ()
    parents: tuple[str, ...] = ()

    @property
    def is_trigger(self) -> bool:
        return self.kind is StepKind.SOURCE

    def output(self, name: str) -> IoSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def input(self, name: str) -> IoSpec | None:
        return next((i for i in self.inputs if i.name == name), None)


@dataclass(frozen=True, kw_only=True)
class ResultSpec:
    key: str
    source: OutputRef


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    path: str
    method: str
    success_code: int
    timeout_seconds: float


@dataclass(frozen=True, kw_only=True)
class WorkflowSnapshot:
    name: str
    steps: tuple[StepSpec, ...]
    description: str = ""
    results: tuple[ResultSpec, ...] = ()
    endpoint: Endpoint | None = None

    @property
    def trigger(self) -> StepSpec:
        return self.steps[0]

    def step(self, step_id: str) -> StepSpec:
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise KeyError(step_id)

    def children(self, step_id: str) -> list[StepSpec]:
        return [s for s in self.steps if step_id in s.parents]

    @property
    def actions(self) -> tuple[StepSpec, ...]:
        """The steps a site runs (every step but the trigger)."""
        return self.steps[1:]


def validate_snapshot(snapshot: WorkflowSnapshot) -> None:
    """``InvalidValue`` when the runner cannot run this workflow; the message says why."""
    if not snapshot.steps:
        raise InvalidValue("the workflow has no steps")
    trigger = snapshot.steps[0]
    if not trigger.is_trigger:
        raise InvalidValue(f"the first step {trigger.step_id!r} is not a trigger (a source)")
    if trigger.parents:
        raise InvalidValue("the trigger cannot have parent steps")
    seen: dict[str, StepSpec] = {}
    ancestors: dict[str, set[str]] = {}
    for step in snapshot.steps:
        if not step.step_id:
            raise InvalidValue("a step has no id")
        if step.step_id in seen:
            raise InvalidValue(f"two steps have the id {step.step_id!r}")
        if step is not trigger:
            if step.is_trigger:
                raise InvalidValue(f"step {step.step_id!r}: only the first step can be a trigger")
            if not step.parents:
                raise InvalidValue(f"step {step.step_id!r} has no parent step")
            if not step.artifact_ref:
                raise InvalidValue(f"step {step.step_id!r} has no built artifact")
        mine: set[str] = set()
        for parent in step.parents:
            if parent not in seen:  # steps come in a topological order
                raise InvalidValue(
                    f"step {step.step_id!r} follows {parent!r}, which is not an earlier step"
                )
            mine |= {parent} | ancestors[parent]
        for binding in step.bindings:
            if step.input(binding.input) is None:
                raise InvalidValue(
                    f"step {step.step_id!r} binds an unknown input {binding.input!r}"
                )
            if binding.source is None:
                continue
            if binding.source.step_id not in mine:
                raise InvalidValue(
                    f"step {step.step_id!r}: input {binding.input!r} takes an output of "
                    f"{binding.source.step_id!r}, which is not upstream"
                )
            origin = seen[binding.source.step_id]
            if origin.output(binding.source.output) is None:
                raise InvalidValue(
                    f"step {step.step_id!r}: input {binding.input!r} takes the unknown output "
                    f"{binding.source.output!r} of {binding.source.step_id!r}"
                )
        seen[step.step_id] = step
        ancestors[step.step_id] = mine
    for result in snapshot.results:
        origin_step = seen.get(result.source.step_id)
        if origin_step is None or origin_step.output(result.source.output) is None:
            raise InvalidValue(
                f"result {result.key!r} takes {result.source.step_id}.{result.source.output}, "
                "which no step outputs"
            )


# --- typed values ----------------------------------------------------------------------------

MAX_TEXT_LENGTH = 1_000_000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_value(spec: IoSpec, raw: Any, *, field_name: str) -> Value:
    """``raw`` (JSON-decoded, or text from a form when ``raw`` is a str) as a value of
    ``spec``'s type; ``InvalidValue`` naming ``field_name`` otherwise. Files are given as
    ``FileValue`` by the caller."""

    def bad(why: str) -> InvalidValue:
        return InvalidValue(f"{field_name}: {why}", field=field_name)

    if raw is None:
        if spec.optional or spec.has_default:
            return None
        raise bad("a value is required")
    kind = spec.type
    if kind.is_file:
        if isinstance(raw, FileValue):
            return raw
        raise bad(f"a {kind.value} input is sent as a file (multipart/form-data)")
    if kind is IoType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
            return raw.lower() in ("true", "1", "yes")
        raise bad("expected a boolean")
    if kind is IoType.INTEGER:
        value: Any = raw
        if isinstance(raw, str):
            try:
                value = int(raw.strip())
            except ValueError:
                raise bad("expected an integer") from None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("expected an integer")
        if not INT64_MIN <= value <= INT64_MAX:
            raise bad("the integer does not fit in 64 bits")
        return value
    if kind is IoType.FLOAT:
        number: Any = raw
        if isinstance(raw, str):
            try:
                number = float(raw.strip())
            except ValueError:
                raise bad("expected a number") from None
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise bad("expected a number")
        finite = float(number)
        if finite != finite or finite in (float("inf"), float("-inf")):
            raise bad("expected a finite number")
        return finite
    if not isinstance(raw, str):
        raise bad("expected a string")
    if len(raw) > MAX_TEXT_LENGTH:
        raise bad(f"at most {MAX_TEXT_LENGTH} characters")
    if "\x00" in raw:
        raise bad("text cannot contain NUL characters")
    if kind is IoType.ENUM and raw not in spec.enum_values:
        raise bad(f"expected one of {', '.join(spec.enum_values)}")
    return raw


def check_inputs(
    specs: Sequence[IoSpec],
    raw: Mapping[str, Any],
    *,
    prefix: str = "inputs",
    field_of: Callable[[IoSpec], str] | None = None,
) -> dict[str, Value]:
    """Every value of ``raw`` checked against ``specs``: unknown names and missing required
    values are refused (``InvalidValue`` naming ``<prefix>.<name>``, or ``field_of(spec)``)."""
    known = {spec.name: spec for spec in specs}
    for name in raw:
        if name not in known:
            raise InvalidValue(
                f"{prefix}.{name}: unknown input; expected "
                + (", ".join(sorted(known)) or "no inputs"),
                field=f"{prefix}.{name}",
            )
    values: dict[str, Value] = {}
    for spec in specs:
        field_name = field_of(spec) if field_of is not None else f"{prefix}.{spec.name}"
        if spec.name in raw:
            values[spec.name] = check_value(spec, raw[spec.name], field_name=field_name)
        elif spec.has_default:
            values[spec.name] = spec.default
        elif spec.optional:
            values[spec.name] = None
        else:
            raise InvalidValue(f"{field_name}: a value is required", field=field_name)
    return values
