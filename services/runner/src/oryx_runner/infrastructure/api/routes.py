"""Routes of the runner API, under /runner."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from oryx_runner.application.deployments import DeploymentView
from oryx_runner.application.ports import RunFilter
from oryx_runner.application.runs import RunDetail, UploadedFile
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.runs import RunStatus, StepRun, WorkflowRun
from oryx_runner.domain.workflows import FileValue, Value
from oryx_runner.infrastructure.api import schemas as s
from oryx_runner.infrastructure.api.deps import (
    DeploymentReader,
    RunCanceller,
    RunCreator,
    RunDeleter,
    RunReader,
    Services,
    UseCases,
    require,
)
from oryx_runner.infrastructure.api.errors import ApiError, error_body
from oryx_runner.infrastructure.api.forms import FORM_TYPES, read_form

PREFIX = "/runner"
KEEPALIVE_SECONDS = 15.0

Responses = dict[int | str, dict[str, Any]]
ERRORS: Responses = {
    401: {"description": "Missing, malformed, expired or revoked token"},
    403: {"description": "Your role in the project does not allow this"},
    404: {"description": "Unknown id, or not in this project"},
    422: {"description": "Invalid input; `field` names the culprit"},
}
CONFLICT: Responses = {
    409: {"description": "The run's or the deployment's state does not allow this"}
}

PathId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]

router = APIRouter(prefix=PREFIX, responses=ERRORS)

AuthorizationHeader = Annotated[
    str | None,
    Header(description="`Bearer <token>`; not needed for a run of a user API (see below)"),
]
ProjectHeader = Annotated[
    str | None,
    Header(alias="X-Oryx-Project", max_length=64, description="The project to act in"),
    s.NoNul,
]
ApiKeyHeader = Annotated[
    str | None,
    Header(alias="X-API-Key", max_length=512, description="A key of the run's project"),
]


async def _user_api_access(services: UseCases, run: WorkflowRun, api_key: str | None) -> str:
    """The project of ``run`` when the caller, without a token, may read it: the run was
    started by a user API and the caller brings what such a call needs (a key of the
    project, or nothing for an open project)."""
    if run.trigger != "http-api":
        raise ApiError(401, "missing Authorization header; send `Authorization: Bearer <token>`")
    await services.access.check(project_id=run.project_id, presented=api_key)
    return run.project_id


# --- translations ----------------------------------------------------------------------------


def value_out(value: Value) -> Any:
    if isinstance(value, FileValue):
        out: dict[str, Any] = {
            "name": value.name,
            "size_bytes": value.size_bytes,
            "directory": value.directory,
            "sha256": value.sha256,
        }
        if value.file_id:
            out["file_id"] = value.file_id
            out["download_url"] = f"{PREFIX}/files/{value.file_id}/{quote(value.name, safe='')}"
        return out
    return value


def values_out(values: dict[str, Value] | None) -> dict[str, Any]:
    return {k: value_out(v) for k, v in (values or {}).items()}


def result_out(result: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None:
        return None

    def convert(item: Any) -> Any:
        return [convert(x) for x in item] if isinstance(item, list) else value_out(item)

    return {k: convert(v) for k, v in result.items()}


def run_out(run: WorkflowRun, deployment: Deployment) -> s.RunOut:
    duration = None
    if run.started_at and run.ended_at:
        duration = (run.ended_at - run.started_at).total_seconds()
    return s.RunOut(
        id=run.id,
        project_id=run.project_id,
        workflow_id=run.workflow_id,
        workflow_name=deployment.snapshot.name,
        deployment_id=run.deployment_id,
        revision=deployment.revision,
        trigger=run.trigger,
        status=run.status.value,
        submitted_at=run.submitted_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=duration,
        error=s.RunErrorOut(**run.error.as_dict()) if run.error else None,
        result=result_out(run.result),
        requested_by=run.requested_by,
        links=s.LinksOut(
            self=f"{PREFIX}/runs/{run.id}",
            result=f"{PREFIX}/results/{run.id}",
            events=f"{PREFIX}/runs/{run.id}/events",
        ),
    )


def step_out(
    run: WorkflowRun, step: StepRun, deployment: Deployment, fanned: set[str]
) -> s.StepRunOut:
    try:
        spec = deployment.snapshot.step(step.step_id)
        name, action, version, trigger = (
            spec.name,
            spec.action_name,
            spec.action_version,
            spec.is_trigger,
        )
    except KeyError:
        name, action, version, trigger = step.step_id, "", "", False
    return s.StepRunOut(
        id=step.id,
        step_id=step.step_id,
        name=name,
        action_name=action,
        action_version=version,
        is_trigger=trigger,
        status=step.status.value,
        branch={k: i for k, (_, i) in step.context.items() if k in fanned},
        inputs=values_out(step.inputs),
        outputs=None if step.outputs is None else [values_out(x) for x in step.outputs],
        submitted_at=step.submitted_at,
        started_at=step.started_at,
        ended_at=step.ended_at,
        attempts=step.attempt,
        retries=max(0, step.attempt - 1),
        error=s.StepErrorOut(**step.error.as_dict()) if step.error else None,
        links=s.LinksOut(
            self=f"{PREFIX}/runs/{run.id}#{step.id}",
            logs=f"{PREFIX}/runs/{run.id}/steps/{step.id}/logs",
        ),
    )


def detail_out(detail: RunDetail) -> s.RunDetailOut:
    base = run_out(detail.run, detail.deployment)
    fanned = {st.step_id for st in detail.steps if st.outputs is not None and len(st.outputs) != 1}
    return s.RunDetailOut(
        **base.model_dump(),
        steps=[step_out(detail.run, st, detail.deployment, fanned) for st in detail.steps],
    )


def deployment_out(view: DeploymentView) -> s.DeploymentOut:
    state, deployment = view.state, view.deployment
    snapshot = deployment.snapshot if deployment else None
    return s.DeploymentOut(
        workflow_id=state.workflow_id,
        project_id=state.project_id,
        deployment_id=state.deployment_id,
        revision=state.revision,
        status=state.status.value,
        message=state.message,
        sequence=state.sequence,
        changed_at=state.changed_at,
        name=snapshot.name if snapshot else "",
        trigger=deployment.trigger_kind if deployment and snapshot and snapshot.steps else "",
        steps=[
            s.DeployedStepOut(
                step_id=st.step_id,
                name=st.name,
                action_id=st.action_id,
                action_name=st.action_name,
                action_version=st.action_version,
                kind=st.kind.value,
                builtin_trigger=st.builtin_trigger,
                artifact_ref=st.artifact_ref,
                parents=list(st.parents),
            )
            for st in (snapshot.steps if snapshot else ())
        ],
        result_keys=[r.key for r in snapshot.results] if snapshot else [],
    )


# --- health ----------------------------------------------------------------------------------


@router.get("/healthz", summary="Liveness", tags=["health"], responses={})
async def healthz() -> s.HealthOut:
    """Answers 200 as soon as the service serves requests."""
    return s.HealthOut(status="ok", service="runner")


# --- deployments -----------------------------------------------------------------------------


@router.get("/deployments", summary="List deployed workflows", tags=["deployments"])
async def list_deployments(
    caller: DeploymentReader, services: Services, limit: Limit = 50, cursor: Cursor = None
) -> s.PageOut[s.DeploymentOut]:
    """The project's workflows as this runner knows them (deployed, deploying, in error or
    undeployed), the most recently changed first."""
    page = await services.deployments.list(project_id=caller.project_id, limit=limit, cursor=cursor)
    return s.PageOut[s.DeploymentOut](
        items=[deployment_out(v) for v in page.items],
        total=page.total,
        next_cursor=page.next_cursor,
    )


@router.get("/deployments/{workflow_id}", summary="A workflow's deployment", tags=["deployments"])
async def get_deployment(
    workflow_id: PathId, caller: DeploymentReader, services: Services
) -> s.DeploymentOut:
    """Its status (with the reason of an error), the deployed revision and its steps."""
    return deployment_out(
        await services.deployments.get(project_id=caller.project_id, workflow_id=workflow_id)
    )


# --- runs ------------------------------------------------------------------------------------

_RUN_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {"schema": s.RunInputsIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "additionalProperties": {"type": "string", "format": "binary"},
                    "description": "One part per input: text for typed values, a file for "
                    "file and directory inputs (a directory as a .tar.gz or .zip archive)",
                }
            },
        },
    }
}


async def _read_inputs(
    request: Request, max_bytes: int
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES:
        return await read_form(request, max_bytes=max_bytes, prefix="inputs")
    body = await request.body()
    if not body.strip():
        return {}, {}
    if content_type not in ("application/json", ""):
        raise ApiError(
            415,
            'send the inputs as application/json ({"inputs": {...}}) or as a form '
            "(multipart/form-data, with files)",
        )
    try:
        parsed = s.RunInputsIn.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            raise ApiError(
                422, "the request body is not valid JSON", code="malformed_json"
            ) from None
        where = ".".join(str(p) for p in first.get("loc", ())) or None
        raise ApiError(
            422, f"{where or 'body'}: {first.get('msg')}", code="invalid_input", field=where
        ) from None
    return parsed.inputs, {}


@router.post(
    "/workflows/{workflow_id}/runs",
    status_code=201,
    summary="Start a run by hand",
    tags=["runs"],
    responses={**CONFLICT, 413: {"description": "A file is too large"}},
    openapi_extra=_RUN_BODY,
)
async def start_run(
    workflow_id: PathId, request: Request, caller: RunCreator, services: Services
) -> s.RunOut:
    """Start a run of the workflow's deployed version. The values are the trigger's typed
    outputs as the workflow defines them (for the `manual` trigger, its dynamic outputs):
    `{"inputs": {"name": value}}` as JSON, or multipart/form-data with one part per input
    (text values are read by their type; file and directory inputs are file parts). A
    workflow that is not deployed answers 409."""
    values, uploads = await _read_inputs(request, services.max_upload_bytes)
    run = await services.runs.start_manual(
        project_id=caller.project_id,
        workflow_id=workflow_id,
        values=values,
        files=uploads,
        requested_by=caller.user_id,
    )
    detail = await services.runs.get(project_id=caller.project_id, run_id=run.id)
    return run_out(detail.run, detail.deployment)


@router.get("/runs", summary="List runs", tags=["runs"])
async def list_runs(
    caller: RunReader,
    services: Services,
    workflow_id: Annotated[str | None, Query(max_length=64), s.NoNul] = None,
    status: Annotated[
        RunStatus | None, Query(description="running, succeeded, failed, canceled")
    ] = None,
    since: Annotated[datetime | None, Query(description="Submitted at or after (RFC 3339)")] = None,
    until: Annotated[datetime | None, Query(description="Submitted before (RFC 3339)")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.PageOut[s.RunOut]:
    """The project's runs, newest first, filtered by workflow, status and submission time."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, f"{name}: give a time zone (e.g. 2026-01-01T00:00:00Z)", field=name)
    page = await services.runs.list(
        project_id=caller.project_id,
        filters=RunFilter(workflow_id=workflow_id, status=status, since=since, until=until),
        limit=limit,
        cursor=cursor,
    )
    items = []
    for run in page.items:
        detail_deployment = await services.runs.deployment_of(run)
        items.append(run_out(run, detail_deployment))
    return s.PageOut[s.RunOut](items=items, total=page.total, next_cursor=page.next_cursor)


