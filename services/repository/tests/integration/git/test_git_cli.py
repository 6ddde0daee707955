import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from oryx_repository.domain.errors import SourceUnavailable
from oryx_repository.infrastructure.git.cli import GitCli
from oryx_repository.infrastructure.git.errors import GitError, GitFailure

from .conftest import GitDaemon, HttpGitServer, free_port, git, make_repository


@pytest.fixture
def cli() -> GitCli:
    return GitCli(timeout_seconds=20)


def served(daemon: GitDaemon, name: str, files: dict[str, bytes | str], **kw: str) -> str:
    sha: str = make_repository(daemon.root / name, files, **kw)
    return sha


async def failure(
    cli: GitCli, destination: Path, **kwargs: str | None
) -> GitError:  # the error, after checking that nothing is left behind
    with pytest.raises(GitError) as caught:
        await cli.checkout(destination=destination, **kwargs)  # type: ignore[arg-type]
    assert left_empty(destination)
    return caught.value


def left_empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


class TestCheckout:
    async def test_a_branch_over_git_daemon(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        served(git_daemon, "one.git", {"a.txt": "first"})
        sha = served(git_daemon, "one.git", {"a.txt": "second", "dir/b.txt": "b"})
        out = tmp_path / "out"
        assert await cli.checkout(url=git_daemon.url("one.git"), destination=out) == sha
        assert (out / "a.txt").read_text() == "second"
        assert (out / "dir" / "b.txt").read_text() == "b"
        assert git("rev-list", "--count", "HEAD", cwd=out) == "1"  # shallow
        assert git("tag", cwd=out) == ""

    async def test_a_named_branch_only(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        served(git_daemon, "branches.git", {"a.txt": "main"})
        dev = served(git_daemon, "branches.git", {"a.txt": "dev"}, branch="dev")
        out = tmp_path / "out"
        sha = await cli.checkout(url=git_daemon.url("branches.git"), destination=out, branch="dev")
        assert sha == dev
        assert (out / "a.txt").read_text() == "dev"
        refs = git("for-each-ref", "--format=%(refname)", cwd=out).split()
        assert "refs/remotes/origin/main" not in refs  # --single-branch
        assert "refs/remotes/origin/dev" in refs

    async def test_one_commit_that_is_not_a_branch_tip(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        old = served(git_daemon, "commits.git", {"a.txt": "old"})
        served(git_daemon, "commits.git", {"a.txt": "new"})
        out = tmp_path / "out"
        assert await cli.checkout(url=git_daemon.url("commits.git"), destination=out, commit=old)
        assert (out / "a.txt").read_text() == "old"
        assert git("rev-parse", "HEAD", cwd=out) == old

    async def test_a_commit_in_upper_case_is_the_same_commit(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        sha = served(git_daemon, "upper.git", {"a.txt": "a"})
        out = tmp_path / "out"
        url = git_daemon.url("upper.git")
        assert await cli.checkout(url=url, destination=out, commit=sha.upper()) == sha

    async def test_file_urls_when_allowed(self, tmp_path: Path) -> None:
        sha = make_repository(tmp_path / "local", {"a.txt": "a"})
        out = tmp_path / "out"
        url = f"file://{tmp_path / 'local'}"
        assert await GitCli(allow_file=True).checkout(url=url, destination=out) == sha
        assert git("rev-list", "--count", "HEAD", cwd=out) == "1"

    async def test_an_existing_empty_folder_is_used(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        sha = served(git_daemon, "empty-dest.git", {"a.txt": "a"})
        out = tmp_path / "out"
        out.mkdir()
        assert await cli.checkout(url=git_daemon.url("empty-dest.git"), destination=out) == sha

    async def test_a_folder_with_files_is_refused(self, cli: GitCli, tmp_path: Path) -> None:
        (tmp_path / "keep.txt").write_text("mine")
        with pytest.raises(ValueError, match="empty directory"):
            await cli.checkout(url="https://example.com/r.git", destination=tmp_path)
        assert (tmp_path / "keep.txt").exists()

    async def test_symlinks_stay_symlinks_for_the_scanner_to_judge(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        path = git_daemon.root / "links.git"
        make_repository(path, {"a.txt": "a"})
        os.symlink("/etc/passwd", path / "escape")
        sha = make_repository(path, {})
        out = tmp_path / "out"
        assert await cli.checkout(url=git_daemon.url("links.git"), destination=out) == sha
        assert os.readlink(out / "escape") == "/etc/passwd"


class TestFailures:
    async def test_a_repository_that_does_not_exist(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        error = await failure(cli, tmp_path / "out", url=git_daemon.url("nope.git"))
        assert error.reason is GitFailure.NOT_FOUND
        assert f"the repository {git_daemon.url('nope.git')} does not exist" in error.message
        assert isinstance(error, SourceUnavailable)

    async def test_a_local_repository_that_does_not_exist(self, tmp_path: Path) -> None:
        error = await failure(
            GitCli(allow_file=True), tmp_path / "out", url=f"file://{tmp_path}/missing"
        )
        assert error.reason is GitFailure.NOT_FOUND

    async def test_a_branch_that_does_not_exist(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        served(git_daemon, "nobranch.git", {"a.txt": "a"})
        error = await failure(
            cli, tmp_path / "out", url=git_daemon.url("nobranch.git"), branch="release"
        )
        assert error.reason is GitFailure.BRANCH_NOT_FOUND
        assert "the branch 'release' does not exist" in error.message

    async def test_a_commit_that_does_not_exist(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        served(git_daemon, "nocommit.git", {"a.txt": "a"})
        error = await failure(
            cli, tmp_path / "out", url=git_daemon.url("nocommit.git"), commit="ab" * 20
        )
        assert error.reason is GitFailure.COMMIT_NOT_FOUND
        assert "ab" * 20 in error.message

    async def test_a_repository_without_commits(
        self, cli: GitCli, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        (git_daemon.root / "empty.git").mkdir()
        git("init", "--quiet", cwd=git_daemon.root / "empty.git")
        error = await failure(cli, tmp_path / "out", url=git_daemon.url("empty.git"))
        assert error.reason is GitFailure.EMPTY

    async def test_a_server_that_is_down(self, cli: GitCli, tmp_path: Path) -> None:
        url = f"git://127.0.0.1:{free_port()}/r.git"
        error = await failure(cli, tmp_path / "out", url=url)
        assert error.reason is GitFailure.UNREACHABLE
        assert "cannot reach" in error.message

    async def test_a_server_that_never_answers_times_out(
        self, silent_server: int, tmp_path: Path
    ) -> None:
        started = time.monotonic()
        error = await failure(
            GitCli(timeout_seconds=1), tmp_path / "out", url=f"git://127.0.0.1:{silent_server}/r"
        )
        assert error.reason is GitFailure.TIMEOUT
        assert "longer than 1 seconds" in error.message
        assert time.monotonic() - started < 5

    async def test_a_repository_larger_than_the_limit(
        self, git_daemon: GitDaemon, tmp_path: Path
    ) -> None:
        served(git_daemon, "huge.git", {"blob.bin": os.urandom(3 * 1024**2)})
        error = await failure(
            GitCli(max_bytes=1024**2), tmp_path / "out", url=git_daemon.url("huge.git")
        )
        assert error.reason is GitFailure.TOO_LARGE
        assert "larger than the limit of 1 MiB" in error.message
        assert not (tmp_path / "out").exists()

    @pytest.mark.parametrize(
        ("url", "branch", "commit", "reason"),
        [
            ("ext::sh -c 'touch /tmp/oryx-pwned'", None, None, "spaces"),
            ("ext::sh%20-c%20id", None, None, "'ext::' transport is refused"),
            ("--upload-pack=touch", None, None, "must not start with '-'"),
            ("https://example.com/r.git", "--upload-pack=touch", None, "must not start"),
            ("https://example.com/r.git", None, "-" * 40, "full sha"),
            ("file:///etc", None, None, "file:// URLs are refused"),
            ("https://user:pw@example.com/r.git", None, None, "credentials"),
            ("https://example.com/r.git", "main", "a" * 40, "not both"),
        ],
    )
    async def test_unsafe_requests_never_reach_git(
        self,
        cli: GitCli,
        tmp_path: Path,
        url: str,
        branch: str | None,
        commit: str | None,
        reason: str,
    ) -> None:
        error = await failure(cli, tmp_path / "out", url=url, branch=branch, commit=commit)
        assert error.reason is GitFailure.REFUSED
        assert reason in error.message
        assert "pw" not in error.message
        assert left_empty(Path("/tmp/oryx-pwned"))

    async def test_no_git_program(self, tmp_path: Path) -> None:
        error = await failure(
            GitCli(git="/nonexistent/git"), tmp_path / "out", url="https://example.com/r.git"
        )
        assert error.reason is GitFailure.FAILED
        assert "not installed" in error.message

    async def test_cancelling_kills_git_and_cleans_up(
        self, silent_server: int, tmp_path: Path
    ) -> None:
        out = tmp_path / "out"
        task = asyncio.ensure_future(
            GitCli(timeout_seconds=30).checkout(
                url=f"git://127.0.0.1:{silent_server}/r", destination=out
            )
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not out.exists()


class TestCredentials:
    async def test_credentials_open_a_protected_repository(
        self, http_git_server: HttpGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        sha = make_repository(http_git_server.root / "private.git", {"a.txt": "secret stuff"})
        out = tmp_path / "out"
        got = await GitCli(timeout_seconds=20).checkout(
            url=http_git_server.url("private.git"),
            destination=out,
            username=http_git_server.username,
            password=http_git_server.password,
        )
        assert got == sha
        assert (out / "a.txt").read_text() == "secret stuff"
        assert http_git_server.seen_authorizations  # they went through askpass, on request
        assert http_git_server.command_lines_with_password == []
        assert http_git_server.password not in caplog.text
        assert http_git_server.password not in (out / ".git" / "config").read_text()
        assert http_git_server.password not in git("config", "--list", cwd=out)

    async def test_wrong_credentials(
        self, http_git_server: HttpGitServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        make_repository(http_git_server.root / "private.git", {"a.txt": "a"})
        error = await failure(
            GitCli(timeout_seconds=20),
            tmp_path / "out",
            url=http_git_server.url("private.git"),
            username=http_git_server.username,
            password="wrong-password-123",
        )
        assert error.reason is GitFailure.AUTHENTICATION_FAILED
        assert "check the source's username and password or token" in error.message
        assert "wrong-password-123" not in error.message + repr(error) + caplog.text
        assert http_git_server.command_lines_with_password == []

    async def test_no_credentials_for_a_protected_repository(
        self, http_git_server: HttpGitServer, tmp_path: Path
    ) -> None:
        make_repository(http_git_server.root / "private.git", {"a.txt": "a"})
        started = time.monotonic()
        error = await failure(
            GitCli(timeout_seconds=20), tmp_path / "out", url=http_git_server.url("private.git")
        )
        assert error.reason is GitFailure.AUTHENTICATION_FAILED
        assert time.monotonic() - started < 10  # no prompt waits for a person
