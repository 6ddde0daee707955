"""The user APIs: HTTP endpoints of deployed workflows with the ``http-api`` trigger.

An endpoint's path is relative to ``/runner/api/{project_id}/``; a segment ``{name}`` takes
the value of the trigger output ``name`` (origin ``path``). A request matches the endpoint
whose segments all match; among several, the one with the most literal segments wins (so
``orders/latest`` is preferred to ``orders/{id}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from oryx_runner.domain.errors import MethodNotAllowed, NotFound

_PARAM = re.compile(r"^\{([a-z_][a-z0-9_]*)\}$")
ORIGINS = ("path", "query", "header", "body")

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class PathTemplate:
    raw: str
    segments: tuple[str, ...]
    """Literal segments, or ``{name}`` for a parameter."""

    @classmethod
    def parse(cls, path: str) -> PathTemplate:
        return cls(raw=path, segments=tuple(split_path(path)))

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if _PARAM.match(s) is None)

    @property
    def parameters(self) -> tuple[str, ...]:
        names = []
        for segment in self.segments:
            found = _PARAM.match(segment)
            if found is not None:
                names.append(found.group(1))
        return tuple(names)

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        if len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for mine, given in zip(self.segments, segments, strict=True):
            found = _PARAM.match(mine)
            if found is None:
                if mine != given:
                    return None
            elif not given:
                return None
            else:
                params[found.group(1)] = given
        return params


def split_path(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "b", "c"]``; leading, trailing and doubled slashes ignored."""
    return [s for s in path.split("/") if s]


@dataclass(frozen=True, kw_only=True)
class Route(Generic[T]):
    method: str
    template: PathTemplate
    target: T


@dataclass(frozen=True, kw_only=True)
class Matched(Generic[T]):
    target: T
    params: dict[str, str]


def match_route(routes: Iterable[Route[T]], *, method: str, path: str) -> Matched[T]:
    """The best route for ``method`` and ``path``; ``NotFound`` when no path matches,
    ``MethodNotAllowed`` (with the allowed methods) when only other methods do."""
    segments = split_path(path)
    best: tuple[int, Matched[T]] | None = None
    allowed: set[str] = set()
    for route in routes:
        params = route.template.match(segments)
        if params is None:
            continue
        if route.method != method.upper():
            allowed.add(route.method)
            continue
        score = route.template.literal_count
        if best is None or score > best[0]:
            best = (score, Matched(target=route.target, params=params))
    if best is not None:
        return best[1]
    if allowed:
        methods = tuple(sorted(allowed))
        raise MethodNotAllowed(
            f"{method.upper()} is not allowed here; use {', '.join(methods)}", allowed=methods
        )
    raise NotFound(f"no deployed endpoint at {path!r}", field="path")
