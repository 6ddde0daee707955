"""Keyset pagination: newest first, with an opaque cursor naming the last row seen."""

import base64
import binascii
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from oryx_runner.domain.errors import InvalidValue

MAX_LIMIT = 200


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw_at, raw_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        # A forged cursor must fail here, not in the driver: the time has to fit in UTC
        # (year 1 at +14:00 does not) and the id must be text PostgreSQL can hold.
        at = datetime.fromisoformat(raw_at)
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
        row_id = str(raw_id)
        if "\x00" in row_id:
            raise ValueError("NUL in cursor id")
        return at, row_id
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError):
        raise InvalidValue(
            "cursor is not valid; pass the next_cursor of a previous page", field="cursor"
        ) from None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValue(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


async def paginate(
    session: AsyncSession,
    query: Select[Any],
    *,
    created_at: Column[Any],
    row_id: Column[Any],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], int, str | None]:
    """Rows of one page, the total count, and the cursor of the next page."""
    check_limit(limit)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.order_by(created_at.desc(), row_id.desc()).limit(limit + 1)
    if cursor:
        at, last_id = decode_cursor(cursor)
        page = page.where(tuple_(created_at, row_id) < tuple_(at, last_id))
    rows = (await session.execute(page)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last._mapping[created_at.name], last._mapping[row_id.name])
    return rows, int(total or 0), next_cursor
