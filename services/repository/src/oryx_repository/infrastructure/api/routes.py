"""Routes of the repository API, under /repository."""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse

from oryx_repository.application.sources import AddSource, ChangeSource
from oryx_repository.domain.actions import Action, ActionStatus
from oryx_repository.domain.sources import ScanSummary, Source
from oryx_repository.infrastructure.api import schemas as s
from oryx_repository.infrastructure.api.deps import Builder, Services, SourceReader, SourceWriter

PREFIX = "/repository"

Responses = dict[int | str, dict[str, Any]]
ERRORS: Responses = {
    401: {"description": "Missing, malformed, expired or revoked token"},
    403: {"description": "Your role in the project does not allow this"},
    404: {"description": "Unknown id, or not in this project"},
    422: {"description": "Invalid input; `field` names the culprit"},
}
CONFLICT: Responses = {409: {"description": "The action's state does not allow this"}}

PathId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]

router = APIRouter(prefix=PREFIX, responses=ERRORS)


def scan_out(scan: ScanSummary | None) -> s.ScanOut | None:
    if scan is None:
        return None
    return s.ScanOut(
        status=scan.status,
        ref=scan.ref,
        commit_sha=scan.commit_sha,
        at=scan.at,
        error=scan.error,
        action_count=scan.action_count,
        error_count=scan.error_count,
    )


def source_out(source: Source) -> s.SourceOut:
    return s.SourceOut(
        id=source.id,
        project_id=source.project_id,
        name=source.name,
        url=source.url,
        branch=source.branch,
        username=source.credentials.username if source.credentials else None,
        password_is_set=source.credentials is not None,
        created_at=source.created_at,
        updated_at=source.updated_at,
        last_scan=scan_out(source.last_scan),
    )


def _spec(action: Action) -> dict[str, Any]:
    spec = (
        action.content.document.get("spec") if isinstance(action.content.document, dict) else None
    )
    return spec if isinstance(spec, dict) else {}


def _io(items: Any) -> list[s.IoOut]:
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        out.append(
            s.IoOut(
                name=str(item.get("name", "")),
                human_name=str(item.get("human_name", item.get("name", ""))),
                help=str(item.get("help", "")),
                type=str(item.get("type", "")),
                optional=bool(item.get("optional", False)),
                enum_values=[str(v) for v in item.get("enum_values") or []],
                default_value=item.get("default_value"),
            )
        )
    return out


def action_out(action: Action) -> s.ActionOut:
    spec = _spec(action)
    valid = not action.content.errors
    categories = spec.get("categories") if valid else None
    return s.ActionOut(
        id=action.id,
        project_id=action.project_id,
        source_id=action.source_id,
        path=action.content.path,
        name=action.name,
        version=action.version,
        kind=action.content.kind,
        status=action.status,
        commit_sha=action.content.commit_sha,
        human_name=str(spec["human_name"]) if valid and "human_name" in spec else None,
        description=str(spec["description"]) if valid and "description" in spec else None,
        categories=[str(c) for c in categories] if isinstance(categories, list) else [],
        inputs=_io(spec.get("inputs")) if valid else [],
        outputs=_io(spec.get("outputs")) if valid else [],
        metadata=action.content.document if isinstance(action.content.document, dict) else {},
        scan_errors=[
            s.ScanErrorOut(file=e.file, field=e.field, reason=e.reason)
            for e in action.content.errors
        ],
        has_logo=bool(action.content.logo),
        build_id=action.build_id,
        build_error=action.build_error,
        build_log_tail=action.build_log_tail[-2000:],
        artifact_ref=action.artifact_ref,
        created_at=action.created_at,
        updated_at=action.updated_at,
    )


@router.get("/healthz", summary="Liveness", tags=["health"], responses={})
async def healthz() -> s.HealthOut:
    """Answers 200 as soon as the service serves requests."""
    return s.HealthOut(status="ok", service="repository")


# sources ------------------------------------------------------------------------------------


