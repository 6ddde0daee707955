"""What can go wrong when reading a Git source, in words a person can act on."""

from enum import StrEnum

from oryx_repository.domain.errors import SourceUnavailable


class GitFailure(StrEnum):
    REFUSED = "refused"  # the URL, branch or commit breaks the safety rules
    NOT_FOUND = "not_found"  # no such repository (or hidden from these credentials)
    AUTHENTICATION_FAILED = "authentication_failed"
    BRANCH_NOT_FOUND = "branch_not_found"
    COMMIT_NOT_FOUND = "commit_not_found"
    EMPTY = "empty"  # the repository has no commit
    UNREACHABLE = "unreachable"  # host unknown, connection refused
    TIMEOUT = "timeout"
    TOO_LARGE = "too_large"
    FAILED = "failed"  # anything else; the message carries git's own words


class GitError(SourceUnavailable):
    """A checkout failed. ``message`` never holds a password or token."""

    code = "git_error"

    def __init__(self, message: str, *, reason: GitFailure) -> None:
        super().__init__(message, field="url")
        self.reason = reason

    def __repr__(self) -> str:
        return f"GitError({self.message!r}, reason={self.reason.value!r})"
