import pytest

from oryx_repository.domain.errors import InvalidValue
from oryx_repository.domain.urls import (
    redact_credentials,
    redact_url,
    validate_branch,
    validate_commit,
    validate_git_url,
)


class TestUrls:
    @pytest.mark.parametrize(
        "url",
        [
            "https://github.com/org/actions.git",
            "https://gitlab.com/ryax-tech/workflows/default-actions",
            "http://git.internal:8080/team/repo.git",
            "https://[2001:db8::1]/repo.git",
            "ssh://git@example.com/org/repo.git",
            "ssh://git@example.com:2222/org/repo.git",
            "git+ssh://git@example.com/org/repo.git",
            "git://127.0.0.1:9418/repo",
            "git@github.com:org/repo.git",
            "example.com:org/repo.git",
            "  https://github.com/org/repo.git  ",
        ],
    )
    def test_accepted(self, url: str) -> None:
        assert validate_git_url(url) == url.strip()

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("", "empty"),
            ("   ", "empty"),
            ("ext::sh -c touch% /tmp/pwned", "spaces"),
            ("ext::sh%20-c%20id", "'ext::' transport is refused"),
            ("fd::17", "'fd::' transport is refused"),
            ("ftp://example.com/repo.git", "'ftp' scheme is refused"),
            ("ftps://example.com/repo.git", "'ftps' scheme is refused"),
            ("rsync://example.com/repo.git", "'rsync' scheme is refused"),
            ("javascript://x/y", "scheme is refused"),
            ("file:///srv/repo", "file:// URLs are refused"),
            ("/srv/repo", "must be an https"),
            ("./repo", "must be an https"),
            ("-uhttps://x/y", "must not start with '-'"),
            ("--upload-pack=touch /tmp/x", "spaces"),
            ("--upload-pack=id", "must not start with '-'"),
            ("ssh://-oProxyCommand=id/x", "not a valid host name"),
            ("ssh://git@-oProxyCommand=id/x", "not a valid host name"),
            ("ssh://-oProxyCommand=id@host/x", "user name is not valid"),
            ("-oProxyCommand=id:x", "must not start with '-'"),
            ("git@-oProxyCommand=id:x", "not a valid host name"),
            ("git@host:-x", "must not be empty or start with '-'"),
            ("git@host:", "must not be empty"),
            ("https://github.com/-x", "path must not start with '-'"),
            ("https://user:secret@github.com/org/repo.git", "credentials must not be written"),
            ("https://ghp_token@github.com/org/repo.git", "credentials must not be written"),
            ("ssh://git:secret@example.com/repo.git", "credentials must not be written"),
            ("https://", "has no host"),
            ("https:///path", "has no host"),
            ("https://exa mple.com/x", "spaces"),
            ("https://example.com/\x00x", "control characters"),
            ("https://example.com/\u202ex", "control characters"),
            ("https://example.com:99999/x", "malformed"),
            ("https://example.com:port/x", "malformed"),
            ("https://exa_mple!.com/x", "not a valid host name"),
            ("https://example.com/" + "a" * 2048, "longer than 2048"),
        ],
    )
    def test_refused(self, url: str, reason: str) -> None:
        with pytest.raises(InvalidValue) as caught:
            validate_git_url(url)
        assert caught.value.field == "url"
        assert caught.value.code == "invalid_value"
        assert reason in caught.value.message

    def test_a_trailing_newline_is_stripped_not_refused(self) -> None:
        # surrounding whitespace is trimmed before the checks; inside, it is refused
        assert validate_git_url("https://example.com/x\n") == "https://example.com/x"

    @pytest.mark.parametrize("url", ["file:///srv/repos/actions", "file://localhost/srv/a"])
    def test_file_urls_only_when_allowed(self, url: str) -> None:
        assert validate_git_url(url, allow_file=True) == url
        with pytest.raises(InvalidValue, match="refused by this installation"):
            validate_git_url(url)

    @pytest.mark.parametrize("url", ["file://other-host/srv/a", "file://./relative"])
    def test_file_urls_must_be_local_and_absolute(self, url: str) -> None:
        with pytest.raises(InvalidValue):
            validate_git_url(url, allow_file=True)

    def test_a_local_path_suggests_a_file_url_when_allowed(self) -> None:
        with pytest.raises(InvalidValue, match="file:///path/to/repo"):
            validate_git_url("/srv/repo", allow_file=True)

    def test_the_field_name_can_be_chosen(self) -> None:
        with pytest.raises(InvalidValue) as caught:
            validate_git_url("ext::x", field="source.url")
        assert caught.value.field == "source.url"

    def test_not_a_string(self) -> None:
        with pytest.raises(InvalidValue):
            validate_git_url(None)  # type: ignore[arg-type]


class TestBranches:
    @pytest.mark.parametrize(
        "branch",
        ["main", "master", "feature/new-action", "release-1.2", "v1.0.0", "a", "user/x_y", "é"],
    )
    def test_accepted(self, branch: str) -> None:
        assert validate_branch(branch) == branch

    @pytest.mark.parametrize(
        "branch",
        [
            "",
            "-main",
            "--upload-pack=id",
            "main branch",
            "main\n",
            "ma\x00in",
            "a..b",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[b",
            "a\\b",
            "@",
            "a@{1}",
            "/main",
            "main/",
            "main.",
            "main.lock",
            "a//b",
            ".hidden",
            "a/.b",
            "x/y.lock/z",
            "a" * 256,
        ],
    )
    def test_refused(self, branch: str) -> None:
        with pytest.raises(InvalidValue) as caught:
            validate_branch(branch)
        assert caught.value.field == "branch"


class TestCommits:
    def test_a_full_sha_is_returned_in_lowercase(self) -> None:
        sha = "0123456789ABCDEF0123456789abcdef01234567"
        assert validate_commit(sha) == sha.lower()
        assert validate_commit("a" * 64) == "a" * 64

    @pytest.mark.parametrize(
        "commit", ["", "abc123", "-" + "a" * 39, "g" * 40, "a" * 41, "a" * 39 + "\n", "HEAD"]
    )
    def test_refused(self, commit: str) -> None:
        with pytest.raises(InvalidValue) as caught:
            validate_commit(commit)
        assert caught.value.field == "commit"


class TestRedaction:
    @pytest.mark.parametrize(
        ("url", "redacted"),
        [
            ("https://user:secret@github.com/a.git", "https://***@github.com/a.git"),
            ("https://token@github.com/a.git", "https://***@github.com/a.git"),
            ("ssh://git:secret@host/a.git", "ssh://git:***@host/a.git"),
            ("ssh://git@host/a.git", "ssh://git@host/a.git"),
            ("git@github.com:org/a.git", "git@github.com:org/a.git"),
            ("https://github.com/a.git", "https://github.com/a.git"),
        ],
    )
    def test_redact_url(self, url: str, redacted: str) -> None:
        assert redact_url(url) == redacted

    def test_redact_credentials_in_a_text(self) -> None:
        text = (
            "fatal: unable to access 'https://bob:hunter2@example.com/r.git/': 403; "
            "token hunter2 and tok3n"
        )
        assert redact_credentials(text, secrets=["hunter2", "tok3n", ""]) == (
            "fatal: unable to access 'https://***@example.com/r.git/': 403; token *** and ***"
        )
