"""Whole-workflow documents: export, import into a project, and replace a workflow by one.

A document names actions by name and version (``builtin: true`` for the runner's triggers) and
variables by name, so it means the same thing in any project that holds them. Static files
travel beside it in a zip, under ``files/<step id>/<input>/<file name>``. The document's
format is ``docs/reference/workflow-format.md``; parsing it is the edge's job.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oryx_studio.application.filestore import Filestore
from oryx_studio.application.ports import Clock, IdGenerator, UnitOfWork, UnitOfWorkFactory
from oryx_studio.application.workflows import (
    WorkflowView,
    check_endpoint_free,
    check_upload,
    file_key,
    get_workflow,
    safe_file_name,
    view_of,
)
from oryx_studio.domain.errors import InvalidValue
from oryx_studio.domain.graph import (
    Endpoint,
    InputSource,
    Link,
    Position,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
)
from oryx_studio.domain.library import BUILTIN_PROJECT, ActionVersion, builtin_action_id
from oryx_studio.domain.types import FileValue, IoSpec, IoType
from oryx_studio.domain.workflows import Graph, GraphStep, Workflow

API_VERSION = "oryx.dev/v1"
KIND = "Workflow"
DOCUMENT_FILE = "workflow.yaml"


@dataclass(frozen=True, kw_only=True)
class DocVariable:
    name: str


@dataclass(frozen=True, kw_only=True)
class DocFile:
    path: str
    """The file's path in the zip: ``files/<step id>/<input>/<file name>``."""


DocInput = StaticInput | StepOutput | DocVariable | DocFile


@dataclass(frozen=True, kw_only=True)
class DocStep:
    id: str
    name: str
    action: str
    version: str
    builtin: bool = False
    inputs: Mapping[str, DocInput] = field(default_factory=dict)
    dynamic_outputs: tuple[IoSpec, ...] = ()
    position: Position | None = None


@dataclass(frozen=True, kw_only=True)
class WorkflowDocument:
    name: str
    description: str = ""
    steps: tuple[DocStep, ...] = ()
    links: tuple[Link, ...] = ()
    results: tuple[Result, ...] = ()
    endpoint: Endpoint | None = None


@dataclass(frozen=True, kw_only=True)
class Missing:
    """Something a document needs that the project does not hold."""

    kind: str
    """``action``, ``variable`` or ``file``."""
    name: str
    version: str | None
    field: str


class MissingDependencies(InvalidValue):
    code = "missing_dependencies"

    def __init__(self, missing: Sequence[Missing]) -> None:
        parts = []
        for m in missing[:20]:
            what = f"{m.kind} {m.name}" + (f" {m.version}" if m.version else "")
            parts.append(what)
        super().__init__(
            "the project lacks what the workflow needs: " + ", ".join(parts), field="spec"
        )
        self.missing = tuple(missing)


@dataclass(frozen=True, kw_only=True)
class Exported:
    document: dict[str, Any]
    files: dict[str, bytes]
    """Zip paths to bytes; empty unless asked for and the workflow has static files."""


def file_path(step_id: str, input_name: str, file_name: str) -> str:
    return f"files/{step_id}/{input_name}/{file_name}"


def _io_document(spec: IoSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"name": spec.name, "type": spec.type.value}
    if spec.origin:
        out["origin"] = spec.origin
    if spec.optional:
        out["optional"] = True
    if spec.enum_values:
        out["enum_values"] = list(spec.enum_values)
    if spec.human_name:
        out["human_name"] = spec.human_name
    if spec.help:
        out["help"] = spec.help
    return out


