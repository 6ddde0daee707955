"""Safety rules for Git sources: which URLs, branches and commits may reach the `git` binary.

`git` takes a URL, a branch or a commit as command-line arguments and turns some of them into
programs to run (`ext::sh -c ...`, `ssh -oProxyCommand=...`). These rules let through only the
plain network transports (and `file://` when the configuration allows it, in development) and
refuse anything git could read as an option. `redact_url` and `redact_credentials` keep
secrets out of logs and error messages.
"""

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from oryx_repository.domain.errors import InvalidValue

NETWORK_SCHEMES = frozenset({"https", "http", "ssh", "git"})
# `git+ssh://` and `ssh+git://` are spellings of `ssh://` that git accepts.
SSH_ALIASES = frozenset({"git+ssh", "ssh+git"})
MAX_URL_LENGTH = 2048
MAX_BRANCH_LENGTH = 255

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# `<transport>::<address>` makes git run `git-remote-<transport>`: `ext::` runs any command.
_REMOTE_HELPER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")
# scp-like syntax, as git reads it: no slash before the first colon.
_SCP_LIKE = re.compile(
    r"^(?:(?P<user>[^@/:\[\]]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^/:@\[\]]+):(?P<path>.*)$"
)
_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_COMMIT = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_BRANCH_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
# Any URL with a user part, inside a longer text (a log line, git's stderr).
_URL_WITH_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


def validate_git_url(url: str, *, allow_file: bool = False, field: str = "url") -> str:
    """Return ``url`` (surrounding spaces removed) if git may fetch it, else raise InvalidValue.

    Accepted: ``https://``, ``http://``, ``ssh://`` (and ``git+ssh://``), ``git://``, the
    scp-like ``user@host:path``, and ``file://`` only when ``allow_file`` is true.
    A password (or, for http(s), any user part) in the URL is refused: credentials belong in
    the source's username and password fields, which are encrypted and never logged.
    """
    if not isinstance(url, str):
        raise InvalidValue("the Git URL must be a string", field=field)
    url = url.strip()
    if not url:
        raise InvalidValue("the Git URL is empty", field=field)
    if len(url) > MAX_URL_LENGTH:
        raise InvalidValue(f"the Git URL is longer than {MAX_URL_LENGTH} characters", field=field)
    if _has_control_characters(url) or any(c.isspace() for c in url):
        raise InvalidValue("the Git URL must not contain spaces or control characters", field=field)
    if url.startswith("-"):
        raise InvalidValue("the Git URL must not start with '-'", field=field)
    scheme_match = _SCHEME.match(url)
    if scheme_match is None and _REMOTE_HELPER.match(url):
        transport = url.split("::", 1)[0]
        raise InvalidValue(
            f"the '{transport}::' transport is refused: use an https, http, ssh or git URL",
            field=field,
        )
    if scheme_match is not None:
        _check_url_with_scheme(url, scheme_match["scheme"].lower(), allow_file, field)
        return url
    scp = _SCP_LIKE.match(url)
    if scp is not None and not url.startswith(("/", ".")):
        _check_scp_like(scp, field)
        return url
    hint = " like file:///path/to/repo" if allow_file else ""
    raise InvalidValue(
        "the Git URL must be an https, http, ssh or git URL, or user@host:path"
        + (f"; a local repository needs a file:// URL{hint}" if url.startswith(("/", ".")) else ""),
        field=field,
    )


def _check_url_with_scheme(url: str, scheme: str, allow_file: bool, field: str) -> None:
    if scheme == "file":
        if not allow_file:
            raise InvalidValue(
                "file:// URLs are refused by this installation's configuration", field=field
            )
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise InvalidValue(
                "a file URL must be absolute, like file:///path/to/repo", field=field
            )
        return
    if scheme not in NETWORK_SCHEMES and scheme not in SSH_ALIASES:
        raise InvalidValue(
            f"the '{scheme}' scheme is refused: use an https, http, ssh or git URL", field=field
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as error:
        raise InvalidValue(f"the Git URL is malformed: {error}", field=field) from None
    host = _host_of(parts)
    if not host:
        raise InvalidValue("the Git URL has no host", field=field)
    if host.startswith("-") or not _HOST.match(host):
        raise InvalidValue(f"the Git URL's host '{host}' is not a valid host name", field=field)
    if parts.password is not None or (parts.username is not None and scheme in ("http", "https")):
        raise InvalidValue(
            "credentials must not be written in the Git URL: "
            "put them in the source's username and password fields",
            field=field,
        )
    if parts.username is not None and not _USER.match(parts.username):
        raise InvalidValue("the Git URL's user name is not valid", field=field)
    if parts.path.lstrip("/").startswith("-"):
        raise InvalidValue("the Git URL's path must not start with '-'", field=field)


def _host_of(parts: SplitResult) -> str:
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if netloc.startswith("["):
        return netloc.split("]", 1)[0] + "]"
    return netloc.split(":", 1)[0]


def _check_scp_like(match: re.Match[str], field: str) -> None:
    user, host, path = match["user"], match["host"], match["path"]
    if host.startswith("-") or not _HOST.match(host):
        raise InvalidValue(f"the Git URL's host '{host}' is not a valid host name", field=field)
    if user is not None and not _USER.match(user):
        raise InvalidValue("the Git URL's user name is not valid", field=field)
    if not path or path.startswith("-"):
        raise InvalidValue("the Git URL's path must not be empty or start with '-'", field=field)


def validate_branch(branch: str, *, field: str = "branch") -> str:
    """Return ``branch`` if it is a safe branch (or tag) name, by git's rules, else raise."""
    if not isinstance(branch, str) or not branch:
        raise InvalidValue("the branch name is empty", field=field)
    if len(branch) > MAX_BRANCH_LENGTH:
        raise InvalidValue(
            f"the branch name is longer than {MAX_BRANCH_LENGTH} characters", field=field
        )
    if branch.startswith("-"):
        raise InvalidValue("the branch name must not start with '-'", field=field)
    if _BRANCH_FORBIDDEN.search(branch) or _has_control_characters(branch):
        raise InvalidValue(
            "the branch name must not contain spaces, control characters or any of ~ ^ : ? * [ \\",
            field=field,
        )
    if (
        branch == "@"
        or ".." in branch
        or "@{" in branch
        or "//" in branch
        or branch.startswith("/")
        or branch.endswith(("/", ".", ".lock"))
        or any(part.startswith(".") or part.endswith(".lock") for part in branch.split("/"))
    ):
        raise InvalidValue(f"'{branch}' is not a valid branch name", field=field)
    return branch


def validate_commit(commit: str, *, field: str = "commit") -> str:
    """Return the full commit sha in lowercase (40 or 64 hexadecimal digits), else raise."""
    if not isinstance(commit, str) or not _COMMIT.match(commit):
        raise InvalidValue(
            "a commit must be a full sha: 40 (or 64) hexadecimal digits", field=field
        )
    return commit.lower()


def redact_url(url: str) -> str:
    """The URL with any password (and, for http(s), any user part) replaced by ``***``."""
    return _URL_WITH_USERINFO.sub(_redact_userinfo, url)


def _redact_userinfo(match: re.Match[str]) -> str:
    scheme, userinfo = match["scheme"], match["userinfo"]
    if scheme.lower().startswith("http") or ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        kept = "" if scheme.lower().startswith("http") else f"{user}:"
        return f"{scheme}{kept}***@"
    return match.group(0)


def redact_credentials(text: str, *, secrets: Iterable[str] = ()) -> str:
    """``text`` with credentials in URLs redacted and every given secret replaced by ``***``."""
    text = redact_url(text)
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
