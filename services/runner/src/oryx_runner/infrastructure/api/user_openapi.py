"""The OpenAPI document of a project's user APIs: one operation per deployed endpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from oryx_runner.application.http_api import Target, header_names
from oryx_runner.domain.workflows import IoSpec, IoType, StepSpec

_SCHEMAS: dict[IoType, dict[str, Any]] = {
    IoType.STRING: {"type": "string"},
    IoType.LONGSTRING: {"type": "string"},
    IoType.PASSWORD: {"type": "string", "format": "password"},
    IoType.INTEGER: {"type": "integer", "format": "int64"},
    IoType.FLOAT: {"type": "number"},
    IoType.BOOLEAN: {"type": "boolean"},
    IoType.ENUM: {"type": "string"},
    IoType.FILE: {"type": "string", "format": "binary"},
    IoType.DIRECTORY: {"type": "string", "format": "binary"},
}

_ERROR = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string"},
        "workflow_run_id": {"type": "string"},
    },
    "required": ["detail", "code"],
}


def schema_of(spec: IoSpec) -> dict[str, Any]:
    schema = dict(_SCHEMAS[spec.type])
    if spec.type is IoType.ENUM:
        schema["enum"] = list(spec.enum_values)
    if spec.has_default and spec.default is not None and not spec.type.is_file:
        schema["default"] = spec.default
    if spec.help or spec.human_name:
        schema["description"] = spec.help or spec.human_name
    return schema


def _result_schema(target: Target) -> dict[str, Any]:
    snapshot = target.deployment.snapshot
    properties: dict[str, Any] = {}
    for result in snapshot.results:
        step: StepSpec = snapshot.step(result.source.step_id)
        output = step.output(result.source.output)
        if output is None:
            continue
        schema = schema_of(output)
        if output.type.is_file:
            schema = {"type": "string", "description": "a download path under /runner/files/"}
        properties[result.key] = schema
    return {"type": "object", "properties": properties}


def _operation(project_id: str, target: Target) -> dict[str, Any]:
    snapshot = target.deployment.snapshot
    endpoint = target.endpoint
    parameters: list[dict[str, Any]] = []
    for origin in ("path", "query", "header"):
        for spec in target.outputs_from(origin):
            required = origin == "path" or not (spec.optional or spec.has_default)
            parameters.append(
                {
                    "name": header_names(spec)[1] if origin == "header" else spec.name,
                    "in": origin,
                    "required": required,
                    "schema": schema_of(spec),
                }
            )
    operation: dict[str, Any] = {
        "operationId": f"{endpoint.method.lower()}_{target.deployment.workflow_id}",
        "summary": snapshot.name,
        "description": snapshot.description
        or f"Runs the workflow {snapshot.name!r} (workflow {target.deployment.workflow_id}).",
        "parameters": parameters,
        "responses": {
            str(endpoint.success_code): {
                "description": "The run succeeded: its results",
                "content": {"application/json": {"schema": _result_schema(target)}},
            },
            "202": {
                "description": f"The run took longer than {endpoint.timeout_seconds:g} s: "
                "follow result_link",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "workflow_run_id": {"type": "string"},
                                "result_link": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "422": {
                "description": "An input is missing or of the wrong type; `field` names it",
                "content": {"application/json": {"schema": _ERROR}},
            },
            "default": {
                "description": "The run failed: a step's RyaxException code, or 500",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }
    body = target.outputs_from("body")
    if body:
        properties = {spec.name: schema_of(spec) for spec in body}
        needed = [spec.name for spec in body if not (spec.optional or spec.has_default)]
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if needed:
            schema["required"] = needed
        with_files = any(spec.type.is_file for spec in body)
        media = "multipart/form-data" if with_files else "application/json"
        operation["requestBody"] = {
            "required": bool(needed),
            "content": {media: {"schema": schema}},
        }
    return operation


def user_openapi(
    project_id: str, targets: Sequence[Target], *, require_api_key: bool
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for target in targets:
        path = f"/runner/api/{project_id}/{target.endpoint.path.strip('/')}"
        paths.setdefault(path, {})[target.endpoint.method.lower()] = _operation(project_id, target)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": f"Oryx user APIs of project {project_id}",
            "version": "1",
            "description": "The endpoints of the project's deployed workflows that start with "
            "the HTTP API trigger. Each call starts a run.",
        },
        "paths": paths,
    }
    if require_api_key:
        document["components"] = {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        }
        document["security"] = [{"apiKey": []}]
    return document
