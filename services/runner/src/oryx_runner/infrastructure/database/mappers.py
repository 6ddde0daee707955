"""Explicit mappings between rows (and their JSON columns) and domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oryx_runner.application.ports import FileRecord, LogLine, StepLogs
from oryx_runner.domain.deployments import Deployment, DeploymentStatus, WorkflowDeployment
from oryx_runner.domain.runs import (
    Context,
    OutputSets,
    RunError,
    RunStatus,
    StepError,
    StepRun,
    StepStatus,
    WorkflowRun,
)
from oryx_runner.domain.workflows import (
    Binding,
    Endpoint,
    FileValue,
    IoSpec,
    IoType,
    OutputRef,
    Resources,
    ResultSpec,
    StepKind,
    StepSpec,
    Value,
    WorkflowSnapshot,
)

# --- values ----------------------------------------------------------------------------------


def value_to_json(value: Value) -> Any:
    if isinstance(value, FileValue):
        return {
            "file": {
                "key": value.key,
                "name": value.name,
                "size_bytes": value.size_bytes,
                "directory": value.directory,
                "sha256": value.sha256,
                "file_id": value.file_id,
            }
        }
    return value


def value_from_json(data: Any) -> Value:
    if isinstance(data, dict):
        file = data.get("file", {})
        return FileValue(
            key=str(file.get("key", "")),
            name=str(file.get("name", "")),
            size_bytes=int(file.get("size_bytes", 0)),
            directory=bool(file.get("directory", False)),
            sha256=str(file.get("sha256", "")),
            file_id=str(file.get("file_id", "")),
        )
    if data is None or isinstance(data, str | int | float | bool):
        return data
    raise ValueError(f"not a value: {data!r}")


def values_to_json(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: value_to_json(v) for k, v in values.items()}


def values_from_json(data: Mapping[str, Any] | None) -> dict[str, Value]:
    return {k: value_from_json(v) for k, v in (data or {}).items()}


def outputs_to_json(outputs: OutputSets | None) -> list[dict[str, Any]] | None:
    return None if outputs is None else [values_to_json(s) for s in outputs]


def outputs_from_json(data: list[Any] | None) -> OutputSets | None:
    return None if data is None else [values_from_json(s) for s in data]


def result_to_json(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None

    def one(item: Any) -> Any:
        return [one(x) for x in item] if isinstance(item, list) else value_to_json(item)

    return {k: one(v) for k, v in result.items()}


def result_from_json(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None

    def one(item: Any) -> Any:
        return [one(x) for x in item] if isinstance(item, list) else value_from_json(item)

    return {k: one(v) for k, v in data.items()}


def context_to_json(context: Context) -> dict[str, list[Any]]:
    return {k: [sr, i] for k, (sr, i) in context.items()}


def context_from_json(data: Mapping[str, Any]) -> Context:
    return {k: (str(v[0]), int(v[1])) for k, v in data.items()}


# --- snapshots -------------------------------------------------------------------------------


def _io_to_json(io: IoSpec) -> dict[str, Any]:
    return {
        "name": io.name,
        "type": io.type.value,
        "optional": io.optional,
        "enum_values": list(io.enum_values),
        "default": value_to_json(io.default),
        "has_default": io.has_default,
        "origin": io.origin,
        "human_name": io.human_name,
        "help": io.help,
    }


def _io_from_json(data: Mapping[str, Any]) -> IoSpec:
    return IoSpec(
        name=data["name"],
        type=IoType(data["type"]),
        optional=bool(data.get("optional", False)),
        enum_values=tuple(data.get("enum_values", ())),
        default=value_from_json(data.get("default")),
        has_default=bool(data.get("has_default", False)),
        origin=str(data.get("origin", "")),
        human_name=str(data.get("human_name", "")),
        help=str(data.get("help", "")),
    )


def _ref_to_json(ref: OutputRef) -> dict[str, str]:
    return {"step_id": ref.step_id, "output": ref.output}


def _ref_from_json(data: Mapping[str, Any]) -> OutputRef:
    return OutputRef(step_id=data["step_id"], output=data["output"])


def snapshot_to_json(snapshot: WorkflowSnapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name,
        "description": snapshot.description,
        "steps": [
            {
                "step_id": s.step_id,
                "name": s.name,
                "action_id": s.action_id,
                "action_name": s.action_name,
                "action_version": s.action_version,
                "kind": s.kind.value,
                "builtin_trigger": s.builtin_trigger,
                "artifact_ref": s.artifact_ref,
                "resources": {
                    "cpu": s.resources.cpu,
                    "memory_bytes": s.resources.memory_bytes,
                    "time_seconds": s.resources.time_seconds,
                    "gpu": s.resources.gpu,
                },
                "inputs": [_io_to_json(i) for i in s.inputs],
                "outputs": [_io_to_json(o) for o in s.outputs],
                "bindings": [
                    {
                        "input": b.input,
                        "value": value_to_json(b.value),
                        "source": _ref_to_json(b.source) if b.source else None,
                    }
                    for b in s.bindings
                ],
                "parents": list(s.parents),
            }
            for s in snapshot.steps
        ],
        "results": [{"key": r.key, "source": _ref_to_json(r.source)} for r in snapshot.results],
        "endpoint": None
        if snapshot.endpoint is None
        else {
            "path": snapshot.endpoint.path,
            "method": snapshot.endpoint.method,
            "success_code": snapshot.endpoint.success_code,
            "timeout_seconds": snapshot.endpoint.timeout_seconds,
        },
    }


def snapshot_from_json(data: Mapping[str, Any]) -> WorkflowSnapshot:
    endpoint = data.get("endpoint")
    return WorkflowSnapshot(
        name=data["name"],
        description=data.get("description", ""),
        steps=tuple(
            StepSpec(
                step_id=s["step_id"],
                name=s["name"],
                action_id=s["action_id"],
                action_name=s["action_name"],
                action_version=s["action_version"],
                kind=StepKind(s["kind"]),
                builtin_trigger=s.get("builtin_trigger", ""),
                artifact_ref=s.get("artifact_ref", ""),
                resources=Resources(**s.get("resources", {})),
                inputs=tuple(_io_from_json(i) for i in s.get("inputs", ())),
                outputs=tuple(_io_from_json(o) for o in s.get("outputs", ())),
                bindings=tuple(
                    Binding(
                        input=b["input"],
                        value=value_from_json(b.get("value")),
                        source=_ref_from_json(b["source"]) if b.get("source") else None,
                    )
                    for b in s.get("bindings", ())
                ),
                parents=tuple(s.get("parents", ())),
            )
            for s in data["steps"]
        ),
        results=tuple(
            ResultSpec(key=r["key"], source=_ref_from_json(r["source"]))
            for r in data.get("results", ())
        ),
        endpoint=None if not endpoint else Endpoint(**endpoint),
    )


# --- deployments -----------------------------------------------------------------------------


def deployment_to_row(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "workflow_id": d.workflow_id,
        "project_id": d.project_id,
        "revision": d.revision,
        "snapshot": snapshot_to_json(d.snapshot),
        "requested_by": d.requested_by,
        "requested_at": d.requested_at,
        "received_at": d.received_at,
    }


def row_to_deployment(row: Mapping[Any, Any]) -> Deployment:
    return Deployment(
        id=row["id"],
        workflow_id=row["workflow_id"],
        project_id=row["project_id"],
        revision=row["revision"],
        snapshot=snapshot_from_json(row["snapshot"]),
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        received_at=row["received_at"],
    )


def workflow_to_row(w: WorkflowDeployment) -> dict[str, Any]:
    return {
        "workflow_id": w.workflow_id,
        "project_id": w.project_id,
        "deployment_id": w.deployment_id,
        "revision": w.revision,
        "status": w.status.value,
        "message": w.message,
        "sequence": w.sequence,
        "cancel_running": w.cancel_running,
        "requested_at": w.requested_at,
        "changed_at": w.changed_at,
    }


def row_to_workflow(row: Mapping[Any, Any]) -> WorkflowDeployment:
    return WorkflowDeployment(
        workflow_id=row["workflow_id"],
        project_id=row["project_id"],
        deployment_id=row["deployment_id"],
        revision=row["revision"],
        status=DeploymentStatus(row["status"]),
        message=row["message"],
        sequence=row["sequence"],
        cancel_running=row["cancel_running"],
        requested_at=row["requested_at"],
        changed_at=row["changed_at"],
    )


# --- runs ------------------------------------------------------------------------------------


def run_to_row(run: WorkflowRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "project_id": run.project_id,
        "workflow_id": run.workflow_id,
        "deployment_id": run.deployment_id,
        "trigger": run.trigger,
        "status": run.status.value,
        "submitted_at": run.submitted_at,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "error": run.error.as_dict() if run.error else None,
        "result": result_to_json(run.result),
        "requested_by": run.requested_by,
        "version": run.version,
    }


def row_to_run(row: Mapping[Any, Any]) -> WorkflowRun:
    return WorkflowRun(
        id=row["id"],
        project_id=row["project_id"],
        workflow_id=row["workflow_id"],
        deployment_id=row["deployment_id"],
        trigger=row["trigger"],
        status=RunStatus(row["status"]),
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        error=RunError.from_dict(row["error"]) if row["error"] else None,
        result=result_from_json(row["result"]),
        requested_by=row["requested_by"],
        version=row["version"],
    )


def step_to_row(step: StepRun) -> dict[str, Any]:
    return {
        "id": step.id,
        "run_id": step.run_id,
        "step_id": step.step_id,
        "branch_key": step.branch_key,
        "context": context_to_json(step.context),
        "status": step.status.value,
        "inputs": values_to_json(step.inputs),
        "outputs": outputs_to_json(step.outputs),
        "error": step.error.as_dict() if step.error else None,
        "attempt": step.attempt,
        "submitted_at": step.submitted_at,
        "started_at": step.started_at,
        "ended_at": step.ended_at,
        "not_before": step.not_before,
        "claimed_by": step.claimed_by,
        "version": step.version,
    }


def row_to_step(row: Mapping[Any, Any]) -> StepRun:
    return StepRun(
        id=row["id"],
        run_id=row["run_id"],
        step_id=row["step_id"],
        branch_key=row["branch_key"],
        context=context_from_json(row["context"]),
        status=StepStatus(row["status"]),
        inputs=values_from_json(row["inputs"]),
        outputs=outputs_from_json(row["outputs"]),
        error=StepError.from_dict(row["error"]) if row["error"] else None,
        attempt=row["attempt"],
        submitted_at=row["submitted_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        not_before=row["not_before"],
        claimed_by=row["claimed_by"],
        version=row["version"],
    )


# --- files and logs --------------------------------------------------------------------------


def file_to_row(f: FileRecord) -> dict[str, Any]:
    return {
        "id": f.id,
        "project_id": f.project_id,
        "run_id": f.run_id,
        "step_run_id": f.step_run_id,
        "key": f.key,
        "name": f.name,
        "size_bytes": f.size_bytes,
        "sha256": f.sha256,
        "directory": f.directory,
        "created_at": f.created_at,
    }


def row_to_file(row: Mapping[Any, Any]) -> FileRecord:
    return FileRecord(
        id=row["id"],
        project_id=row["project_id"],
        run_id=row["run_id"],
        step_run_id=row["step_run_id"],
        key=row["key"],
        name=row["name"],
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        directory=row["directory"],
        created_at=row["created_at"],
    )


def logs_to_row(logs: StepLogs) -> dict[str, Any]:
    return {
        "step_run_id": logs.step_run_id,
        "attempt": logs.attempt,
        "lines": [
            {
                "time": line.time.isoformat(),
                "stream": line.stream,
                "text": line.text,
                "level": line.level,
            }
            for line in logs.lines
        ],
        "truncated": logs.truncated,
    }


def row_to_logs(row: Mapping[Any, Any]) -> StepLogs:
    return StepLogs(
        step_run_id=row["step_run_id"],
        attempt=row["attempt"],
        lines=[
            LogLine(
                time=datetime.fromisoformat(line["time"]),
                stream=line["stream"],
                text=line["text"],
                level=line.get("level", ""),
            )
            for line in row["lines"]
        ],
        truncated=row["truncated"],
    )