def to_document(workflow: Workflow, *, variable_names: Mapping[str, str]) -> dict[str, Any]:
    """The workflow as a document (plain data, ready for YAML or JSON)."""
    steps = []
    for step in workflow.steps:
        doc: dict[str, Any] = {
            "id": step.id,
            "name": step.name,
            "action": step.action.name,
            "version": step.action.version,
        }
        if step.action.builtin_trigger:
            doc["builtin"] = True
        if step.position is not None:
            doc["position"] = {"x": step.position.x, "y": step.position.y}
        inputs: dict[str, Any] = {}
        for name in sorted(step.inputs):
            source = step.inputs[name]
            if isinstance(source, StepOutput):
                inputs[name] = {"from": {"step_id": source.step_id, "output": source.output}}
            elif isinstance(source, VariableInput):
                if source.variable_id in variable_names:  # a dangling one is left out
                    inputs[name] = {"variable": variable_names[source.variable_id]}
            elif isinstance(source.value, FileValue):
                inputs[name] = {"file": file_path(step.id, name, source.value.name)}
            else:
                inputs[name] = {"value": source.value}
        if inputs:
            doc["inputs"] = inputs
        if step.dynamic_outputs:
            doc["dynamic_outputs"] = [_io_document(o) for o in step.dynamic_outputs]
        steps.append(doc)
    spec: dict[str, Any] = {
        "steps": steps,
        "links": [
            {"from_step_id": k.from_step_id, "to_step_id": k.to_step_id} for k in workflow.links
        ],
        "results": [
            {"key": r.key, "from": {"step_id": r.source.step_id, "output": r.source.output}}
            for r in workflow.results
        ],
    }
    if workflow.endpoint is not None:
        e = workflow.endpoint
        spec["endpoint"] = {
            "path": e.path,
            "method": e.method.value,
            "success_code": e.success_code,
            "timeout_seconds": e.timeout_seconds,
        }
    metadata: dict[str, Any] = {"name": workflow.name}
    if workflow.description:
        metadata["description"] = workflow.description
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": spec}


