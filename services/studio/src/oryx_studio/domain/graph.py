"""The value objects of a workflow's graph: positions, links, input sources, results and the
HTTP endpoint, with the rules each one checks on its own."""

import re
from dataclasses import dataclass
from enum import StrEnum

from oryx_studio.domain.errors import InvalidValue
from oryx_studio.domain.types import Value

STEP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESULT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+|\{[a-z_][a-z0-9_]{0,63}\}")
MAX_PATH_LENGTH = 512
RESERVED_PATHS = frozenset({"openapi.json", "docs"})
"""Paths of ``/runner/api/{project_id}/`` the runner keeps for the project's API document."""
MAX_TIMEOUT_SECONDS = 300.0
MAX_COORDINATE = 1e9


def check_step_id(step_id: str, *, field: str = "step_id") -> str:
    if not STEP_ID.fullmatch(step_id):
        raise InvalidValue(
            "a step id is 1 to 64 characters: lowercase letters, digits, _ and -, starting "
            "with a letter or a digit",
            field=field,
        )
    return step_id


@dataclass(frozen=True, kw_only=True)
class Position:
    """Where the UI draws a step."""

    x: float
    y: float

    def __post_init__(self) -> None:
        for name, value in (("x", self.x), ("y", self.y)):
            if not -MAX_COORDINATE <= value <= MAX_COORDINATE:  # also refuses NaN
                raise InvalidValue(
                    f"position.{name} must be a number between -1e9 and 1e9",
                    field=f"position.{name}",
                )


@dataclass(frozen=True, kw_only=True)
class Link:
    from_step_id: str
    to_step_id: str


@dataclass(frozen=True, kw_only=True)
class StepOutput:
    """An upstream step's output."""

    step_id: str
    output: str


@dataclass(frozen=True, kw_only=True)
class StaticInput:
    value: Value


@dataclass(frozen=True, kw_only=True)
class VariableInput:
    variable_id: str


InputSource = StaticInput | StepOutput | VariableInput


@dataclass(frozen=True, kw_only=True)
class Result:
    """One entry of a run's result: ``key`` takes the value of an output."""

    key: str
    source: StepOutput


def check_result_key(key: str, *, field: str = "key") -> str:
    if not RESULT_KEY.fullmatch(key):
        raise InvalidValue(
            "a result key is 1 to 64 letters, digits, _, . or -, starting with a letter or _",
            field=field,
        )
    return key


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """The user API of a workflow started by the built-in HTTP trigger."""

    path: str
    """Relative to ``/runner/api/{project_id}/``, no leading slash; ``{name}`` parts are
    path parameters."""
    method: HttpMethod
    success_code: int
    timeout_seconds: float
    """How long a request waits for the result; 0: always answer 202 at once."""

    @classmethod
    def make(
        cls, *, path: str, method: str, success_code: int, timeout_seconds: float
    ) -> "Endpoint":
        path = path.strip().strip("/")
        if not path or len(path) > MAX_PATH_LENGTH:
            raise InvalidValue(
                f"path must be 1 to {MAX_PATH_LENGTH} characters, e.g. orders/{{order_id}}",
                field="path",
            )
        segments = path.split("/")
        bad = next((s for s in segments if not PATH_SEGMENT.fullmatch(s)), None)
        if bad is not None:
            raise InvalidValue(
                f"path part {bad[:80]!r} is not allowed: use letters, digits, . _ ~ - or a "
                "parameter {name} (lowercase, digits and _)",
                field="path",
            )
        if path in RESERVED_PATHS:
            raise InvalidValue(
                f"path {path!r} is reserved: the runner serves the project's API document there",
                field="path",
            )
        params = [s[1:-1] for s in segments if s.startswith("{")]
        if len(params) != len(set(params)):
            raise InvalidValue("a path parameter appears twice", field="path")
        try:
            http_method = HttpMethod(method.upper())
        except ValueError:
            raise InvalidValue(
                "method must be one of GET, POST, PUT, PATCH, DELETE", field="method"
            ) from None
        if success_code not in (200, 201):
            raise InvalidValue("success_code must be 200 or 201", field="success_code")
        if not 0 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
            raise InvalidValue(
                f"timeout_seconds must be between 0 and {MAX_TIMEOUT_SECONDS:g}",
                field="timeout_seconds",
            )
        return cls(
            path=path,
            method=http_method,
            success_code=success_code,
            timeout_seconds=float(timeout_seconds),
        )

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(s[1:-1] for s in self.path.split("/") if s.startswith("{"))

    @property
    def route_key(self) -> str:
        """The path with its parameters unnamed: two endpoints with the same key would
        answer the same URLs, so a project holds each key once."""
        return "/".join("{}" if s.startswith("{") else s for s in self.path.split("/"))
