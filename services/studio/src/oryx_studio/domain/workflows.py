"""The workflow aggregate: one trigger, then processor and publisher steps forming a DAG.

Editing keeps the graph's shape rules at once: a step id names one step, at most one trigger,
a trigger has no parent, no link to itself and no cycle; an input takes a value of its type,
an upstream output of a compatible type, or a project variable. What can go wrong later (an
action version deleted from the library, a variable removed, a link removed under a
reference, a document imported with a cycle) is reported by ``validate()`` with stable codes,
and a workflow with errors cannot be deployed.

Every edit increments ``revision``; the runner reports the revision it deployed, so the
workflow knows when it differs from what runs.
"""

import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from oryx_studio.domain.errors import Conflict, InvalidValue, NotFound
from oryx_studio.domain.events import (
    Binding,
    DeploymentRequested,
    Event,
    SnapshotResources,
    StepSnapshot,
    UndeploymentRequested,
    WorkflowSnapshot,
)
from oryx_studio.domain.graph import (
    Endpoint,
    InputSource,
    Link,
    Position,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
    check_result_key,
    check_step_id,
)
from oryx_studio.domain.library import HTTP_API, ORIGINS, ActionKind, ActionVersion
from oryx_studio.domain.types import (
    FileValue,
    IoSpec,
    IoType,
    check_value,
    compatible,
    value_problem,
)
from oryx_studio.domain.variables import Variable, VariableType, check_description

MAX_NAME_LENGTH = 100
MAX_STEPS = 200
MAX_LINKS = 1000
MAX_RESULTS = 100
MAX_DYNAMIC_OUTPUTS = 64
MAX_ENUM_VALUES = 64
MAX_HELP_LENGTH = 10_000
DYNAMIC_OUTPUT_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")

Catalog = Mapping[str, ActionVersion]
"""Action versions by their id: the library as far as a workflow needs it."""
Variables = Mapping[str, Variable]
"""The project's variables by id."""


def check_name(name: str, *, field: str = "name", what: str = "name") -> str:
    name = name.strip()
    if not name:
        raise InvalidValue(f"{what} must not be empty", field=field)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValue(f"{what} must be at most {MAX_NAME_LENGTH} characters", field=field)
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise InvalidValue(f"{what} must not contain control characters", field=field)
    return name


class DeploymentStatus(StrEnum):
    UNDEPLOYED = "undeployed"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    UNDEPLOYING = "undeploying"
    ERROR = "error"

    @property
    def is_live(self) -> bool:
        """Something is (or is about to be) deployed on the runner."""
        return self in (
            DeploymentStatus.DEPLOYING,
            DeploymentStatus.DEPLOYED,
            DeploymentStatus.UNDEPLOYING,
        )


@dataclass(kw_only=True)
class Deployment:
    """Where the workflow stands on the runner, as last reported."""

    status: DeploymentStatus = DeploymentStatus.UNDEPLOYED
    message: str = ""
    deployment_id: str | None = None
    requested_revision: int | None = None
    """The revision of the last deploy order."""
    deployed_revision: int | None = None
    """The revision the runner runs (reported ``deployed``); None when nothing runs."""
    sequence: int = 0
    """The highest sequence number of the runner's reports seen so far."""
    changed_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class ActionRef:
    """The action version a step runs, with what names it for people and documents."""

    action_id: str
    version_id: str
    name: str
    version: str
    kind: ActionKind
    builtin_trigger: str = ""

    @classmethod
    def of(cls, version: ActionVersion) -> "ActionRef":
        return cls(
            action_id=version.action_id,
            version_id=version.id,
            name=version.name,
            version=version.version,
            kind=version.kind,
            builtin_trigger=version.builtin_trigger,
        )


@dataclass(kw_only=True)
class Step:
    id: str
    name: str
    action: ActionRef
    inputs: dict[str, InputSource] = field(default_factory=dict)
    dynamic_outputs: tuple[IoSpec, ...] = ()
    position: Position | None = None

    @property
    def is_trigger(self) -> bool:
        return self.action.kind is ActionKind.SOURCE


@dataclass(frozen=True, kw_only=True)
class Issue:
    """A reason the workflow cannot be deployed. ``code`` is stable; see docs/studio.md."""

    code: str
    message: str
    step_id: str | None = None
    field: str | None = None


class WorkflowInvalid(Conflict):
    """Deploying was refused: the workflow has errors."""

    code = "workflow_invalid"

    def __init__(self, issues: Sequence[Issue]) -> None:
        count = len(issues)
        super().__init__(
            f"the workflow has {count} error{'s' if count > 1 else ''}; fix "
            f"{'them' if count > 1 else 'it'} before deploying (GET .../errors lists them)"
        )
        self.issues = tuple(issues)


@dataclass(frozen=True, kw_only=True)
class RemovedInput:
    step_id: str
    input: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Removed:
    """What an edit took away with it."""

    links: tuple[Link, ...] = ()
    inputs: tuple[RemovedInput, ...] = ()
    results: tuple[str, ...] = ()
    dynamic_outputs: tuple[str, ...] = ()
    endpoint: bool = False


@dataclass(frozen=True, kw_only=True)
class GraphStep:
    """A step of a whole-workflow document, its action resolved."""

    id: str
    name: str
    action: ActionVersion
    inputs: Mapping[str, InputSource]
    dynamic_outputs: tuple[IoSpec, ...] = ()
    position: Position | None = None


@dataclass(frozen=True, kw_only=True)
class Graph:
    """A whole workflow as a document gives it (``PUT`` with a document, import)."""

    steps: tuple[GraphStep, ...]
    links: tuple[Link, ...] = ()
    results: tuple[Result, ...] = ()
    endpoint: Endpoint | None = None


