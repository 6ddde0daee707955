"""The messages between the wrapper and its child processes (pickled over a socket pair).

They live in a module of their own so that their pickled names do not depend on which module
a child runs as `__main__`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .capture import LogRecord
from .errors import ErrorInfo
from .metadata import IoDefinition

# --- processors and publishers: the worker -----------------------------------------------

SUCCESS = "success"
USER_ERROR = "user_error"
INVALID_OUTPUT = "invalid_output"
CRASH = "crash"


@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class LoadFailed:
    error: ErrorInfo


@dataclass(frozen=True)
class WorkRequest:
    execution_id: str
    inputs: dict[str, Any]  # local paths for files and directories
    workdir: str  # the execution's own directory; temporary files go there


@dataclass(frozen=True)
class WorkReply:
    status: str
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: ErrorInfo | None = None
    logs: list[LogRecord] = field(default_factory=list)
    logs_truncated: bool = False
    handler_seconds: float = 0.0
    exit: bool = False  # the worker stops after this reply (its state cannot be trusted)


# --- sources ---------------------------------------------------------------------------------

RETURNED = "returned"  # with USER_ERROR and CRASH above


@dataclass(frozen=True)
class SourceStart:
    inputs: dict[str, Any]
    outputs: tuple[IoDefinition, ...]  # declared, then dynamic
    staging_dir: str


@dataclass(frozen=True)
class RunMade:
    values: dict[str, Any]  # plain values and StoredFile (staged)
    running_time: float
    at: float


@dataclass(frozen=True)
class RunFailed:
    message: str
    code: int | None
    at: float


@dataclass(frozen=True)
class LogLines:
    lines: list[LogRecord]


@dataclass(frozen=True)
class SourceFinished:
    reason: str
    error: ErrorInfo | None = None
    at: float = field(default_factory=time.time)