class Documents:
    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        filestore: Filestore,
        clock: Clock,
        ids: IdGenerator,
        max_file_bytes: int,
    ) -> None:
        self._uow = uow
        self._files = filestore
        self._clock = clock
        self._ids = ids
        self._max_file_bytes = max_file_bytes

    async def export(self, *, project_id: str, workflow_id: str, with_files: bool) -> Exported:
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            variables = await uow.variables.many(project_id=project_id, ids=workflow.variable_ids())
        document = to_document(workflow, variable_names={k: v.name for k, v in variables.items()})
        files: dict[str, bytes] = {}
        if with_files:
            for step in workflow.steps:
                for name, source in step.inputs.items():
                    if isinstance(source, StaticInput) and isinstance(source.value, FileValue):
                        path = file_path(step.id, name, source.value.name)
                        files[path] = await self._files.get(source.value.key)
        return Exported(document=document, files=files)

    async def import_document(
        self,
        *,
        project_id: str,
        document: WorkflowDocument,
        files: Mapping[str, bytes],
        name: str | None = None,
    ) -> WorkflowView:
        """Create a workflow from a document; ``MissingDependencies`` lists every action,
        variable and file the project lacks."""
        now = self._clock.now()
        draft = Workflow.create(
            id=self._ids.new(), project_id=project_id, name=name or document.name,
            description="", at=now,
        )  # fmt: skip
        async with self._uow() as uow:
            graph, stored = await self._resolve(uow, draft, document, files)
            try:
                workflow = Workflow.from_graph(
                    id=draft.id,
                    project_id=project_id,
                    name=name or document.name,
                    description=document.description,
                    graph=graph,
                    at=now,
                )
                uow.workflows.add(workflow)
                await uow.commit()
            except BaseException:
                for key in stored:
                    await self._files.delete(key)
                raise
            return await view_of(uow, workflow)

    async def replace(
        self, *, project_id: str, workflow_id: str, document: WorkflowDocument
    ) -> WorkflowView:
        """``PUT`` with a whole document. Static files the workflow already holds are kept
        when the document names them by the path an export gives them."""
        async with self._uow() as uow:
            workflow = await get_workflow(uow, project_id=project_id, workflow_id=workflow_id)
            graph, stored = await self._resolve(uow, workflow, document, {})
            try:
                workflow.replace_graph(
                    graph=graph,
                    name=document.name,
                    description=document.description,
                    at=self._clock.now(),
                )
                await uow.commit()
            except BaseException:
                for key in stored:
                    await self._files.delete(key)
                raise
            return await view_of(uow, workflow)

    async def _version(
        self, uow: UnitOfWork, project_id: str, step: DocStep
    ) -> ActionVersion | None:
        if step.builtin:
            action = await uow.actions.get(
                project_id=BUILTIN_PROJECT, action_id=builtin_action_id(step.action)
            )
        else:
            action = await uow.actions.by_name(project_id=project_id, name=step.action)
        return action.version(step.version) if action is not None else None

    async def _resolve(
        self,
        uow: UnitOfWork,
        workflow: Workflow,
        document: WorkflowDocument,
        files: Mapping[str, bytes],
    ) -> tuple[Graph, list[str]]:
        project_id = workflow.project_id
        kept_files = {
            file_path(step.id, name, source.value.name): source.value
            for step in workflow.steps
            for name, source in step.inputs.items()
            if isinstance(source, StaticInput) and isinstance(source.value, FileValue)
        }
        missing: list[Missing] = []
        versions: list[ActionVersion | None] = []
        for i, step in enumerate(document.steps):
            version = await self._version(uow, project_id, step)
            versions.append(version)
            if version is None:
                missing.append(
                    Missing(
                        kind="action",
                        name=step.action,
                        version=step.version,
                        field=f"spec.steps[{i}].action",
                    )
                )
        variable_ids: dict[str, str] = {}
        for i, step in enumerate(document.steps):
            for input_name, source in step.inputs.items():
                where = f"spec.steps[{i}].inputs.{input_name}"
                if isinstance(source, DocVariable) and source.name not in variable_ids:
                    variable = await uow.variables.by_name(project_id=project_id, name=source.name)
                    if variable is None:
                        missing.append(
                            Missing(kind="variable", name=source.name, version=None, field=where)
                        )
                    else:
                        variable_ids[source.name] = variable.id
                elif (
                    isinstance(source, DocFile)
                    and source.path not in files
                    and source.path not in kept_files
                ):
                    missing.append(
                        Missing(kind="file", name=source.path, version=None, field=where)
                    )
        if missing:
            raise MissingDependencies(missing)
        if document.endpoint is not None:
            await check_endpoint_free(uow, workflow, document.endpoint)
        stored: list[str] = []
        steps = []
        try:
            for i, (step, version) in enumerate(zip(document.steps, versions, strict=True)):
                assert version is not None
                inputs: dict[str, InputSource] = {}
                for input_name, source in step.inputs.items():
                    if isinstance(source, DocVariable):
                        inputs[input_name] = VariableInput(variable_id=variable_ids[source.name])
                    elif isinstance(source, DocFile):
                        inputs[input_name] = await self._file_input(
                            workflow, version, input_name, source, files, kept_files, stored,
                            field=f"spec.steps[{i}].inputs.{input_name}",
                        )  # fmt: skip
                    else:
                        inputs[input_name] = source
                steps.append(
                    GraphStep(
                        id=step.id,
                        name=step.name,
                        action=version,
                        inputs=inputs,
                        dynamic_outputs=step.dynamic_outputs,
                        position=step.position,
                    )
                )
        except BaseException:
            for key in stored:
                await self._files.delete(key)
            raise
        graph = Graph(
            steps=tuple(steps),
            links=document.links,
            results=document.results,
            endpoint=document.endpoint,
        )
        return graph, stored

    async def _file_input(
        self,
        workflow: Workflow,
        version: ActionVersion,
        input_name: str,
        source: DocFile,
        files: Mapping[str, bytes],
        kept: Mapping[str, FileValue],
        stored: list[str],
        *,
        field: str,
    ) -> StaticInput:
        if source.path not in files:
            return StaticInput(value=kept[source.path])
        spec = version.input(input_name)
        if spec is None:
            raise InvalidValue(
                f"{version.name} {version.version} has no input {input_name!r}", field=field
            )
        try:
            check_upload(spec, data=files[source.path], max_bytes=self._max_file_bytes)
        except InvalidValue as exc:
            raise InvalidValue(exc.message, field=field, code=exc.code) from None
        name = safe_file_name(source.path)
        key = file_key(
            project_id=workflow.project_id,
            owner=f"workflows/{workflow.id}",
            file_id=self._ids.new(),
            name=name,
        )
        await self._files.put(key, files[source.path])
        stored.append(key)
        return StaticInput(
            value=FileValue(
                key=key,
                name=name,
                size_bytes=len(files[source.path]),
                directory=spec.type is IoType.DIRECTORY,
            )
        )