def check_dynamic_outputs(
    outputs: Sequence[IoSpec], *, action: ActionVersion
) -> tuple[IoSpec, ...]:
    """The outputs a workflow defines for a trigger with ``dynamic_outputs``."""
    if not action.dynamic_outputs:
        if outputs:
            raise InvalidValue(
                f"{action.name} {action.version} does not take dynamic outputs",
                field="dynamic_outputs",
                code="dynamic_outputs_not_allowed",
            )
        return ()
    if len(outputs) > MAX_DYNAMIC_OUTPUTS:
        raise InvalidValue(
            f"at most {MAX_DYNAMIC_OUTPUTS} dynamic outputs", field="dynamic_outputs"
        )
    http = action.builtin_trigger == HTTP_API
    seen: set[str] = set()
    checked = []
    for i, out in enumerate(outputs):
        where = f"dynamic_outputs[{i}]"
        if not DYNAMIC_OUTPUT_NAME.fullmatch(out.name):
            raise InvalidValue(
                "an output name is 1 to 64 lowercase letters, digits and _, not starting "
                "with a digit",
                field=f"{where}.name",
            )
        if out.name in seen or action.output(out.name) is not None:
            raise InvalidValue(f"output {out.name} is defined twice", field=f"{where}.name")
        seen.add(out.name)
        if out.type is IoType.ENUM:
            values = out.enum_values
            if not values or len(values) > MAX_ENUM_VALUES or len(set(values)) != len(values):
                raise InvalidValue(
                    f"an enum takes 1 to {MAX_ENUM_VALUES} distinct enum_values",
                    field=f"{where}.enum_values",
                )
            if any(not v or len(v) > 1024 or "\x00" in v for v in values):
                raise InvalidValue(
                    "each enum value is 1 to 1024 characters", field=f"{where}.enum_values"
                )
        elif out.enum_values:
            raise InvalidValue("only an enum takes enum_values", field=f"{where}.enum_values")
        if http:
            if out.origin not in ORIGINS:
                raise InvalidValue(
                    "an output of the HTTP trigger has an origin: path, query, header or body",
                    field=f"{where}.origin",
                )
            if out.type.is_file and out.origin != "body":
                raise InvalidValue(
                    "a file or directory comes from the body (a multipart upload)",
                    field=f"{where}.origin",
                )
        elif out.origin:
            raise InvalidValue(
                "only outputs of the HTTP trigger have an origin", field=f"{where}.origin"
            )
        if len(out.help) > MAX_HELP_LENGTH or len(out.human_name) > 128:
            raise InvalidValue(
                "human_name is at most 128 characters and help at most 10000",
                field=f"{where}.help",
            )
        checked.append(replace(out, default=None, has_default=False))
    return tuple(checked)


def input_problem(spec: IoSpec, source: InputSource | None, *, variables: Variables) -> str | None:
    """Why a static value or a variable does not fit ``spec`` (references are checked with the
    graph); None when it fits."""
    if isinstance(source, StaticInput):
        return value_problem(spec, source.value)
    if isinstance(source, VariableInput):
        variable = variables.get(source.variable_id)
        if variable is None:
            return None  # a dangling reference, reported as such
        if spec.type is IoType.ENUM and variable.type is VariableType.STRING:
            if variable.value not in spec.enum_values:
                return f"variable {variable.name} holds a value {spec.name} does not take"
        elif not compatible(variable.as_output, spec):
            return (
                f"variable {variable.name} is of type {variable.type.value}; "
                f"{spec.name} is of type {spec.type.value}"
            )
    return None