@router.get("/runs/{run_id}", summary="A run with its steps", tags=["runs"])
async def get_run(run_id: PathId, caller: RunReader, services: Services) -> s.RunDetailOut:
    """The run and each of its step runs: inputs, outputs (files as download links),
    timings, errors, attempts."""
    return detail_out(await services.runs.get(project_id=caller.project_id, run_id=run_id))


@router.post("/runs/{run_id}/cancel", summary="Cancel a run", tags=["runs"], responses=CONFLICT)
async def cancel_run(run_id: PathId, caller: RunCanceller, services: Services) -> s.RunOut:
    """Stops the run's running steps and starts no other. A finished run answers 409."""
    run = await services.runs.cancel(project_id=caller.project_id, run_id=run_id)
    return run_out(run, await services.runs.deployment_of(run))


@router.delete(
    "/runs/{run_id}", status_code=204, summary="Delete a run", tags=["runs"], responses=CONFLICT
)
async def delete_run(run_id: PathId, caller: RunDeleter, services: Services) -> Response:
    """Deletes a finished run with its steps, events, logs and files. A running run answers
    409: cancel it first."""
    await services.runs.delete(project_id=caller.project_id, run_id=run_id)
    return Response(status_code=204)


@router.get("/runs/{run_id}/steps/{step_run_id}/logs", summary="A step run's logs", tags=["runs"])
async def step_logs(
    run_id: PathId,
    step_run_id: PathId,
    caller: RunReader,
    services: Services,
    attempt: Annotated[int | None, Query(ge=1, le=1000, description="Only this attempt")] = None,
) -> s.LogsOut:
    """What the action printed and logged (stdout, stderr, logging records, and the
    wrapper's own notes), per attempt."""
    logs = await services.runs.logs(
        project_id=caller.project_id, run_id=run_id, step_run_id=step_run_id
    )
    lines = [
        s.LogLineOut(
            attempt=entry.attempt,
            time=line.time,
            stream=line.stream,
            text=line.text,
            level=line.level,
        )
        for entry in logs
        if attempt is None or entry.attempt == attempt
        for line in entry.lines
    ]
    truncated = any(e.truncated for e in logs if attempt is None or e.attempt == attempt)
    return s.LogsOut(step_run_id=step_run_id, lines=lines, truncated=truncated)


