"""Routes of project variables, under /studio/variables."""

from typing import Any

from fastapi import APIRouter, Request, Response

from oryx_studio.application.variables import ChangeVariable, CreateVariable, UploadedFile
from oryx_studio.domain.errors import InvalidValue
from oryx_studio.infrastructure.api import schemas as s
from oryx_studio.infrastructure.api.common import (
    CONFLICT,
    ERRORS,
    PREFIX,
    UPLOAD,
    Cursor,
    Limit,
    PathId,
    form_file,
    is_multipart,
    json_object,
)
from oryx_studio.infrastructure.api.deps import Services, VariableReader, VariableWriter
from oryx_studio.infrastructure.api.documents import parse_model
from oryx_studio.infrastructure.api.views import variable_out

router = APIRouter(prefix=f"{PREFIX}/variables", responses=ERRORS, tags=["variables"])

FIELDS = ("name", "type", "description", "value")


def _body(model_name: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model_name}"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "description": "A file variable: the fields of the JSON body as form "
                        "fields, and the file in the field `file`",
                        "properties": {
                            **{f: {"type": "string"} for f in FIELDS},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                },
            },
        }
    }


async def _read(
    request: Request, services: Services, model: type[Any]
) -> tuple[Any, UploadedFile | None]:
    """The body as ``model``, from JSON or from a multipart form with a file."""
    if not is_multipart(request):
        return parse_model(model, await json_object(request)), None
    fields, upload = await form_file(request, max_bytes=services.max_file_bytes, fields=FIELDS)
    body = parse_model(model, fields)
    return body, UploadedFile(name=upload[0], data=upload[1]) if upload else None


@router.get("", summary="List variables")
async def list_variables(
    caller: VariableReader, services: Services, limit: Limit = 50, cursor: Cursor = None
) -> s.PageOut[s.VariableOut]:
    """The project's variables, newest first. A password's value is never returned."""
    page = await services.variables.list(project_id=caller.project_id, limit=limit, cursor=cursor)
    return s.PageOut[s.VariableOut](
        items=[variable_out(v) for v in page.items], total=page.total, next_cursor=page.next_cursor
    )


@router.post(
    "",
    status_code=201,
    summary="Create a variable",
    responses={**CONFLICT, **UPLOAD},
    openapi_extra=_body("VariableIn"),
)
async def create_variable(
    request: Request, caller: VariableWriter, services: Services
) -> s.VariableOut:
    """A `string` or `password` variable as JSON `{name, type, description?, value}`; a `file`
    variable as a multipart form (the same fields, and the file in `file`). Names are unique
    in the project (409 `name_taken`)."""
    body, upload = await _read(request, services, s.VariableIn)
    cmd = CreateVariable(
        name=body.name,
        type=body.type,
        description=body.description,
        value=body.value,
        file=upload,
    )
    return variable_out(await services.variables.create(project_id=caller.project_id, cmd=cmd))


@router.get("/{variable_id}", summary="Get a variable")
async def get_variable(
    variable_id: PathId, caller: VariableReader, services: Services
) -> s.VariableOut:
    """The variable; `value` is null for a password (see `value_is_set`) and a file."""
    variable = await services.variables.get(project_id=caller.project_id, variable_id=variable_id)
    return variable_out(variable)


@router.put(
    "/{variable_id}",
    summary="Change a variable",
    responses={**CONFLICT, **UPLOAD},
    openapi_extra=_body("VariableUpdateIn"),
)
async def change_variable(
    variable_id: PathId, request: Request, caller: VariableWriter, services: Services
) -> s.VariableOut:
    """Change the name, description or value (a new file for a file variable, as
    multipart); omitted fields keep theirs. Deployed workflows keep the value they were
    deployed with until deployed again."""
    body, upload = await _read(request, services, s.VariableUpdateIn)
    if "type" in body.model_fields_set:
        raise InvalidValue("a variable's type cannot change", field="type")
    cmd = ChangeVariable(
        name=body.name, description=body.description, value=body.value, file=upload
    )
    variable = await services.variables.change(
        project_id=caller.project_id, variable_id=variable_id, cmd=cmd
    )
    return variable_out(variable)


@router.delete("/{variable_id}", status_code=204, summary="Delete a variable", responses=CONFLICT)
async def delete_variable(
    variable_id: PathId, caller: VariableWriter, services: Services
) -> Response:
    """Delete the variable (and its file). 409 `in_use` while workflows use it (`used_by`
    names them)."""
    await services.variables.delete(project_id=caller.project_id, variable_id=variable_id)
    return Response(status_code=204)