@dataclass(kw_only=True)
class Workflow:
    id: str
    project_id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    revision: int = 1
    steps: list[Step] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    endpoint: Endpoint | None = None
    deployment: Deployment = field(default_factory=Deployment)
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls, *, id: str, project_id: str, name: str, description: str, at: datetime
    ) -> "Workflow":
        return cls(
            id=id,
            project_id=project_id,
            name=check_name(name),
            description=check_description(description),
            created_at=at,
            updated_at=at,
        )

    @classmethod
    def from_graph(
        cls,
        *,
        id: str,
        project_id: str,
        name: str,
        description: str,
        graph: "Graph",
        at: datetime,
    ) -> "Workflow":
        """A new workflow holding a document's graph (an import)."""
        workflow = cls.create(id=id, project_id=project_id, name=name, description="", at=at)
        workflow.replace_graph(graph=graph, name=name, description=description, at=at)
        workflow.revision = 1
        return workflow

    def copy(
        self,
        *,
        id: str,
        name: str,
        description: str | None = None,
        at: datetime,
        files: Mapping[str, FileValue],
    ) -> "Workflow":
        """A new, undeployed workflow with the same graph; ``files`` maps each static file's
        key to its copy. The endpoint stays behind: its path is unique in the project."""

        def copied(source: InputSource) -> InputSource:
            if isinstance(source, StaticInput) and isinstance(source.value, FileValue):
                return StaticInput(value=files.get(source.value.key, source.value))
            return source

        return Workflow(
            id=id,
            project_id=self.project_id,
            name=check_name(name),
            description=check_description(description or self.description),
            created_at=at,
            updated_at=at,
            steps=[
                replace(s, inputs={k: copied(v) for k, v in s.inputs.items()}) for s in self.steps
            ],
            links=list(self.links),
            results=list(self.results),
        )

    # reading ------------------------------------------------------------------------------

    def step(self, step_id: str, *, field: str = "step_id") -> Step:
        found = next((s for s in self.steps if s.id == step_id), None)
        if found is None:
            raise NotFound(f"step {step_id!r} is not in workflow {self.name!r}", field=field)
        return found

    def has_step(self, step_id: str) -> bool:
        return any(s.id == step_id for s in self.steps)

    @property
    def trigger(self) -> Step | None:
        return next((s for s in self.steps if s.is_trigger), None)

    def parents(self, step_id: str) -> list[str]:
        return [link.from_step_id for link in self.links if link.to_step_id == step_id]

    def ancestors(self, step_id: str) -> set[str]:
        """Every step upstream of ``step_id`` (safe on a graph with cycles)."""
        seen: set[str] = set()
        todo = deque(self.parents(step_id))
        while todo:
            current = todo.popleft()
            if current not in seen:
                seen.add(current)
                todo.extend(self.parents(current))
        return seen

    def outputs_of(self, step: Step, catalog: Catalog) -> tuple[IoSpec, ...]:
        version = catalog.get(step.action.version_id)
        declared = version.outputs if version is not None else ()
        return declared + step.dynamic_outputs

    def file_values(self) -> Iterator[FileValue]:
        for step in self.steps:
            for source in step.inputs.values():
                if isinstance(source, StaticInput) and isinstance(source.value, FileValue):
                    yield source.value

    def variable_ids(self) -> set[str]:
        return {
            source.variable_id
            for step in self.steps
            for source in step.inputs.values()
            if isinstance(source, VariableInput)
        }

    def action_version_ids(self) -> set[str]:
        return {s.action.version_id for s in self.steps}

    @property
    def differs_from_deployed(self) -> bool:
        """Edited since the revision the runner runs (or is deploying)."""
        d = self.deployment
        reference = d.deployed_revision
        if d.status is DeploymentStatus.DEPLOYING and d.requested_revision is not None:
            reference = d.requested_revision
        return reference is not None and reference != self.revision

    # editing ------------------------------------------------------------------------------

    def _touch(self, at: datetime) -> None:
        self.revision += 1
        self.updated_at = at

    def rename(self, *, name: str | None, description: str | None, at: datetime) -> None:
        if name is None and description is None:
            return
        if name is not None:
            self.name = check_name(name)
        if description is not None:
            self.description = check_description(description)
        self._touch(at)

    def _new_step_id(self, base: str) -> str:
        slug = re.sub(r"[^a-z0-9_-]+", "-", base.lower()).strip("-_")[:56] or "step"
        taken = {s.id for s in self.steps}
        if slug not in taken:
            return slug
        return next(f"{slug}-{n}" for n in range(2, MAX_STEPS + 2) if f"{slug}-{n}" not in taken)

    def add_step(
        self,
        *,
        action: ActionVersion,
        after_step_id: str | None,
        name: str | None,
        position: Position | None,
        at: datetime,
    ) -> Step:
        """Add a step running ``action``, linked after ``after_step_id`` when given."""
        if len(self.steps) >= MAX_STEPS:
            raise Conflict(f"a workflow holds at most {MAX_STEPS} steps", code="too_many_steps")
        parent = self.step(after_step_id, field="after_step_id") if after_step_id else None
        if action.is_trigger:
            if parent is not None:
                raise InvalidValue(
                    f"{action.name} is a trigger: it starts the workflow and has no parent",
                    field="after_step_id",
                    code="trigger_has_parent",
                )
            if self.trigger is not None:
                raise Conflict(
                    f"the workflow already starts with {self.trigger.name!r}; one trigger per "
                    "workflow (remove it first)",
                    field="action_id",
                    code="multiple_triggers",
                )
        step = Step(
            id=self._new_step_id(action.name),
            name=check_name(name or action.human_name or action.name, what="step name"),
            action=ActionRef.of(action),
            position=position,
        )
        self.steps.append(step)
        if parent is not None:
            self.links.append(Link(from_step_id=parent.id, to_step_id=step.id))
        self._touch(at)
        return step

    def remove_step(self, *, step_id: str, at: datetime) -> Removed:
        """Remove the step, its links, and what referred to its outputs."""
        step = self.step(step_id)
        self.steps.remove(step)
        links = tuple(
            link for link in self.links if step_id in (link.from_step_id, link.to_step_id)
        )
        self.links = [link for link in self.links if link not in links]
        inputs = self._drop_references(
            lambda ref: ref.step_id == step_id, reason=f"step {step_id} was removed"
        )
        results = self._drop_results(lambda result: result.source.step_id == step_id)
        endpoint = step.action.builtin_trigger == HTTP_API and self._drop_endpoint()
        self._touch(at)
        return Removed(links=links, inputs=inputs, results=results, endpoint=endpoint)

    def _drop_references(
        self, doomed: Callable[[StepOutput], bool], *, reason: str
    ) -> tuple[RemovedInput, ...]:
        removed = []
        for other in self.steps:
            for name, source in list(other.inputs.items()):
                if isinstance(source, StepOutput) and doomed(source):
                    del other.inputs[name]
                    removed.append(RemovedInput(step_id=other.id, input=name, reason=reason))
        return tuple(removed)

    def _drop_results(self, doomed: Callable[[Result], bool]) -> tuple[str, ...]:
        gone = tuple(r.key for r in self.results if doomed(r))
        self.results = [r for r in self.results if r.key not in gone]
        return gone

    def _drop_endpoint(self) -> bool:
        had = self.endpoint is not None
        self.endpoint = None
        return had

    def edit_step(
        self,
        *,
        step_id: str,
        name: str | None = None,
        position: Position | None = None,
        action: ActionVersion | None = None,
        dynamic_outputs: Sequence[IoSpec] | None = None,
        catalog: Catalog,
        variables: Variables,
        at: datetime,
    ) -> Removed:
        """Rename or move a step, replace its action version, define its dynamic outputs;
        answers what a new version took away."""
        step = self.step(step_id)
        current = catalog.get(step.action.version_id)
        target = action or current
        if target is None:
            raise Conflict(
                f"step {step_id} runs {step.action.name} {step.action.version}, which is no "
                "longer in the library: choose another version (action_version)",
                field="action_version",
                code="unknown_action_version",
            )
        outputs = (
            check_dynamic_outputs(dynamic_outputs, action=target)
            if dynamic_outputs is not None
            else None
        )
        if name is not None:
            step.name = check_name(name, what="step name")
        if position is not None:
            step.position = position
        removed = Removed()
        if action is not None and action.id != step.action.version_id:
            removed = self._replace_version(step, action, catalog=catalog, variables=variables)
        if outputs is not None:
            removed = self._merge(removed, self._set_dynamic_outputs(step, outputs, catalog))
        self._touch(at)
        return removed

    @staticmethod
    def _merge(a: Removed, b: Removed) -> Removed:
        return Removed(
            links=a.links + b.links,
            inputs=a.inputs + b.inputs,
            results=a.results + b.results,
            dynamic_outputs=a.dynamic_outputs + b.dynamic_outputs,
            endpoint=a.endpoint or b.endpoint,
        )

    def _replace_version(
        self, step: Step, action: ActionVersion, *, catalog: Catalog, variables: Variables
    ) -> Removed:
        links: tuple[Link, ...] = ()
        if action.is_trigger and not step.is_trigger:
            other = self.trigger
            if other is not None:
                raise Conflict(
                    f"{action.name} {action.version} is a trigger and the workflow already "
                    f"starts with {other.name!r}",
                    field="action_version",
                    code="multiple_triggers",
                )
            links = tuple(link for link in self.links if link.to_step_id == step.id)
            self.links = [link for link in self.links if link not in links]
        was_http = step.action.builtin_trigger == HTTP_API
        step.action = ActionRef.of(action)
        inputs: list[RemovedInput] = []
        for name, source in list(step.inputs.items()):
            spec = action.input(name)
            reason = None
            if spec is None:
                reason = f"{action.name} {action.version} has no input {name}"
            elif isinstance(source, StepOutput):
                upstream = next((s for s in self.steps if s.id == source.step_id), None)
                out = next(
                    (
                        o
                        for o in (self.outputs_of(upstream, catalog) if upstream else ())
                        if o.name == source.output
                    ),
                    None,
                )
                if out is not None and not compatible(out, spec):
                    reason = f"output {source.output} of {source.step_id} no longer fits"
            else:
                problem = input_problem(spec, source, variables=variables)
                reason = f"the value no longer fits: {problem}" if problem else None
            if reason is not None:
                del step.inputs[name]
                inputs.append(RemovedInput(step_id=step.id, input=name, reason=reason))
        dynamic: tuple[str, ...] = ()
        if not action.dynamic_outputs and step.dynamic_outputs:
            dynamic = tuple(o.name for o in step.dynamic_outputs)
            step.dynamic_outputs = ()
        elif action.builtin_trigger != HTTP_API and any(o.origin for o in step.dynamic_outputs):
            step.dynamic_outputs = tuple(replace(o, origin="") for o in step.dynamic_outputs)
        gone = self._outputs_gone(step, catalog={**catalog, action.id: action})
        endpoint = was_http and action.builtin_trigger != HTTP_API and self._drop_endpoint()
        return Removed(
            links=links,
            inputs=tuple(inputs) + gone.inputs,
            results=gone.results,
            dynamic_outputs=dynamic,
            endpoint=endpoint,
        )

    def _outputs_gone(self, step: Step, *, catalog: Catalog) -> Removed:
        """Drop the references to outputs of ``step`` that it no longer has, or that no
        longer fit their input."""
        outputs = {o.name: o for o in self.outputs_of(step, catalog)}

        def doomed(ref: StepOutput) -> bool:
            return ref.step_id == step.id and ref.output not in outputs

        inputs = self._drop_references(doomed, reason=f"{step.id} no longer has that output")
        unfit = []
        for other in self.steps:
            version = catalog.get(other.action.version_id)
            for name, source in list(other.inputs.items()):
                if not isinstance(source, StepOutput) or source.step_id != step.id:
                    continue
                spec = version.input(name) if version else None
                if spec is not None and not compatible(outputs[source.output], spec):
                    del other.inputs[name]
                    unfit.append(
                        RemovedInput(
                            step_id=other.id,
                            input=name,
                            reason=f"output {source.output} of {step.id} no longer fits",
                        )
                    )
        results = self._drop_results(
            lambda r: r.source.step_id == step.id and r.source.output not in outputs
        )
        return Removed(inputs=inputs + tuple(unfit), results=results)

    def _set_dynamic_outputs(
        self, step: Step, outputs: tuple[IoSpec, ...], catalog: Catalog
    ) -> Removed:
        before = {o.name for o in step.dynamic_outputs}
        step.dynamic_outputs = outputs
        gone = self._outputs_gone(step, catalog=catalog)
        dropped = tuple(sorted(before - {o.name for o in outputs}))
        return replace(gone, dynamic_outputs=dropped)

    def set_links(self, *, links: Sequence[Link], at: datetime) -> None:
        """Replace every link. Refused: unknown steps, a link to itself, a duplicate, a link
        into the trigger, a cycle."""
        if len(links) > MAX_LINKS:
            raise InvalidValue(f"a workflow holds at most {MAX_LINKS} links", field="links")
        seen: set[Link] = set()
        for i, link in enumerate(links):
            self.step(link.from_step_id, field=f"links[{i}].from_step_id")
            target = self.step(link.to_step_id, field=f"links[{i}].to_step_id")
            if link.from_step_id == link.to_step_id:
                raise InvalidValue(
                    f"step {link.from_step_id} cannot be linked to itself",
                    field=f"links[{i}]",
                    code="self_link",
                )
            if link in seen:
                raise InvalidValue(
                    f"the link {link.from_step_id} -> {link.to_step_id} is given twice",
                    field=f"links[{i}]",
                    code="duplicate_link",
                )
            if target.is_trigger:
                raise InvalidValue(
                    f"step {target.id} is the trigger: nothing comes before it",
                    field=f"links[{i}].to_step_id",
                    code="trigger_has_parent",
                )
            seen.add(link)
        cycles = find_cycles([s.id for s in self.steps], links)
        if cycles:
            path = " -> ".join([*cycles[0], cycles[0][0]])
            raise InvalidValue(f"these links make a cycle: {path}", field="links", code="cycle")
        self.links = list(links)
        self._touch(at)

    def set_input(
        self,
        *,
        step_id: str,
        name: str,
        source: InputSource,
        catalog: Catalog,
        variables: Variables,
        at: datetime,
    ) -> None:
        step = self.step(step_id)
        spec = self._input_spec(step, name, catalog)
        if isinstance(source, StaticInput):
            source = StaticInput(value=check_value(spec, source.value))
        elif isinstance(source, StepOutput):
            upstream = self.step(source.step_id, field="from.step_id")
            if upstream.id not in self.ancestors(step.id):
                raise InvalidValue(
                    f"step {upstream.id} is not upstream of {step.id}: link it before first",
                    field="from.step_id",
                    code="not_upstream",
                )
            out = next(
                (o for o in self.outputs_of(upstream, catalog) if o.name == source.output), None
            )
            if out is None:
                raise InvalidValue(
                    f"step {upstream.id} has no output {source.output!r}",
                    field="from.output",
                    code="unknown_output",
                )
            if not compatible(out, spec):
                raise InvalidValue(
                    f"output {out.name} ({out.type.value}) does not fit input {name} "
                    f"({spec.type.value})",
                    field="from.output",
                    code="type_mismatch",
                )
        else:
            variable = variables.get(source.variable_id)
            if variable is None:
                raise NotFound(f"variable {source.variable_id} not found", field="variable_id")
            problem = input_problem(spec, source, variables=variables)
            if problem is not None:
                raise InvalidValue(problem, field="variable_id", code="type_mismatch")
        step.inputs[name] = source
        self._touch(at)

    def unset_input(self, *, step_id: str, name: str, catalog: Catalog, at: datetime) -> None:
        """Forget the input's value: it takes its default again (if any)."""
        step = self.step(step_id)
        if name not in step.inputs:
            self._input_spec(step, name, catalog)
            return
        del step.inputs[name]
        self._touch(at)

    def _input_spec(self, step: Step, name: str, catalog: Catalog) -> IoSpec:
        version = catalog.get(step.action.version_id)
        if version is None:
            raise Conflict(
                f"step {step.id} runs {step.action.name} {step.action.version}, which is no "
                "longer in the library; choose another version first",
                field="step_id",
                code="unknown_action_version",
            )
        spec = version.input(name)
        if spec is None:
            raise NotFound(f"{version.name} {version.version} has no input {name!r}", field="name")
        return spec

    def set_results(self, *, results: Sequence[Result], catalog: Catalog, at: datetime) -> None:
        if len(results) > MAX_RESULTS:
            raise InvalidValue(f"at most {MAX_RESULTS} results", field="results")
        keys: set[str] = set()
        for i, result in enumerate(results):
            check_result_key(result.key, field=f"results[{i}].key")
            if result.key in keys:
                raise InvalidValue(
                    f"result key {result.key} is given twice",
                    field=f"results[{i}].key",
                    code="duplicate_result_key",
                )
            keys.add(result.key)
            step = self.step(result.source.step_id, field=f"results[{i}].from.step_id")
            if all(o.name != result.source.output for o in self.outputs_of(step, catalog)):
                raise InvalidValue(
                    f"step {step.id} has no output {result.source.output!r}",
                    field=f"results[{i}].from.output",
                    code="unknown_output",
                )
        self.results = list(results)
        self._touch(at)

    def set_endpoint(self, *, endpoint: Endpoint, at: datetime) -> None:
        trigger = self.trigger
        if trigger is None or trigger.action.builtin_trigger != HTTP_API:
            raise Conflict(
                "only a workflow started by the HTTP API trigger has an endpoint; add that "
                "trigger first",
                code="no_http_trigger",
            )
        self.endpoint = endpoint
        self._touch(at)

    def replace_graph(self, *, graph: Graph, name: str, description: str, at: datetime) -> None:
        """Replace the whole workflow by a document's. The document must hold together
        (unique step ids, links and references between its own steps, inputs its actions
        declare, values of the right type); the graph's rules are then reported by
        ``validate()``, so a work in progress can be saved."""
        if len(graph.steps) > MAX_STEPS:
            raise InvalidValue(f"a workflow holds at most {MAX_STEPS} steps", field="spec.steps")
        if len(graph.links) > MAX_LINKS:
            raise InvalidValue(f"a workflow holds at most {MAX_LINKS} links", field="spec.links")
        ids: set[str] = set()
        steps = []
        for i, g in enumerate(graph.steps):
            where = f"spec.steps[{i}]"
            check_step_id(g.id, field=f"{where}.id")
            if g.id in ids:
                raise InvalidValue(f"step id {g.id} is used twice", field=f"{where}.id")
            ids.add(g.id)
            outputs = check_dynamic_outputs(g.dynamic_outputs, action=g.action)
            inputs: dict[str, InputSource] = {}
            for input_name, source in g.inputs.items():
                spec = g.action.input(input_name)
                if spec is None:
                    raise InvalidValue(
                        f"{g.action.name} {g.action.version} has no input {input_name!r}",
                        field=f"{where}.inputs.{input_name}",
                    )
                if isinstance(source, StaticInput):
                    source = StaticInput(
                        value=check_value(spec, source.value, field=f"{where}.inputs.{input_name}")
                    )
                inputs[input_name] = source
            steps.append(
                Step(
                    id=g.id,
                    name=check_name(g.name, field=f"{where}.name", what="step name"),
                    action=ActionRef.of(g.action),
                    inputs=inputs,
                    dynamic_outputs=outputs,
                    position=g.position,
                )
            )
        for i, g in enumerate(graph.steps):
            for input_name, source in g.inputs.items():
                if isinstance(source, StepOutput) and source.step_id not in ids:
                    raise InvalidValue(
                        f"no step {source.step_id!r} in the document",
                        field=f"spec.steps[{i}].inputs.{input_name}.from.step_id",
                    )
        seen: set[Link] = set()
        for i, link in enumerate(graph.links):
            for end, step_id in (
                ("from_step_id", link.from_step_id),
                ("to_step_id", link.to_step_id),
            ):
                if step_id not in ids:
                    raise InvalidValue(
                        f"no step {step_id!r} in the document", field=f"spec.links[{i}].{end}"
                    )
            if link in seen:
                raise InvalidValue("this link is given twice", field=f"spec.links[{i}]")
            seen.add(link)
        keys: set[str] = set()
        for i, result in enumerate(graph.results):
            check_result_key(result.key, field=f"spec.results[{i}].key")
            if result.key in keys:
                raise InvalidValue(
                    f"result key {result.key} is given twice", field=f"spec.results[{i}].key"
                )
            keys.add(result.key)
            if result.source.step_id not in ids:
                raise InvalidValue(
                    f"no step {result.source.step_id!r} in the document",
                    field=f"spec.results[{i}].from.step_id",
                )
        if graph.endpoint is not None and not any(
            g.action.builtin_trigger == HTTP_API for g in graph.steps
        ):
            raise InvalidValue(
                "only a workflow started by the HTTP API trigger has an endpoint",
                field="spec.endpoint",
            )
        self.name = check_name(name, field="metadata.name")
        self.description = check_description(description, field="metadata.description")
        self.steps = steps
        self.links = list(graph.links)
        self.results = list(graph.results)
        self.endpoint = graph.endpoint
        self._touch(at)

    # validation ---------------------------------------------------------------------------

    def validate(self, *, catalog: Catalog, variables: Variables) -> list[Issue]:
        """Every reason the workflow cannot be deployed, in a stable order."""
        issues: list[Issue] = []
        kinds = {}
        for step in self.steps:
            version = catalog.get(step.action.version_id)
            kinds[step.id] = version.kind if version else step.action.kind
            if version is None:
                issues.append(
                    Issue(
                        code="unknown_action_version",
                        message=f"{step.action.name} {step.action.version} is not in the "
                        "library (deleted?): choose another version",
                        step_id=step.id,
                        field="action_version",
                    )
                )
        triggers = [s for s in self.steps if kinds[s.id] is ActionKind.SOURCE]
        if not triggers:
            issues.append(
                Issue(code="no_trigger", message="the workflow has no trigger (a Source action)")
            )
        for extra in triggers[1:]:
            issues.append(
                Issue(
                    code="multiple_triggers",
                    message=f"{extra.name!r} is a second trigger; a workflow has one",
                    step_id=extra.id,
                )
            )
        trigger_ids = {t.id for t in triggers}
        for link in self.links:
            if link.to_step_id in trigger_ids:
                issues.append(
                    Issue(
                        code="trigger_has_parent",
                        message=f"trigger {link.to_step_id} has a parent ({link.from_step_id})",
                        step_id=link.to_step_id,
                        field="links",
                    )
                )
        cycles = find_cycles([s.id for s in self.steps], self.links)
        for cycle in cycles:
            issues.append(
                Issue(
                    code="cycle",
                    message="these steps form a cycle: " + " -> ".join([*cycle, cycle[0]]),
                    step_id=cycle[0],
                    field="links",
                )
            )
        if len(triggers) == 1:
            reachable = self._reachable_from(triggers[0].id)
            for step in self.steps:
                if step.id not in reachable and step.id not in trigger_ids:
                    issues.append(
                        Issue(
                            code="unreachable_step",
                            message=f"{step.name!r} is not linked after the trigger; it would "
                            "never run",
                            step_id=step.id,
                        )
                    )
        for step in self.steps:
            issues.extend(self._step_issues(step, catalog, variables))
        issues.extend(self._result_issues(catalog))
        issues.extend(self._endpoint_issues(triggers))
        return issues

    def _reachable_from(self, start: str) -> set[str]:
        seen = {start}
        todo = deque([start])
        while todo:
            current = todo.popleft()
            for link in self.links:
                if link.from_step_id == current and link.to_step_id not in seen:
                    seen.add(link.to_step_id)
                    todo.append(link.to_step_id)
        return seen

    def _step_issues(self, step: Step, catalog: Catalog, variables: Variables) -> list[Issue]:
        version = catalog.get(step.action.version_id)
        if version is None:
            return []
        issues = []

        def issue(code: str, message: str, name: str) -> None:
            issues.append(
                Issue(code=code, message=message, step_id=step.id, field=f"inputs.{name}")
            )

        for name in step.inputs:
            if version.input(name) is None:
                issue(
                    "unknown_input", f"{version.name} {version.version} has no input {name}", name
                )
        if step.dynamic_outputs and not version.dynamic_outputs:
            issues.append(
                Issue(
                    code="dynamic_outputs_not_allowed",
                    message=f"{version.name} {version.version} does not take dynamic outputs",
                    step_id=step.id,
                    field="dynamic_outputs",
                )
            )
        ancestors = self.ancestors(step.id)
        for spec in version.inputs:
            source = step.inputs.get(spec.name)
            if source is None:
                if spec.required:
                    issue(
                        "required_input_missing",
                        f"input {spec.name} of {step.name!r} is required and has no value",
                        spec.name,
                    )
            elif isinstance(source, StaticInput) and source.value is None and not spec.optional:
                issue(
                    "required_input_missing",
                    f"input {spec.name} of {step.name!r} is required and is null",
                    spec.name,
                )
            elif isinstance(source, StepOutput):
                upstream = next((s for s in self.steps if s.id == source.step_id), None)
                out = next(
                    (
                        o
                        for o in (self.outputs_of(upstream, catalog) if upstream else ())
                        if o.name == source.output
                    ),
                    None,
                )
                if upstream is None or (out is None and upstream.action.version_id in catalog):
                    issue(
                        "dangling_reference",
                        f"input {spec.name} refers to {source.step_id}.{source.output}, which "
                        "does not exist",
                        spec.name,
                    )
                elif upstream.id not in ancestors:
                    issue(
                        "not_upstream",
                        f"input {spec.name} refers to {upstream.id}, which is not upstream of "
                        f"{step.id}",
                        spec.name,
                    )
                elif out is not None and not compatible(out, spec):
                    issue(
                        "type_mismatch",
                        f"output {out.name} of {upstream.id} is a {out.type.value}; input "
                        f"{spec.name} is a {spec.type.value}",
                        spec.name,
                    )
            elif isinstance(source, VariableInput) and source.variable_id not in variables:
                issue(
                    "dangling_reference",
                    f"input {spec.name} takes variable {source.variable_id}, which no longer "
                    "exists",
                    spec.name,
                )
            else:
                problem = input_problem(spec, source, variables=variables)
                if problem is not None:
                    issue("type_mismatch", problem, spec.name)
        return issues

    def _result_issues(self, catalog: Catalog) -> list[Issue]:
        issues = []
        for result in self.results:
            upstream = next((s for s in self.steps if s.id == result.source.step_id), None)
            known = upstream is not None and upstream.action.version_id in catalog
            if upstream is None or (
                known
                and all(o.name != result.source.output for o in self.outputs_of(upstream, catalog))
            ):
                issues.append(
                    Issue(
                        code="dangling_reference",
                        message=f"result {result.key} refers to {result.source.step_id}."
                        f"{result.source.output}, which does not exist",
                        step_id=result.source.step_id,
                        field=f"results.{result.key}",
                    )
                )
        return issues

    def _endpoint_issues(self, triggers: list[Step]) -> list[Issue]:
        http = [t for t in triggers if t.action.builtin_trigger == HTTP_API]
        if not http:
            return []
        trigger = http[0]
        if self.endpoint is None:
            return [
                Issue(
                    code="endpoint_missing",
                    message="the HTTP API trigger needs an endpoint (PUT .../endpoint)",
                    step_id=trigger.id,
                    field="endpoint",
                )
            ]
        params = set(self.endpoint.parameters)
        from_path = {o.name for o in trigger.dynamic_outputs if o.origin == "path"}
        issues = []
        for name in sorted(from_path - params):
            issues.append(
                Issue(
                    code="endpoint_path_mismatch",
                    message=f"output {name} comes from the path, but the path has no {{{name}}}",
                    step_id=trigger.id,
                    field="endpoint.path",
                )
            )
        for name in sorted(params - from_path):
            issues.append(
                Issue(
                    code="endpoint_path_mismatch",
                    message=f"path parameter {{{name}}} is no output of origin path",
                    step_id=trigger.id,
                    field="endpoint.path",
                )
            )
        return issues

    # deployment ---------------------------------------------------------------------------

    def request_deployment(
        self,
        *,
        deployment_id: str,
        catalog: Catalog,
        variables: Variables,
        requested_by: str,
        at: datetime,
    ) -> None:
        issues = self.validate(catalog=catalog, variables=variables)
        if issues:
            raise WorkflowInvalid(issues)
        snapshot = self._snapshot(catalog, variables)
        self.deployment.status = DeploymentStatus.DEPLOYING
        self.deployment.message = ""
        self.deployment.deployment_id = deployment_id
        self.deployment.requested_revision = self.revision
        self.deployment.changed_at = at
        self.events.append(
            DeploymentRequested(
                deployment_id=deployment_id,
                workflow_id=self.id,
                project_id=self.project_id,
                revision=self.revision,
                snapshot=snapshot,
                requested_by=requested_by,
                occurred_at=at,
            )
        )

    def request_undeployment(
        self, *, cancel_running: bool, requested_by: str, at: datetime
    ) -> None:
        if self.deployment.status is DeploymentStatus.UNDEPLOYED:
            raise Conflict(f"workflow {self.name!r} is not deployed", code="not_deployed")
        self.deployment.status = DeploymentStatus.UNDEPLOYING
        self.deployment.message = ""
        self.deployment.changed_at = at
        self.events.append(
            UndeploymentRequested(
                workflow_id=self.id,
                project_id=self.project_id,
                cancel_running=cancel_running,
                requested_by=requested_by,
                occurred_at=at,
            )
        )

    def deployment_reported(
        self,
        *,
        status: DeploymentStatus,
        message: str,
        deployment_id: str,
        revision: int,
        sequence: int,
        at: datetime,
    ) -> bool:
        """The runner's report; False (and nothing changes) when an equal or newer one was
        seen already (reports may arrive twice, or out of order)."""
        if sequence <= self.deployment.sequence:
            return False
        d = self.deployment
        d.sequence = sequence
        d.status = status
        d.message = message
        d.deployment_id = deployment_id or d.deployment_id
        d.changed_at = at
        if status is DeploymentStatus.DEPLOYED:
            d.deployed_revision = revision
        elif status is DeploymentStatus.UNDEPLOYED:
            d.deployed_revision = None
        return True

    def check_deletable(self) -> None:
        if self.deployment.status.is_live:
            raise Conflict(
                f"workflow {self.name!r} is {self.deployment.status.value}; undeploy it first",
                field="workflow_id",
                code="workflow_deployed",
            )

    def delete(self, *, requested_by: str, at: datetime) -> None:
        """Refused while deployed. A workflow in error may still hold something on the
        runner: it is asked to undeploy, to be sure."""
        self.check_deletable()
        if self.deployment.status is DeploymentStatus.ERROR:
            self.events.append(
                UndeploymentRequested(
                    workflow_id=self.id,
                    project_id=self.project_id,
                    cancel_running=True,
                    requested_by=requested_by,
                    occurred_at=at,
                )
            )

    def _snapshot(self, catalog: Catalog, variables: Variables) -> WorkflowSnapshot:
        steps = []
        for step in topological_order(self.steps, self.links):
            version = catalog[step.action.version_id]
            bindings = []
            for spec in version.inputs:
                source = step.inputs.get(spec.name)
                if isinstance(source, StepOutput):
                    bindings.append(Binding(input=spec.name, source=source))
                elif isinstance(source, StaticInput):
                    bindings.append(Binding(input=spec.name, value=source.value))
                elif isinstance(source, VariableInput):
                    variable = variables[source.variable_id]
                    value = variable.file if variable.type is VariableType.FILE else variable.value
                    bindings.append(Binding(input=spec.name, value=value))
                elif spec.has_default:
                    bindings.append(Binding(input=spec.name, value=spec.default))
                else:  # an optional input left empty
                    bindings.append(Binding(input=spec.name, value=None))
            r = version.resources
            steps.append(
                StepSnapshot(
                    step_id=step.id,
                    name=step.name,
                    action_id=version.id,
                    action_name=version.name,
                    action_version=version.version,
                    kind=version.kind.value,
                    builtin_trigger=version.builtin_trigger,
                    artifact_ref=version.artifact_ref,
                    resources=SnapshotResources(
                        cpu=r.cpu,
                        memory_bytes=r.memory_bytes,
                        time_seconds=r.time_seconds,
                        gpu=r.gpu,
                    ),
                    inputs=version.inputs,
                    outputs=version.outputs + step.dynamic_outputs,
                    bindings=tuple(bindings),
                    parent_step_ids=tuple(self.parents(step.id)),
                )
            )
        http = self.trigger is not None and self.trigger.action.builtin_trigger == HTTP_API
        return WorkflowSnapshot(
            name=self.name,
            description=self.description,
            steps=tuple(steps),
            results=tuple(self.results),
            endpoint=self.endpoint if http else None,
        )


