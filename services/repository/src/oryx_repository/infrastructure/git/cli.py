"""``GitCli``: check out one branch or one commit of a Git source with the real ``git``.

How it stays safe with URLs and repositories it does not trust:
- the URL, branch and commit pass the domain's rules first, and come after ``--``;
- ``protocol.allow=never`` then one ``protocol.<name>.allow=always`` per accepted transport
  (also as ``GIT_ALLOW_PROTOCOL``), so neither the URL nor a submodule can reach ``ext::``;
- no system or user configuration, no hooks, no templates, no credential helper, no prompt;
- a shallow, single-branch, tag-less checkout, killed (with every child process) when it
  runs past the timeout or when the folder grows past the size limit, and then removed;
- credentials reach git through ``GIT_ASKPASS``: a tiny script that prints two environment
  variables set for git alone. They are never in the URL, in the arguments (which anyone on
  the machine can list), in a file, in the logs, or in an error message.
"""

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path

from oryx_repository.domain.errors import InvalidValue
from oryx_repository.domain.urls import (
    redact_credentials,
    redact_url,
    validate_branch,
    validate_commit,
    validate_git_url,
)
from oryx_repository.infrastructure.git.errors import GitError, GitFailure

log = logging.getLogger(__name__)

NETWORK_PROTOCOLS = ("https", "http", "ssh", "git")
# Variables of the service's environment that git may need: finding programs, proxies, CAs.
PASSED_VARIABLES = (
    "PATH",
    "SYSTEMROOT",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSH_COMMAND",
)
ASKPASS_SCRIPT = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "$ORYX_GIT_USERNAME" ;;
  *) printf '%s\\n' "$ORYX_GIT_PASSWORD" ;;
