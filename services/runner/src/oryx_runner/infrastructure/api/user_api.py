"""Routes of the user APIs (``/runner/api/{project_id}/...``), their keys and settings."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from oryx_runner.application.http_api import Call, Target
from oryx_runner.application.runs import UploadedFile
from oryx_runner.domain.api_keys import ApiKey, ApiSettings
from oryx_runner.domain.errors import InvalidValue, NotFound
from oryx_runner.domain.runs import ErrorKind, RunStatus, WorkflowRun
from oryx_runner.infrastructure.api import schemas as s
from oryx_runner.infrastructure.api.deps import ApiKeyManager, RunReader, Services
from oryx_runner.infrastructure.api.errors import ApiError, error_body
from oryx_runner.infrastructure.api.forms import FORM_TYPES, read_form
from oryx_runner.infrastructure.api.routes import result_out
from oryx_runner.infrastructure.api.user_openapi import user_openapi

PREFIX = "/runner"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

ProjectId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
ApiKeyHeader = Annotated[
    str | None,
    Header(
        alias="X-API-Key",
        max_length=512,
        description="One of the project's API keys, when the project requires them",
    ),
]

router = APIRouter(prefix=PREFIX)


# --- keys and settings -----------------------------------------------------------------------


def key_out(key: ApiKey) -> s.ApiKeyOut:
    return s.ApiKeyOut(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_by=key.created_by,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
    )


def settings_out(settings: ApiSettings) -> s.ApiSettingsOut:
    return s.ApiSettingsOut(
        project_id=settings.project_id,
        require_api_key=settings.require_api_key,
        changed_at=settings.changed_at,
    )


@router.get("/api-keys", summary="List the project's API keys", tags=["user APIs"])
async def list_api_keys(
    caller: ApiKeyManager,
    services: Services,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="next_cursor of the previous page")
    ] = None,
) -> s.PageOut[s.ApiKeyOut]:
    """The keys callers of the project's user APIs may send in `X-API-Key` (never the keys
    themselves: only their first characters)."""
    page = await services.api_keys.list(project_id=caller.project_id, limit=limit, cursor=cursor)
    return s.PageOut[s.ApiKeyOut](
        items=[key_out(k) for k in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post("/api-keys", status_code=201, summary="Create an API key", tags=["user APIs"])
async def create_api_key(
    body: s.ApiKeyIn, caller: ApiKeyManager, services: Services
) -> s.ApiKeyCreatedOut:
    """A new key for the project's user APIs. The answer holds the key itself, shown this
    once: keep it. Keys are only checked once the project requires them
    (`PUT /runner/api-settings`)."""
    key, secret = await services.api_keys.create(
        project_id=caller.project_id, name=body.name, created_by=caller.user_id
    )
    return s.ApiKeyCreatedOut(**key_out(key).model_dump(), key=secret)


@router.delete(
    "/api-keys/{key_id}", status_code=204, summary="Delete an API key", tags=["user APIs"]
)
async def delete_api_key(
    key_id: Annotated[str, Path(min_length=1, max_length=64), s.NoNul],
    caller: ApiKeyManager,
    services: Services,
) -> Response:
    """Callers using this key are refused from now on (within a second on every runner)."""
    await services.api_keys.delete(project_id=caller.project_id, key_id=key_id)
    return Response(status_code=204)


@router.get("/api-settings", summary="The project's user API settings", tags=["user APIs"])
async def get_api_settings(caller: RunReader, services: Services) -> s.ApiSettingsOut:
    """Whether the project's endpoints require an API key (default: no, they are open to
    whoever reaches the runner)."""
    return settings_out(await services.api_keys.settings(project_id=caller.project_id))


@router.put("/api-settings", summary="Change the user API settings", tags=["user APIs"])
async def put_api_settings(
    body: s.ApiSettingsIn, caller: ApiKeyManager, services: Services
) -> s.ApiSettingsOut:
    """`{"require_api_key": true}`: from now on, every call to the project's endpoints (and
    to their OpenAPI document and results) must send one of its keys in `X-API-Key`."""
    settings = await services.api_keys.set_settings(
        project_id=caller.project_id, require_api_key=body.require_api_key
    )
    return settings_out(settings)


# --- the user APIs ---------------------------------------------------------------------------


@router.get(
    "/api/{project_id}/openapi.json",
    summary="The OpenAPI document of a project's user APIs",
    tags=["user APIs"],
)
async def project_openapi(
    project_id: ProjectId, services: Services, api_key: ApiKeyHeader = None
) -> JSONResponse:
    """One operation per deployed endpoint of the project; 404 while none is deployed."""
    await services.access.check(project_id=project_id, presented=api_key)
    targets = await services.http_api.endpoints(project_id)
    if not targets:
        raise NotFound(f"project {project_id} has no deployed endpoint", field="project_id")
    settings = await services.api_keys.settings(project_id=project_id)
    return JSONResponse(user_openapi(project_id, targets, require_api_key=settings.require_api_key))


@router.get(
    "/api/{project_id}/docs",
    summary="The docs page of a project's user APIs",
    tags=["user APIs"],
    response_class=HTMLResponse,
)
async def project_docs(project_id: ProjectId, services: Services) -> HTMLResponse:
    """An interactive page over `openapi.json`; 404 while no endpoint is deployed."""
    if not await services.http_api.endpoints(project_id):
        raise NotFound(f"project {project_id} has no deployed endpoint", field="project_id")
    return get_swagger_ui_html(
        openapi_url=f"{PREFIX}/api/{project_id}/openapi.json",
        title=f"User APIs of project {project_id}",
    )


async def _read_call(request: Request, target: Target, params: dict[str, str], limit: int) -> Call:
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = list(request.query_params.multi_items())
    if not target.takes_body:
        return Call(params=params, query=query, headers=headers)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    body: dict[str, Any] | None = None
    files: dict[str, UploadedFile] = {}
    if content_type in FORM_TYPES:
        body, files = await read_form(request, max_bytes=limit, prefix="body")
    else:
        raw = await request.body()
        if raw.strip():
            if content_type not in ("application/json", "") and not content_type.endswith("+json"):
                raise ApiError(
                    415,
                    "send the body as application/json (an object of the endpoint's fields), "
                    "or as multipart/form-data (with files)",
                )
            try:
                parsed = json.loads(raw)
            except (ValueError, RecursionError):
                raise ApiError(
                    422, "the request body is not valid JSON", code="malformed_json"
                ) from None
            if not isinstance(parsed, dict):
                raise InvalidValue(
                    "body: expected a JSON object of the endpoint's fields", field="body"
                )
            body = parsed
    return Call(params=params, query=query, headers=headers, body=body, files=files)


def run_error_status(run: WorkflowRun) -> int:
    """The HTTP status of a failed run: a step's RyaxException code, 504 for a step that ran
    out of time, 500 otherwise; 503 for a run cancelled (e.g. by an undeploy)."""
    if run.status is RunStatus.CANCELED:
        return 503
    error = run.error
    if (
        error is not None
        and error.kind is ErrorKind.USER_ERROR
        and isinstance(error.code, int)
        and 400 <= error.code <= 599
    ):
        return error.code
    if error is not None and error.kind is ErrorKind.TIMEOUT:
        return 504
    return 500


def _accepted(run: WorkflowRun) -> JSONResponse:
    link = f"{PREFIX}/results/{run.id}"
    return JSONResponse(
        s.ApiAcceptedOut(workflow_run_id=run.id, result_link=link).model_dump(),
        status_code=202,
        headers={"Location": link, "X-Oryx-Run-Id": run.id},
    )


async def call_endpoint(
    project_id: ProjectId,
    path: Annotated[str, Path(max_length=2048), s.NoNul],
    request: Request,
    services: Services,
    api_key: ApiKeyHeader = None,
) -> Response:
    """Starts a run of the workflow deployed at this path and method, with the values its
    HTTP trigger reads from the path, query, headers and body. Within the endpoint's timeout
    the answer is its success code with the workflow's results, or the error of a failed
    step (a RyaxException's code becomes the status); after it, 202 with the run's
    `result_link`. `GET /runner/api/{project_id}/openapi.json` documents each endpoint."""
    access = await services.access.check(project_id=project_id, presented=api_key)
    matched = await services.http_api.resolve(
        project_id=project_id, method=request.method, path=path
    )
    call = await _read_call(request, matched.target, matched.params, services.max_upload_bytes)
    outcome = await services.http_api.call(matched.target, call, access=access)
    run = outcome.run
    if run.status is RunStatus.SUCCEEDED:
        return JSONResponse(
            result_values(run.result),
            status_code=matched.target.endpoint.success_code,
            headers={"X-Oryx-Run-Id": run.id},
        )
    if not run.status.is_final:
        return _accepted(run)
    error = run.error
    body = error_body(
        error.message if error else f"the run was {run.status.value}",
        "run_canceled"
        if run.status is RunStatus.CANCELED
        else (error.kind.value if error else "run_failed"),
    )
    body["workflow_run_id"] = run.id
    return JSONResponse(body, status_code=run_error_status(run), headers={"X-Oryx-Run-Id": run.id})


def result_values(result: dict[str, Any] | None) -> dict[str, Any]:
    return result_out(result) or {}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": s.ApiAcceptedOut, "description": "The run outlasted the timeout"},
    401: {"description": "The project requires an API key (X-API-Key)"},
    404: {"description": "No deployed endpoint at this path"},
    405: {"description": "The path exists with other methods"},
    422: {"description": "An input is missing or of the wrong type; `field` names it"},
}
for _method in METHODS:
    router.add_api_route(
        "/api/{project_id}/{path:path}",
        call_endpoint,
        methods=[_method],
        summary="Call a deployed endpoint of a project",
        tags=["user APIs"],
        responses=_RESPONSES,
        operation_id=f"call_user_api_{_method.lower()}",
    )