def find_cycles(step_ids: Sequence[str], links: Sequence[Link]) -> list[list[str]]:
    """The cycles of the graph: each strongly connected component of more than one step, or a
    step linked to itself, as a path of step ids (Tarjan's algorithm, iterative)."""
    position = {s: i for i, s in enumerate(step_ids)}
    edges: dict[str, list[str]] = {s: [] for s in step_ids}
    for link in links:
        if link.from_step_id in edges and link.to_step_id in edges:
            edges[link.from_step_id].append(link.to_step_id)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in step_ids:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if child < len(edges[node]):
                work.append((node, child + 1))
                nxt = edges[node][child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    start = min(component, key=position.__getitem__)
                    components.append(_cycle_path(start, set(component), edges))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(components, key=lambda c: position[c[0]])


def _cycle_path(start: str, members: set[str], edges: Mapping[str, list[str]]) -> list[str]:
    """One cycle through a strongly connected component, from ``start``."""
    path = [start]
    seen = {start}
    current = start
    while True:
        nxt = next(n for n in edges[current] if n in members)
        if nxt == start or nxt in seen:
            if nxt != start:  # a lasso: keep the loop only
                path = path[path.index(nxt) :]
            return path
        path.append(nxt)
        seen.add(nxt)
        current = nxt


def topological_order(steps: Sequence[Step], links: Sequence[Link]) -> list[Step]:
    """Triggers first, then every step after its parents, ties in workflow order (Kahn)."""
    order = {s.id: i for i, s in enumerate(steps)}
    by_id = {s.id: s for s in steps}
    pending = {s.id: 0 for s in steps}
    for link in links:
        pending[link.to_step_id] += 1
    ready = sorted(
        (s.id for s in steps if pending[s.id] == 0),
        key=lambda i: (not by_id[i].is_trigger, order[i]),
    )
    result = []
    while ready:
        current = ready.pop(0)
        result.append(by_id[current])
        for link in links:
            if link.from_step_id == current:
                pending[link.to_step_id] -= 1
                if pending[link.to_step_id] == 0:
                    ready.append(link.to_step_id)
                    ready.sort(key=lambda i: (not by_id[i].is_trigger, order[i]))
    return result
