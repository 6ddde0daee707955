"""Errors raised by domain rules. The API maps each to an HTTP status in one place."""


class DomainError(Exception):
    """Base class: a rule of the domain refused an operation."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidValue(DomainError):
    """A value breaks a rule (bad URL, bad branch name, ...)."""

    code = "invalid_value"


class NotFound(DomainError):
    """An id is unknown, or invisible to the caller."""

    code = "not_found"


class Conflict(DomainError):
    """The operation conflicts with the current state (duplicate name, build running, ...)."""

    code = "conflict"


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    code = "permission_denied"


class NotAuthenticated(DomainError):
    """The caller did not prove who they are (a missing or unknown key)."""

    code = "not_authenticated"


class MethodNotAllowed(DomainError):
    """The path exists, with other methods."""

    code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: tuple[str, ...]) -> None:
        super().__init__(message)
        self.allowed = allowed
