"""Which Git URLs and refs the service accepts (the rules live in ``domain/urls.py``)."""

from oryx_repository.domain.urls import validate_branch, validate_commit, validate_git_url


class UrlRules:
    def __init__(self, *, allow_file_urls: bool) -> None:
        self._allow_file = allow_file_urls

    def check_url(self, url: str) -> str:
        return validate_git_url(url, allow_file=self._allow_file)

    def check_ref(self, value: str, *, field: str) -> str:
        if field == "commit":
            return validate_commit(value, field=field)
        return validate_branch(value, field=field)
