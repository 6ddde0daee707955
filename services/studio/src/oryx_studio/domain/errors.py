"""Errors raised by domain rules. The API maps each to an HTTP status in one place.

Each error carries a stable ``code``; the class gives the default, and a rule may name a more
precise one (``cycle``, ``multiple_triggers``...) so that clients can act on it.
"""

from collections.abc import Sequence
from dataclasses import dataclass


class DomainError(Exception):
    """Base class: a rule of the domain refused an operation."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidValue(DomainError):
    """A value breaks a rule (bad name, wrong type, a link that would make a cycle...)."""

    code = "invalid_value"


class NotFound(DomainError):
    """An id is unknown, or invisible to the caller."""

    code = "not_found"


class Conflict(DomainError):
    """The operation conflicts with the current state (deployed workflow, action in use...)."""

    code = "conflict"


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    code = "permission_denied"


@dataclass(frozen=True, kw_only=True)
class UsedBy:
    """A workflow that holds on to something a caller wants to delete."""

    workflow_id: str
    workflow_name: str


class InUse(Conflict):
    """Deleting this would break workflows; the message names them."""

    code = "in_use"

    def __init__(self, message: str, *, used_by: Sequence[UsedBy], field: str | None = None):
        names = ", ".join(f"{u.workflow_name!r} ({u.workflow_id})" for u in used_by[:20])
        more = f" and {len(used_by) - 20} more" if len(used_by) > 20 else ""
        super().__init__(f"{message}: used by {names}{more}", field=field)
        self.used_by = tuple(used_by)
