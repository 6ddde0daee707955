"""Cron schedules with croniter, in IANA time zones (zoneinfo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from oryx_runner.domain.errors import InvalidValue

MAX_EXPRESSION = 200


@dataclass(frozen=True)
class CronSchedule:
    """Implements ``Schedule``. Times are computed in the zone (so ``0 9 * * *`` is 9:00
    there, summer and winter) and answered in UTC."""

    expression: str
    zone: ZoneInfo

    def next_after(self, at: datetime) -> datetime:
        found: datetime = croniter(self.expression, at.astimezone(self.zone)).get_next(datetime)
        return found.astimezone(UTC)

    def latest(self, at: datetime) -> datetime | None:
        local = at.astimezone(self.zone)
        try:
            before: datetime = croniter(self.expression, local).get_prev(datetime)
        except CroniterBadDateError:
            return None
        # croniter's previous time is strictly before ``at``: ``at`` itself may be one
        following = self.next_after(before)
        return following if following <= at else before.astimezone(UTC)


class CroniterSchedules:
    """Implements ``CronSchedules``."""

    def parse(self, *, expression: str, timezone: str) -> CronSchedule:
        text = expression.strip()
        fields = text.split()
        example = "e.g. '*/5 * * * *' (minute hour day-of-month month day-of-week)"
        if len(text) > MAX_EXPRESSION or len(fields) != 5:
            raise InvalidValue(
                f"cron: {expression[:MAX_EXPRESSION]!r} is not a 5-field cron expression; "
                f"expected {example}",
                field="cron",
            )
        try:
            zone = ZoneInfo(timezone)
        except Exception:  # ZoneInfoNotFoundError, ValueError for paths, ...
            raise InvalidValue(
                f"timezone: {timezone[:100]!r} is not an IANA time zone name; expected e.g. "
                "UTC or Europe/Paris",
                field="timezone",
            ) from None
        schedule = CronSchedule(" ".join(fields), zone)
        try:
            schedule.next_after(datetime.now(UTC))
        except CroniterBadDateError:
            raise InvalidValue(f"cron: {text!r} never fires (no such date)", field="cron") from None
        except Exception as exc:  # croniter's errors are ValueErrors, KeyErrors, ...
            raise InvalidValue(
                f"cron: {text!r} is not a valid cron expression ({exc}); expected {example}",
                field="cron",
            ) from None
        return schedule
