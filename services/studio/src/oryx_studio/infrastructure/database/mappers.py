"""Mappers between domain objects and table rows. Password values are encrypted on the way in."""

from collections.abc import Mapping
from typing import Any, Protocol

from oryx_studio.domain.graph import (
    Endpoint,
    HttpMethod,
    InputSource,
    Link,
    Position,
    Result,
    StaticInput,
    StepOutput,
    VariableInput,
)
from oryx_studio.domain.library import Action, ActionKind, ActionVersion, Resources
from oryx_studio.domain.types import FileValue, IoSpec, IoType, Value
from oryx_studio.domain.variables import Variable, VariableType
from oryx_studio.domain.workflows import (
    ActionRef,
    Deployment,
    DeploymentStatus,
    Step,
    Workflow,
)

Row = Mapping[Any, Any]


class SecretBox(Protocol):
    def encrypt(self, plain: str) -> bytes: ...
    def decrypt(self, token: bytes) -> str: ...


# values and io ------------------------------------------------------------------------------


def io_to_json(spec: IoSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.type.value,
        "human_name": spec.human_name,
        "help": spec.help,
        "optional": spec.optional,
        "enum_values": list(spec.enum_values),
        "default": spec.default,
        "has_default": spec.has_default,
        "origin": spec.origin,
    }


def io_from_json(data: Mapping[str, Any]) -> IoSpec:
    return IoSpec(
        name=data["name"],
        type=IoType(data["type"]),
        human_name=data.get("human_name", ""),
        help=data.get("help", ""),
        optional=bool(data.get("optional", False)),
        enum_values=tuple(data.get("enum_values", ())),
        default=data.get("default"),
        has_default=bool(data.get("has_default", False)),
        origin=data.get("origin", ""),
    )


def file_to_json(file: FileValue) -> dict[str, Any]:
    return {
        "key": file.key,
        "name": file.name,
        "size_bytes": file.size_bytes,
        "directory": file.directory,
    }


def file_from_json(data: Mapping[str, Any]) -> FileValue:
    return FileValue(
        key=data["key"],
        name=data["name"],
        size_bytes=int(data["size_bytes"]),
        directory=bool(data.get("directory", False)),
    )


def _value_to_json(value: Value) -> dict[str, Any]:
    if isinstance(value, FileValue):
        return {"file": file_to_json(value)}
    return {"value": value}


def _input_to_json(source: InputSource) -> dict[str, Any]:
    if isinstance(source, StepOutput):
        return {"from": {"step_id": source.step_id, "output": source.output}}
    if isinstance(source, VariableInput):
        return {"variable_id": source.variable_id}
    return _value_to_json(source.value)


def _input_from_json(data: Mapping[str, Any]) -> InputSource:
    if "from" in data:
        return StepOutput(step_id=data["from"]["step_id"], output=data["from"]["output"])
    if "variable_id" in data:
        return VariableInput(variable_id=data["variable_id"])
    if "file" in data:
        return StaticInput(value=file_from_json(data["file"]))
    return StaticInput(value=data["value"])


# actions ------------------------------------------------------------------------------------


def resources_to_json(r: Resources) -> dict[str, Any]:
    return {
        "cpu": r.cpu,
        "memory_bytes": r.memory_bytes,
        "time_seconds": r.time_seconds,
        "gpu": r.gpu,
    }


def action_to_row(action: Action) -> dict[str, Any]:
    latest = action.latest
    return {
        "id": action.id,
        "project_id": action.project_id,
        "name": action.name,
        "builtin": action.builtin,
        "kind": latest.kind.value,
        "human_name": latest.human_name,
        "description": latest.description,
        "categories": list(latest.categories),
        "created_at": action.created_at,
        "updated_at": action.updated_at,
    }


def version_to_row(version: ActionVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "action_id": version.action_id,
        "version": version.version,
        "kind": version.kind.value,
        "human_name": version.human_name,
        "description": version.description,
        "categories": list(version.categories),
        "type": version.type,
        "resources": resources_to_json(version.resources),
        "inputs": [io_to_json(i) for i in version.inputs],
        "outputs": [io_to_json(o) for o in version.outputs],
        "dynamic_outputs": version.dynamic_outputs,
        "artifact_ref": version.artifact_ref,
        "builtin_trigger": version.builtin_trigger,
        "logo": version.logo or None,
        "logo_media_type": version.logo_media_type,
        "source_id": version.source_id,
        "repository_action_id": version.repository_action_id,
        "commit_sha": version.commit_sha,
        "metadata": version.metadata,
        "published_at": version.published_at,
    }


def row_to_version(row: Row, *, name: str) -> ActionVersion:
    r = row["resources"]
    return ActionVersion(
        id=row["id"],
        action_id=row["action_id"],
        name=name,
        version=row["version"],
        kind=ActionKind(row["kind"]),
        human_name=row["human_name"],
        description=row["description"],
        categories=tuple(row["categories"]),
        type=row["type"],
        resources=Resources(
            cpu=r.get("cpu"),
            memory_bytes=r.get("memory_bytes"),
            time_seconds=r.get("time_seconds"),
            gpu=r.get("gpu"),
        ),
        inputs=tuple(io_from_json(i) for i in row["inputs"]),
        outputs=tuple(io_from_json(o) for o in row["outputs"]),
        dynamic_outputs=row["dynamic_outputs"],
        artifact_ref=row["artifact_ref"],
        builtin_trigger=row["builtin_trigger"],
        logo=row["logo"] or b"",
        logo_media_type=row["logo_media_type"],
        source_id=row["source_id"],
        repository_action_id=row["repository_action_id"],
        commit_sha=row["commit_sha"],
        metadata=row["metadata"],
        published_at=row["published_at"],
    )


