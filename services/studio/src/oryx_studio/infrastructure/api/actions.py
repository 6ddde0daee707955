"""Routes of the action library, under /studio/actions."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from oryx_studio.domain.library import ActionKind
from oryx_studio.infrastructure.api import schemas as s
from oryx_studio.infrastructure.api.common import (
    CONFLICT,
    ERRORS,
    PREFIX,
    Cursor,
    Limit,
    PathId,
    Search,
)
from oryx_studio.infrastructure.api.deps import ActionDeleter, ActionReader, Services
from oryx_studio.infrastructure.api.views import action_out, versions_out

router = APIRouter(prefix=f"{PREFIX}/actions", responses=ERRORS, tags=["actions"])


@router.get("", summary="List the action library")
async def list_actions(
    caller: ActionReader,
    services: Services,
    kind: ActionKind | None = None,
    category: Annotated[str | None, Query(max_length=64), s.NoNul] = None,
    search: Search = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> s.PageOut[s.ActionOut]:
    """The actions this project may use, newest first: the ones its Git sources published and
    the built-in triggers of the runner (`builtin: true`, category `Triggers`). Filter by
    `kind` (source, processor, publisher), `category`, and `search` (in the name, human name
    or description)."""
    page = await services.library.list(
        project_id=caller.project_id,
        kind=kind,
        category=category,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    return s.PageOut[s.ActionOut](
        items=[action_out(a) for a in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.get("/{action_id}", summary="Get an action")
async def get_action(action_id: PathId, caller: ActionReader, services: Services) -> s.ActionOut:
    """The action and its latest version (inputs, outputs, resources)."""
    return action_out(await services.library.get(project_id=caller.project_id, action_id=action_id))


@router.delete("/{action_id}", status_code=204, summary="Delete an action", responses=CONFLICT)
async def delete_action(action_id: PathId, caller: ActionDeleter, services: Services) -> Response:
    """Delete the action and all its versions from the library. 409 `in_use` while workflows
    use it (`used_by` names them); 409 `builtin_action` for a built-in trigger."""
    await services.library.delete(project_id=caller.project_id, action_id=action_id)
    return Response(status_code=204)


@router.get("/{action_id}/versions", summary="List an action's versions")
async def list_versions(
    action_id: PathId, caller: ActionReader, services: Services
) -> list[s.ActionVersionOut]:
    """Every published version, highest first."""
    action = await services.library.get(project_id=caller.project_id, action_id=action_id)
    return versions_out(action)


@router.get(
    "/{action_id}/logo",
    summary="An action's logo",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)
async def get_logo(
    action_id: PathId,
    caller: ActionReader,
    services: Services,
    version: Annotated[str | None, Query(max_length=255), s.NoNul] = None,
) -> Response:
    """The PNG or JPEG logo of the latest version (or of `?version=`); 404 when it has none."""
    data, media_type = await services.library.logo(
        project_id=caller.project_id, action_id=action_id, version=version
    )
    if media_type not in ("image/png", "image/jpeg"):
        media_type = "application/octet-stream"
    return Response(
        content=data,
        media_type=media_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"},
    )
