"""Errors raised by domain rules. The API maps each to an HTTP status in one place."""


class DomainError(Exception):
    """Base class: a rule of the domain refused an operation."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """A value breaks a rule (too short, bad characters, ...)."""

    code = "invalid_value"


class NotFound(DomainError):
    """An id is unknown, or invisible to the caller."""

    code = "not_found"


class Conflict(DomainError):
    """The operation conflicts with the current state (duplicate name, last admin, ...)."""

    code = "conflict"


class AuthenticationFailed(DomainError):
    """Credentials or token are wrong, expired or revoked."""

    code = "authentication_failed"


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    code = "permission_denied"


class TooManyAttempts(DomainError):
    """Login is temporarily locked after repeated failures."""

    code = "too_many_attempts"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