def row_to_action(row: Row, versions: list[Row]) -> Action:
    return Action(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        builtin=row["builtin"],
        versions=[row_to_version(v, name=row["name"]) for v in versions],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# workflows ----------------------------------------------------------------------------------


def _step_to_json(step: Step) -> dict[str, Any]:
    a = step.action
    return {
        "id": step.id,
        "name": step.name,
        "action": {
            "action_id": a.action_id,
            "version_id": a.version_id,
            "name": a.name,
            "version": a.version,
            "kind": a.kind.value,
            "builtin_trigger": a.builtin_trigger,
        },
        "inputs": {name: _input_to_json(source) for name, source in step.inputs.items()},
        "dynamic_outputs": [io_to_json(o) for o in step.dynamic_outputs],
        "position": {"x": step.position.x, "y": step.position.y} if step.position else None,
    }


def _step_from_json(data: Mapping[str, Any]) -> Step:
    a = data["action"]
    position = data.get("position")
    return Step(
        id=data["id"],
        name=data["name"],
        action=ActionRef(
            action_id=a["action_id"],
            version_id=a["version_id"],
            name=a["name"],
            version=a["version"],
            kind=ActionKind(a["kind"]),
            builtin_trigger=a.get("builtin_trigger", ""),
        ),
        inputs={name: _input_from_json(source) for name, source in data["inputs"].items()},
        dynamic_outputs=tuple(io_from_json(o) for o in data.get("dynamic_outputs", ())),
        position=Position(x=position["x"], y=position["y"]) if position else None,
    )


def workflow_to_row(workflow: Workflow) -> dict[str, Any]:
    e = workflow.endpoint
    d = workflow.deployment
    return {
        "id": workflow.id,
        "project_id": workflow.project_id,
        "name": workflow.name,
        "description": workflow.description,
        "revision": workflow.revision,
        "graph": {
            "steps": [_step_to_json(s) for s in workflow.steps],
            "links": [
                {"from_step_id": k.from_step_id, "to_step_id": k.to_step_id} for k in workflow.links
            ],
            "results": [
                {"key": r.key, "step_id": r.source.step_id, "output": r.source.output}
                for r in workflow.results
            ],
        },
        "endpoint": (
            {
                "path": e.path,
                "method": e.method.value,
                "success_code": e.success_code,
                "timeout_seconds": e.timeout_seconds,
            }
            if e
            else None
        ),
        "endpoint_key": e.route_key if e else None,
        "action_ids": sorted({s.action.action_id for s in workflow.steps}),
        "variable_ids": sorted(workflow.variable_ids()),
        "deployment_status": d.status.value,
        "deployment_message": d.message,
        "deployment_id": d.deployment_id,
        "requested_revision": d.requested_revision,
        "deployed_revision": d.deployed_revision,
        "deployment_sequence": d.sequence,
        "deployment_changed_at": d.changed_at,
        "created_at": workflow.created_at,
        "updated_at": workflow.updated_at,
    }


def row_to_workflow(row: Row) -> Workflow:
    graph = row["graph"]
    e = row["endpoint"]
    return Workflow(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        description=row["description"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revision=row["revision"],
        steps=[_step_from_json(s) for s in graph["steps"]],
        links=[
            Link(from_step_id=k["from_step_id"], to_step_id=k["to_step_id"]) for k in graph["links"]
        ],
        results=[
            Result(key=r["key"], source=StepOutput(step_id=r["step_id"], output=r["output"]))
            for r in graph["results"]
        ],
        endpoint=(
            Endpoint(
                path=e["path"],
                method=HttpMethod(e["method"]),
                success_code=e["success_code"],
                timeout_seconds=float(e["timeout_seconds"]),
            )
            if e
            else None
        ),
        deployment=Deployment(
            status=DeploymentStatus(row["deployment_status"]),
            message=row["deployment_message"],
            deployment_id=row["deployment_id"],
            requested_revision=row["requested_revision"],
            deployed_revision=row["deployed_revision"],
            sequence=row["deployment_sequence"],
            changed_at=row["deployment_changed_at"],
        ),
    )


# variables ----------------------------------------------------------------------------------


def variable_to_row(variable: Variable, box: SecretBox) -> dict[str, Any]:
    password = variable.type is VariableType.PASSWORD
    return {
        "id": variable.id,
        "project_id": variable.project_id,
        "name": variable.name,
        "type": variable.type.value,
        "description": variable.description,
        "value": None if password else variable.value,
        "secret_encrypted": box.encrypt(variable.value)
        if password and variable.value is not None
        else None,
        "file": file_to_json(variable.file) if variable.file else None,
        "created_at": variable.created_at,
        "updated_at": variable.updated_at,
    }


def row_to_variable(row: Row, box: SecretBox) -> Variable:
    secret = row["secret_encrypted"]
    return Variable(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        type=VariableType(row["type"]),
        description=row["description"],
        value=box.decrypt(secret) if secret is not None else row["value"],
        file=file_from_json(row["file"]) if row["file"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