@router.get(
    "/runs/{run_id}/events",
    summary="Live events of a run (Server-Sent Events)",
    tags=["runs"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream"}},
)
async def run_events(
    run_id: PathId,
    caller: RunReader,
    services: Services,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, description="Only events after this id")] = None,
) -> StreamingResponse:
    """Every event of the run so far, then each new one as it happens (`id:` the event id,
    `event:` its type such as `step.succeeded`, `data:` JSON). The stream ends after the
    run's final event. Reconnect with `Last-Event-ID` (or `?after=`) to resume."""
    start = after or 0
    if last_event_id:
        if not last_event_id.isdigit():
            raise ApiError(422, "Last-Event-ID: expected an event id", field="Last-Event-ID")
        start = max(start, int(last_event_id))
    await services.runs.events(project_id=caller.project_id, run_id=run_id, after_id=0, limit=1)

    async def stream() -> AsyncIterator[str]:
        last = start
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        with services.signals.watch(run_id) as changed:
            while True:
                changed.clear()
                run, events = await services.runs.events(
                    project_id=caller.project_id, run_id=run_id, after_id=last
                )
                for stored in events:
                    event = stored.event
                    data = {
                        "run_id": event.run_id,
                        "step_run_id": event.step_run_id,
                        "type": event.type.value,
                        "at": event.at.isoformat(),
                        **event.data,
                    }
                    payload = json.dumps(data, default=str)
                    yield f"id: {stored.id}\nevent: {event.type.value}\ndata: {payload}\n\n"
                    last = stored.id
                if events:
                    quiet_since = loop.time()
                    continue
                if run.status.is_final:
                    return
                try:
                    await asyncio.wait_for(changed.wait(), timeout=1.0)
                except TimeoutError:
                    if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                        quiet_since = loop.time()
                        yield ": keep-alive\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# --- results and files -----------------------------------------------------------------------


