"""Brute-force protection for login: a growing lockout after repeated failures.

Throttles are keyed by the submitted username, whether or not such a user exists, so the
answer never tells an attacker which usernames are real.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from oryx_authorization.domain.errors import TooManyAttempts

FREE_FAILURES = 5
"""Failures allowed before the first lockout."""
MAX_LOCKOUT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
"""A quiet hour wipes the slate clean."""


@dataclass(kw_only=True)
class LoginThrottle:
    key: str
    failures: int = 0
    locked_until: datetime | None = None
    last_failure_at: datetime | None = None

    def check(self, *, at: datetime) -> None:
        if self.locked_until is not None and at < self.locked_until:
            wait = max(1, int((self.locked_until - at).total_seconds() + 0.999))
            raise TooManyAttempts(
                f"too many failed logins; try again in {wait} seconds", retry_after_seconds=wait
            )

    def record_failure(self, *, at: datetime) -> None:
        if self.last_failure_at is not None and at - self.last_failure_at > FORGET_AFTER:
            self.failures = 0
        self.failures += 1
        self.last_failure_at = at
        if self.failures >= FREE_FAILURES:
            # 1 s, 2 s, 4 s, ... up to the cap: slows guessing without locking users out for long
            lockout = timedelta(seconds=2 ** min(self.failures - FREE_FAILURES, 20))
            self.locked_until = at + min(lockout, MAX_LOCKOUT)

    def record_success(self) -> None:
        self.failures = 0
        self.locked_until = None
        self.last_failure_at = None