@router.get("/sources", summary="List Git sources", tags=["sources"])
async def list_sources(
    caller: SourceReader, services: Services, limit: Limit = 50, cursor: Cursor = None
) -> s.PageOut[s.SourceOut]:
    """The project's Git sources, newest first. Passwords are never returned."""
    page = await services.sources.list(project_id=caller.project_id, limit=limit, cursor=cursor)
    return s.PageOut[s.SourceOut](
        items=[source_out(x) for x in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post("/sources", status_code=201, summary="Add a Git source", tags=["sources"])
async def add_source(body: s.SourceIn, caller: SourceWriter, services: Services) -> s.SourceOut:
    """Register a Git repository of actions. Scan it next with `POST .../scan`.

    Credentials (a username and a password or token) are encrypted at rest and never
    returned: answers say `password_is_set` instead."""
    cmd = AddSource(
        name=body.name,
        url=body.url,
        branch=body.branch,
        username=body.username,
        password=body.password,
    )
    return source_out(await services.sources.add(project_id=caller.project_id, cmd=cmd))


@router.get("/sources/{source_id}", summary="Get a Git source", tags=["sources"])
async def get_source(source_id: PathId, caller: SourceReader, services: Services) -> s.SourceOut:
    """One source with its last scan."""
    return source_out(await services.sources.get(project_id=caller.project_id, source_id=source_id))


@router.put("/sources/{source_id}", summary="Change a Git source", tags=["sources"])
async def change_source(
    source_id: PathId, body: s.SourceUpdateIn, caller: SourceWriter, services: Services
) -> s.SourceOut:
    """Change name, URL, branch or credentials; omitted fields keep their value."""
    cmd = ChangeSource(
        name=body.name,
        url=body.url,
        branch=body.branch,
        username=body.username,
        password=body.password,
        clear_credentials=body.clear_credentials,
    )
    source = await services.sources.change(
        project_id=caller.project_id, source_id=source_id, cmd=cmd
    )
    return source_out(source)


@router.delete(
    "/sources/{source_id}", status_code=204, summary="Remove a Git source", tags=["sources"]
)
async def remove_source(source_id: PathId, caller: SourceWriter, services: Services) -> Response:
    """Remove the source and its actions; builds in flight are cancelled. Actions already
    published stay in the studio's library."""
    await services.sources.remove(project_id=caller.project_id, source_id=source_id)
    return Response(status_code=204)


@router.post("/sources/{source_id}/scan", summary="Scan a Git source", tags=["sources"])
async def scan_source(
    source_id: PathId, caller: SourceWriter, services: Services, body: s.ScanIn | None = None
) -> s.ScanResultOut:
    """Clone the branch (default: the source's) or the commit, find every action folder,
    validate it, and record what was found. A repository that cannot be read answers 200
    with `status: error` and the reason; actions with errors list them by file and field."""
    body = body or s.ScanIn()
    result = await services.scans.scan(
        project_id=caller.project_id, source_id=source_id, branch=body.branch, commit=body.commit
    )
    return s.ScanResultOut(
        source_id=result.source.id,
        status=result.summary.status,
        ref=result.summary.ref,
        commit_sha=result.summary.commit_sha,
        error=result.summary.error,
        actions=[action_out(a) for a in result.actions],
        errors=[s.ScanErrorOut(file=e.file, field=e.field, reason=e.reason) for e in result.errors],
    )


@router.post(
    "/sources/{source_id}/build",
    summary="Build every valid action of a source",
    tags=["sources"],
    responses=CONFLICT,
)
async def build_source(source_id: PathId, caller: Builder, services: Services) -> list[s.ActionOut]:
    """Ask a build of every action of the last scan that has no errors and is not building
    already; answers the actions now `build_pending`."""
    actions = await services.builds.build_source(project_id=caller.project_id, source_id=source_id)
    return [action_out(a) for a in actions]


# actions ------------------------------------------------------------------------------------


@router.get("/actions", summary="List actions", tags=["actions"])
async def list_actions(
    caller: SourceReader,
    services: Services,
    source_id: Annotated[str | None, Query(max_length=64), s.NoNul] = None,
    status: ActionStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.PageOut[s.ActionOut]:
    """Actions found by the scans of the project's sources, newest first."""
    page = await services.builds.list(
        project_id=caller.project_id,
        source_id=source_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return s.PageOut[s.ActionOut](
        items=[action_out(a) for a in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.get("/actions/{action_id}", summary="Get an action", tags=["actions"])
async def get_action(action_id: PathId, caller: SourceReader, services: Services) -> s.ActionOut:
    """Metadata, status, scan errors and the tail of the build log."""
    return action_out(await services.builds.get(project_id=caller.project_id, action_id=action_id))


@router.post(
    "/actions/{action_id}/build", summary="Build an action", tags=["actions"], responses=CONFLICT
)
async def build_action(action_id: PathId, caller: Builder, services: Services) -> s.ActionOut:
    """Ask the builder to build the action at its scanned commit. 409 when it has scan
    errors or is already building."""
    action = await services.builds.build(project_id=caller.project_id, action_id=action_id)
    return action_out(action)


@router.post(
    "/actions/{action_id}/cancel",
    summary="Cancel an action's build",
    tags=["actions"],
    responses=CONFLICT,
)
async def cancel_build(action_id: PathId, caller: Builder, services: Services) -> s.ActionOut:
    """Remove the build from the builder's queue, or stop it. 409 when nothing is building."""
    action = await services.builds.cancel(project_id=caller.project_id, action_id=action_id)
    return action_out(action)


@router.get(
    "/actions/{action_id}/build-log",
    summary="The build log",
    tags=["actions"],
    response_class=PlainTextResponse,
)
async def build_log(action_id: PathId, caller: SourceReader, services: Services) -> str:
    """The kept tail of the last build's log, as plain text."""
    action = await services.builds.get(project_id=caller.project_id, action_id=action_id)
    return action.build_log_tail
