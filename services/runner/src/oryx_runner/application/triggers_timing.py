"""The timing triggers: ``cron`` and ``emit-every`` (docs/reference/builtin-triggers.md).

Every runner process runs a driver task per workflow deployed with one of them, and every
process fires at the same scheduled times: the fire key is the scheduled time, and
``trigger_fires`` lets one fire per key and deployment start a run (``TriggerRuns.fire``).
A process that starts late, restarts or dies changes nothing to what fires.

- ``emit-every N``: the fire times are ``anchor + k * N`` (k >= 1), the anchor being when
  the runner received the deploy order, so that every process computes the same times. After
  downtime it simply resumes: the next fire time still to come, none of the missed ones.
- ``cron``: the times of the expression in its time zone. After downtime it fires **once**
  for the most recent missed time, if that time is less than one period old (the period
  being the gap from it to the next time) and the deployment existed then; never a burst.
  If that time did fire (before a restart, or in another process), its key says so and
  nothing happens.

Time comes from the ``Clock``; waiting from the ``Timer``: unit tests drive both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from oryx_runner.application.ports import Clock
from oryx_runner.application.triggers import FireRun, Firing, static_inputs
from oryx_runner.domain.deployments import Deployment
from oryx_runner.domain.errors import InvalidValue
from oryx_runner.domain.workflows import BuiltinTrigger

log = logging.getLogger(__name__)

KINDS = frozenset({BuiltinTrigger.CRON.value, BuiltinTrigger.EMIT_EVERY.value})


class Schedule(Protocol):
    def next_after(self, at: datetime) -> datetime:
        """The first fire time strictly after ``at``."""
        ...

    def latest(self, at: datetime) -> datetime | None:
        """The last fire time at or before ``at`` (None when there is none)."""
        ...


class CronSchedules(Protocol):
    def parse(self, *, expression: str, timezone: str) -> Schedule:
        """The schedule of a 5-field cron expression in an IANA time zone; ``InvalidValue``
        naming the input (``cron`` or ``timezone``) and what was expected."""
        ...


class Timer(Protocol):
    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True, kw_only=True)
class EverySeconds:
    """``anchor + k * seconds`` for k >= 1."""

    seconds: int
    anchor: datetime

    def next_after(self, at: datetime) -> datetime:
        period = timedelta(seconds=self.seconds)
        if at < self.anchor + period:
            return self.anchor + period
        return self.anchor + period * ((at - self.anchor) // period + 1)

    def latest(self, at: datetime) -> datetime | None:
        period = timedelta(seconds=self.seconds)
        k = (at - self.anchor) // period
        return self.anchor + period * k if k >= 1 else None


def fire_key(at: datetime) -> str:
    """The key of a scheduled fire: its time, RFC 3339 in UTC."""
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


class TimingDriver:
    """Implements ``TriggerDriver`` for ``cron`` and ``emit-every``."""

    def __init__(
        self,
        *,
        cron: CronSchedules,
        clock: Clock,
        timer: Timer,
        retry_seconds: float = 1.0,
        max_sleep_seconds: float = 30.0,
    ) -> None:
        self._cron = cron
        self._clock = clock
        self._timer = timer
        self._retry_seconds = retry_seconds
        self._max_sleep = max_sleep_seconds
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def running(self) -> set[str]:
        return {w for w, task in self._tasks.items() if not task.done()}

    def check(self, deployment: Deployment) -> None:
        self.schedule(deployment)

    def schedule(self, deployment: Deployment) -> Schedule:
        kind = deployment.trigger_kind
        values = static_inputs(deployment.snapshot.trigger)
        if kind == BuiltinTrigger.EMIT_EVERY:
            seconds = values.get("seconds")
            if isinstance(seconds, float) and seconds.is_integer():
                seconds = int(seconds)
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                raise InvalidValue(
                    f"emit-every: the input seconds must be a whole number of seconds, at "
                    f"least 1 (got {seconds!r})",
                    field="seconds",
                )
            return EverySeconds(seconds=seconds, anchor=deployment.received_at)
        if kind == BuiltinTrigger.CRON:
            expression = values.get("cron")
            timezone = values.get("timezone")
            if not isinstance(expression, str) or not expression.strip():
                raise InvalidValue(
                    "cron: the input cron is required: a 5-field cron expression such as "
                    "'*/5 * * * *'",
                    field="cron",
                )
            if timezone is None or timezone == "":
                timezone = "UTC"
            if not isinstance(timezone, str):
                raise InvalidValue(
                    f"cron: the input timezone must be an IANA time zone name such as "
                    f"Europe/Paris (got {timezone!r})",
                    field="timezone",
                )
            return self._cron.parse(expression=expression, timezone=timezone)
        raise InvalidValue(f"{kind} is not a timing trigger")

    async def start(self, deployment: Deployment, fire: FireRun) -> None:
        await self.stop(deployment.workflow_id)
        schedule = self.schedule(deployment)
        self._tasks[deployment.workflow_id] = asyncio.create_task(
            self._run(deployment, schedule, fire),
            name=f"{deployment.trigger_kind} trigger of {deployment.workflow_id}",
        )

    async def stop(self, workflow_id: str) -> None:
        task = self._tasks.pop(workflow_id, None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def close(self) -> None:
        for workflow_id in list(self._tasks):
            await self.stop(workflow_id)

    async def _run(self, deployment: Deployment, schedule: Schedule, fire: FireRun) -> None:
        now = self._clock.now()
        if deployment.trigger_kind == BuiltinTrigger.CRON:
            missed = schedule.latest(now)
            if missed is not None and missed > deployment.received_at:
                period = schedule.next_after(missed) - missed
                if now - missed < period:
                    await self._fire(deployment, schedule, fire, missed)
        at = schedule.next_after(now)
        while True:
            await self._sleep_until(at)
            await self._fire(deployment, schedule, fire, at)
            # late (a slow loop, a suspended machine): the times already past are skipped
            at = schedule.next_after(max(at, self._clock.now()))

    async def _sleep_until(self, at: datetime) -> None:
        while True:
            left = (at - self._clock.now()).total_seconds()
            if left <= 0:
                return
            # in slices: a clock that jumps is followed within a slice
            await self._timer.sleep(min(left, self._max_sleep))

    async def _fire(
        self, deployment: Deployment, schedule: Schedule, fire: FireRun, at: datetime
    ) -> None:
        """Fire for the scheduled time ``at``; retried (same key: still once) until it
        works or the next time is due."""
        firing = Firing(fire_key=fire_key(at), scheduled_at=at)
        attempt = 0
        while True:
            try:
                run_id = await fire(firing)
            except Exception as exc:
                attempt += 1
                if self._clock.now() >= schedule.next_after(at):
                    log.error(
                        "%s: could not fire for %s, and the next time is due: %s",
                        deployment.workflow_id, firing.fire_key, exc,
                    )  # fmt: skip
                    return
                delay = min(30.0, self._retry_seconds * 2 ** (attempt - 1))
                log.warning(
                    "%s: could not fire for %s (%s); again in %.1f s",
                    deployment.workflow_id, firing.fire_key, exc, delay,
                )  # fmt: skip
                await self._timer.sleep(delay)
                continue
            if run_id is not None:
                log.info("%s fired for %s: run %s", deployment.workflow_id, firing.fire_key, run_id)
            return