esac
"""
STDERR_TAIL_LINES = 3
STDERR_TAIL_CHARS = 600


class GitCli:
    """Checks out Git sources with the ``git`` program. One instance serves many checkouts."""

    def __init__(
        self,
        *,
        allow_file: bool = False,
        timeout_seconds: float = 120.0,
        max_bytes: int = 500 * 1024**2,
        git: str = "git",
        poll_seconds: float = 0.2,
    ) -> None:
        self._allow_file = allow_file
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes
        self._git = git
        self._poll = poll_seconds

    async def checkout(
        self,
        *,
        url: str,
        destination: Path,
        branch: str | None = None,
        commit: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> str:
        """Check out ``branch`` (default: the remote's default branch) or ``commit`` of ``url``
        into ``destination`` (absent or empty) and return the full sha checked out.

        Raises ``GitError`` with a message a person can act on; on any failure, what was
        written in ``destination`` is removed.
        """
        try:
            url = validate_git_url(url, allow_file=self._allow_file)
            branch = validate_branch(branch) if branch is not None else None
            commit = validate_commit(commit) if commit is not None else None
        except InvalidValue as error:
            raise GitError(error.message, reason=GitFailure.REFUSED) from None
        if branch is not None and commit is not None:
            raise GitError("give a branch or a commit, not both", reason=GitFailure.REFUSED)
        existed = _check_destination(destination)
        shown = redact_url(url)
        log.info("checking out %s at %s", shown, commit or branch or "the default branch")
        with tempfile.TemporaryDirectory(prefix="oryx-git-") as private:
            run = _Run(self, Path(private), url=url, username=username, password=password)
            try:
                if commit is None:
                    await run.git(
                        "clone", "--quiet", "--depth", "1", "--single-branch", "--no-tags",
                        "--no-recurse-submodules", "--template=",
                        *(("--branch", branch) if branch else ()),
                        "--", url, str(destination),
                        watch=destination, branch=branch,
                    )  # fmt: skip
                else:
                    await run.git("init", "--quiet", "--template=", "--", str(destination))
                    await run.git(
                        "-C", str(destination), "fetch", "--quiet", "--depth", "1", "--no-tags",
                        "--no-recurse-submodules", "--", url, commit,
                        watch=destination, commit=commit,
                    )  # fmt: skip
                    await run.git(
                        "-C", str(destination), "checkout", "--quiet", "--detach", commit, "--",
                        watch=destination, commit=commit,
                    )  # fmt: skip
                sha = await run.head(destination)
                await run.check_size(destination)
            except BaseException:
                _clear(destination, remove=not existed)  # also when cancelled: no await here
                raise
        if commit is not None and sha != commit:
            _clear(destination, remove=not existed)
            raise GitError(
                f"asked for commit {commit} of {shown} but got {sha}",
                reason=GitFailure.COMMIT_NOT_FOUND,
            )
        log.info("checked out %s at %s", shown, sha)
        return sha


class _Run:
    """One checkout: its environment, its deadline, and how git's failures are told."""

    def __init__(
        self,
        cli: GitCli,
        private: Path,
        *,
        url: str,
        username: str | None,
        password: str | None,
    ) -> None:
        self._cli = cli
        self._url = url
        self._shown = redact_url(url)
        # a long user name is likely a token (https://<token>@host): hide it too
        self._secrets = [s for s in (password, username) if s and (s is password or len(s) >= 20)]
        self._deadline = asyncio.get_running_loop().time() + cli._timeout
        self._env = self._environment(private, username, password)
        self._config = self._configuration()

    def _environment(
        self, private: Path, username: str | None, password: str | None
    ) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
        protocols = [*NETWORK_PROTOCOLS, *(("file",) if self._cli._allow_file else ())]
        env.update(
            HOME=str(private),
            LANG="C",
            LC_ALL="C",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            GIT_ALLOW_PROTOCOL=":".join(protocols),
            GIT_PROTOCOL_FROM_USER="0",
            GCM_INTERACTIVE="never",
        )
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        if username is not None or password is not None:
            askpass = private / "askpass.sh"
            askpass.write_text(ASKPASS_SCRIPT)
            askpass.chmod(stat.S_IRWXU)
            env.update(
                GIT_ASKPASS=str(askpass),
                SSH_ASKPASS=str(askpass),
                ORYX_GIT_USERNAME=username or "",
                ORYX_GIT_PASSWORD=password or "",
            )
        return env

    def _configuration(self) -> list[str]:
        protocols = [*NETWORK_PROTOCOLS, *(("file",) if self._cli._allow_file else ())]
        settings = [
            "protocol.allow=never",
            *(f"protocol.{name}.allow=always" for name in protocols),
            f"core.hooksPath={os.devnull}",
            "core.symlinks=true",
            "core.fsmonitor=false",
            "credential.helper=",
            "init.templateDir=",
            "submodule.recurse=false",
            "advice.detachedHead=false",
        ]
        return [arg for setting in settings for arg in ("-c", setting)]

    async def git(
        self,
        *args: str,
        watch: Path | None = None,
        branch: str | None = None,
        commit: str | None = None,
    ) -> str:
        """Run one git command; return its output, or raise a GitError telling why it failed."""
        command = [self._cli._git, *self._config, *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                start_new_session=True,  # its own process group, so children die with it
            )
        except FileNotFoundError:
            raise GitError(
                "the git program is not installed on the repository service",
                reason=GitFailure.FAILED,
            ) from None
        output = asyncio.ensure_future(process.communicate())
        try:
            await self._wait(output, watch)
        except BaseException:
            _kill(process)
            output.cancel()
            with contextlib.suppress(BaseException):
                await process.wait()
            raise
        stdout, stderr = output.result()
        if process.returncode != 0:
            raise self._failure(stderr.decode(errors="replace"), branch=branch, commit=commit)
        return stdout.decode(errors="replace")

    async def _wait(
        self, output: "asyncio.Future[tuple[bytes, bytes]]", watch: Path | None
    ) -> None:
        loop = asyncio.get_running_loop()
        poll = self._cli._poll
        while True:
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                raise GitError(
                    f"reading {self._shown} took longer than {self._cli._timeout:g} seconds: "
                    "the server is too slow or the repository too large",
                    reason=GitFailure.TIMEOUT,
                )
            done, _ = await asyncio.wait({output}, timeout=min(poll, remaining))
            if watch is not None:
                await self.check_size(watch)
            if done:
                return
            poll = min(poll * 1.5, 2.0)

    async def check_size(self, folder: Path) -> None:
        size = await asyncio.to_thread(_tree_size, folder, self._cli._max_bytes)
        if size > self._cli._max_bytes:
            raise GitError(
                f"{self._shown} is larger than the limit of {_megabytes(self._cli._max_bytes)}",
                reason=GitFailure.TOO_LARGE,
            )

    async def head(self, folder: Path) -> str:
        try:
            return (await self.git("-C", str(folder), "rev-parse", "--verify", "HEAD")).strip()
        except GitError:
            raise GitError(f"{self._shown} has no commit yet", reason=GitFailure.EMPTY) from None

    def _failure(self, stderr: str, *, branch: str | None, commit: str | None) -> GitError:
        reason, what = _classify(stderr, branch=branch, commit=commit)
        tail = _tail(redact_credentials(stderr, secrets=self._secrets))
        message = f"{what.format(url=self._shown, branch=branch, commit=commit)}"
        if tail:
            message += f" (git said: {tail})"
        return GitError(message, reason=reason)


# Ordered: the first match wins. Each pattern reads git's English (LC_ALL=C) messages.
_FAILURES: Sequence[tuple[GitFailure, str, str]] = (
    (
        GitFailure.BRANCH_NOT_FOUND,
        r"Remote branch .* not found|could not find remote branch"
        r"|couldn't find remote ref refs/heads",
        "the branch '{branch}' does not exist in {url}",
    ),
    (
        GitFailure.COMMIT_NOT_FOUND,
        r"not our ref|couldn't find remote ref|unadvertised object|reference is not a tree"
        r"|did not match any file|unable to read tree|no such commit",
        "the commit {commit} is not in {url} (or the server does not serve single commits)",
    ),
    (
        GitFailure.AUTHENTICATION_FAILED,
        r"Authentication failed|could not read (Username|Password)|terminal prompts disabled"
        r"|Permission denied \(|returned error: 40[13]|HTTP Basic: Access denied"
        r"|Invalid username or password|Host key verification failed",
        "authentication to {url} failed: check the source's username and password or token",
    ),
    (
        GitFailure.NOT_FOUND,
        r"Repository not found|repository '.*' not found|does not appear to be a git repository"
        r"|not exported|No such file or directory|returned error: 404|project you were looking for"
        r"|not a git repository",
        "the repository {url} does not exist, or these credentials may not see it",
    ),
    (
        GitFailure.UNREACHABLE,
        r"Could not resolve host|Could not resolve hostname|Connection refused|Failed to connect"
        r"|Connection timed out|Network is unreachable|unable to connect|Couldn't connect"
        r"|No route to host|Name or service not known|SSL certificate problem|Connection reset",
        "cannot reach {url}: check the URL and that the server is up",
    ),
)


def _classify(stderr: str, *, branch: str | None, commit: str | None) -> tuple[GitFailure, str]:
    for reason, pattern, what in _FAILURES:
        if reason is GitFailure.BRANCH_NOT_FOUND and branch is None:
            continue
        if reason is GitFailure.COMMIT_NOT_FOUND and commit is None:
            continue
        if re.search(pattern, stderr, re.IGNORECASE):
            return reason, what
    return GitFailure.FAILED, "git could not read {url}"


def _tail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " / ".join(lines[-STDERR_TAIL_LINES:])
    return text if len(text) <= STDERR_TAIL_CHARS else "..." + text[-STDERR_TAIL_CHARS:]


def _check_destination(folder: Path) -> bool:
    """Whether ``folder`` exists; it must be absent or an empty directory."""
    if not folder.exists():
        return False
    if not folder.is_dir() or any(folder.iterdir()):
        raise ValueError(f"{folder} must be absent or an empty directory")
    return True


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


def _tree_size(folder: Path, limit: int) -> int:
    """Bytes under ``folder`` (not following symlinks); stops counting past ``limit``."""
    total = 0
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # git renames temporary files as it goes
                continue
            total += info.st_size
            if stat.S_ISDIR(info.st_mode):
                pending.append(Path(entry.path))
            if total > limit:
                return total
    return total


def _clear(folder: Path, *, remove: bool) -> None:
    if remove:
        shutil.rmtree(folder, ignore_errors=True)
        return
    if folder.is_dir():
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:g} MiB"