@router.get(
    "/results/{run_id}",
    summary="A run's result",
    tags=["results"],
    responses={
        202: {"model": s.ResultPendingOut, "description": "The run is still running"},
        422: {"description": "The run failed or was canceled; `detail` says why"},
    },
)
async def get_result(
    run_id: PathId,
    services: Services,
    authorization: AuthorizationHeader = None,
    project: ProjectHeader = None,
    api_key: ApiKeyHeader = None,
) -> Any:
    """200 with the run's configured results once it succeeded; 202 while it runs; 422 with
    the error when it failed or was canceled; 404 when unknown. A run started by a call to a
    user API (the `result_link` of a 202) is also readable with the same credentials as the
    call: one of its project's API keys in `X-API-Key`, or nothing when the project does not
    require keys."""
    if authorization:
        caller = await require("run:read")(
            services=services, authorization=authorization, project=project
        )
        project_id = caller.project_id
    else:
        project_id = await _user_api_access(services, await services.runs.find(run_id), api_key)
    outcome = await services.runs.result(project_id=project_id, run_id=run_id)
    run = outcome.run
    if run.status is RunStatus.SUCCEEDED:
        return s.ResultOut(run_id=run.id, status=run.status.value, result=result_out(run.result))
    if run.status is RunStatus.RUNNING:
        return JSONResponse(
            s.ResultPendingOut(
                run_id=run.id, status=run.status.value, result_link=f"{PREFIX}/results/{run.id}"
            ).model_dump(),
            status_code=202,
        )
    error = run.error
    body = error_body(
        error.message if error else f"the run is {run.status.value}",
        "run_canceled" if run.status is RunStatus.CANCELED else "run_failed",
    )
    body["run_id"] = run.id
    body["status"] = run.status.value
    body["error"] = error.as_dict() if error else None
    return JSONResponse(body, status_code=422)


@router.get("/files/{file_id}/{filename}", summary="Download a file", tags=["files"])
async def download_file(
    file_id: PathId,
    filename: Annotated[str, Path(min_length=1, max_length=255), s.NoNul],
    services: Services,
    authorization: AuthorizationHeader = None,
    project: ProjectHeader = None,
    api_key: ApiKeyHeader = None,
) -> Response:
    """An input or output file of a run of the project (a directory comes as its archive).
    A file of a run started by a user API is also readable with the call's credentials (see
    `GET /runner/results/{run_id}`)."""
    if authorization:
        caller = await require("run:read")(
            services=services, authorization=authorization, project=project
        )
        project_id = caller.project_id
    else:
        _, run = await services.runs.find_file(file_id)
        project_id = await _user_api_access(services, run, api_key)
    record, data = await services.runs.file(project_id=project_id, file_id=file_id)
    if record.name != filename:
        raise ApiError(404, f"file {file_id} is not named {filename!r}", field="filename")
    media_type = mimetypes.guess_type(record.name)[0] or "application/octet-stream"
    return Response(
        content=data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(record.name, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )
