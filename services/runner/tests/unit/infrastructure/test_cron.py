"""Cron schedules: times in their time zone, the latest time at or before a moment, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oryx_runner.domain.errors import InvalidValue
from oryx_runner.infrastructure.triggers.cron import CroniterSchedules


def test_times_follow_the_time_zone_summer_and_winter() -> None:
    nine_in_paris = CroniterSchedules().parse(expression="0 9 * * *", timezone="Europe/Paris")
    winter = nine_in_paris.next_after(datetime(2026, 1, 10, tzinfo=UTC))
    summer = nine_in_paris.next_after(datetime(2026, 7, 10, tzinfo=UTC))
    assert winter == datetime(2026, 1, 10, 8, tzinfo=UTC)
    assert summer == datetime(2026, 7, 10, 7, tzinfo=UTC)
    assert winter.tzinfo is UTC


def test_latest_includes_the_moment_itself() -> None:
    every5 = CroniterSchedules().parse(expression="*/5 * * * *", timezone="UTC")
    at = datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
    assert every5.latest(at) == at
    assert every5.latest(datetime(2026, 1, 1, 10, 7, tzinfo=UTC)) == at
    assert every5.next_after(at) == datetime(2026, 1, 1, 10, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "timezone", "field", "says"),
    [
        ("*/5 * * *", "UTC", "cron", "is not a 5-field cron expression"),
        ("* * * * * *", "UTC", "cron", "is not a 5-field cron expression"),
        ("*/0 * * * *", "UTC", "cron", "is not a valid cron expression"),
        ("0 25 * * *", "UTC", "cron", "is not a valid cron expression"),
        ("0 0 31 2 *", "UTC", "cron", "never fires"),
        ("* * * * *", "Nowhere/Land", "timezone", "is not an IANA time zone name"),
        ("* * * * *", "../../etc/passwd", "timezone", "is not an IANA time zone name"),
    ],
)
def test_bad_expressions_and_zones_name_the_input(
    expression: str, timezone: str, field: str, says: str
) -> None:
    with pytest.raises(InvalidValue) as caught:
        CroniterSchedules().parse(expression=expression, timezone=timezone)
    assert caught.value.field == field
    assert says in caught.value.message
