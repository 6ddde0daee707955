"""Matching a call to a deployed endpoint: literal segments beat parameters, other methods
are a 405 with the allowed ones, and nothing else is a 404."""

import pytest

from oryx_runner.domain.endpoints import PathTemplate, Route, match_route, split_path
from oryx_runner.domain.errors import MethodNotAllowed, NotFound

ROUTES = [
    Route(method="GET", template=PathTemplate.parse("orders/{id}"), target="one"),
    Route(method="GET", template=PathTemplate.parse("orders/latest"), target="latest"),
    Route(method="POST", template=PathTemplate.parse("orders"), target="create"),
    Route(method="DELETE", template=PathTemplate.parse("orders/{id}"), target="delete"),
    Route(method="GET", template=PathTemplate.parse("a/{x}/b/{y}"), target="nested"),
]


def test_paths_split_on_slashes_ignoring_empty_segments() -> None:
    assert split_path("/a//b/") == ["a", "b"]
    assert PathTemplate.parse("a/{x}/b/{y}").parameters == ("x", "y")


@pytest.mark.parametrize(
    ("method", "path", "target", "params"),
    [
        ("GET", "orders/42", "one", {"id": "42"}),
        ("get", "orders/42/", "one", {"id": "42"}),
        ("GET", "orders/latest", "latest", {}),
        ("POST", "orders", "create", {}),
        ("DELETE", "orders/7", "delete", {"id": "7"}),
        ("GET", "a/1/b/2", "nested", {"x": "1", "y": "2"}),
    ],
)
def test_a_call_finds_its_endpoint(method: str, path: str, target: str, params: dict) -> None:
    matched = match_route(ROUTES, method=method, path=path)
    assert (matched.target, matched.params) == (target, params)


def test_other_methods_are_refused_with_the_allowed_ones() -> None:
    with pytest.raises(MethodNotAllowed) as refused:
        match_route(ROUTES, method="PUT", path="orders/1")
    assert refused.value.allowed == ("DELETE", "GET")


@pytest.mark.parametrize("path", ["", "orders/1/2", "nothing", "a/1/b", "a/1/c/2"])
def test_unknown_paths_are_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        match_route(ROUTES, method="GET", path=path)


def test_a_parameter_never_matches_an_empty_segment() -> None:
    assert PathTemplate.parse("x/{id}").match(["x", ""]) is None
