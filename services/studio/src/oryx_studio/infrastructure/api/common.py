"""What every router of the studio API shares: path parameters, paging, error descriptions,
and reading a body that is JSON or multipart."""

from typing import Annotated, Any

from fastapi import Path, Query, Request
from starlette.datastructures import UploadFile

from oryx_studio.domain.errors import InvalidValue
from oryx_studio.infrastructure.api import schemas as s
from oryx_studio.infrastructure.api.errors import ApiError

PREFIX = "/studio"

Responses = dict[int | str, dict[str, Any]]
ERRORS: Responses = {
    401: {"description": "Missing, malformed, expired or revoked token"},
    403: {"description": "Your role in the project does not allow this"},
    404: {"description": "Unknown id, or not in this project"},
    422: {"description": "Invalid input; `field` names the culprit"},
}
CONFLICT: Responses = {409: {"description": "The current state does not allow this"}}
UPLOAD: Responses = {413: {"description": "The body is larger than the installation allows"}}

PathId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
StepId = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
InputName = Annotated[str, Path(min_length=1, max_length=64), s.NoNul]
Limit = Annotated[int, Query(ge=1, le=200, description="Page size (1-200)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page"), s.NoNul
]
Search = Annotated[
    str | None, Query(max_length=100, description="Text in the name or description"), s.NoNul
]

FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def is_multipart(request: Request) -> bool:
    """A form: multipart (with a file, maybe) or URL-encoded (fields only)."""
    return request.headers.get("content-type", "").lower().startswith(FORMS)


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or the contract's 422."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith("application/json"):
        raise ApiError(
            422,
            "send a JSON object with Content-Type: application/json",
            code="invalid_input",
        )
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        raise ApiError(422, "the request body is not valid JSON", code="malformed_json") from None
    if not isinstance(body, dict):
        raise ApiError(
            422,
            "send a JSON object with Content-Type: application/json",
            code="invalid_input",
        )
    return body


async def form_file(
    request: Request, *, max_bytes: int, fields: tuple[str, ...] = ()
) -> tuple[dict[str, str], tuple[str, bytes] | None]:
    """A multipart body: its text fields and its one file (field ``file``), if any."""
    try:
        form = await request.form(max_files=1, max_fields=len(fields) + 1)
    except Exception as exc:  # python-multipart and Starlette raise several kinds
        raise InvalidValue(f"the multipart body cannot be read: {exc}", field="file") from None
    texts: dict[str, str] = {}
    upload: tuple[str, bytes] | None = None
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key != "file":
                raise InvalidValue(f"send the file in the field 'file', not {key!r}", field=key)
            data = await value.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise InvalidValue(f"the file is larger than {max_bytes} bytes", field="file")
            upload = (value.filename or "file", data)
        elif key in fields:
            texts[key] = value
        else:
            raise InvalidValue(f"unknown form field {key!r}", field=key)
    await form.close()
    return texts, upload
