"""Reading a form body (multipart or urlencoded): text fields and uploaded files."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from oryx_runner.application.runs import UploadedFile
from oryx_runner.infrastructure.api.errors import ApiError

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


async def read_form(
    request: Request, *, max_bytes: int, prefix: str
) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """The form's text fields and files by name; 422 naming ``<prefix>.<name>`` for a field
    given twice, 413 for a file larger than ``max_bytes``, 422 for a body that is no form."""
    try:
        form = await request.form(max_files=100, max_fields=1000)
    except Exception as exc:
        raise ApiError(
            422, f"the multipart body cannot be read: {exc}", code="malformed_body"
        ) from None
    values: dict[str, Any] = {}
    uploads: dict[str, UploadedFile] = {}
    for name, part in form.multi_items():
        if name in values or name in uploads:
            raise ApiError(422, f"{prefix}.{name}: given twice", field=f"{prefix}.{name}")
        if isinstance(part, str):
            values[name] = part
            continue
        data = await part.read()
        if len(data) > max_bytes:
            raise ApiError(413, f"{prefix}.{name}: a file is at most {max_bytes} bytes")
        uploads[name] = UploadedFile(
            name=part.filename or name,
            data=data,
            content_type=part.content_type or "application/octet-stream",
        )
    return values, uploads
