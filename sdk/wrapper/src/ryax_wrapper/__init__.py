"""Ryax compatibility: what Ryax actions import from `ryax_wrapper`.

`from ryax_wrapper import RyaxSourceProtocol` is the optional import Ryax documents for sources.
`RyaxException` is provided for convenience; actions may also define their own class of that
name (with `message` and `code`), as Ryax documents: the wrapper recognises both.
"""

from dataclasses import dataclass

from ryax_execution.ryax_source_protocol import RyaxRunStatus, RyaxSourceProtocol
from ryax_execution.ryax_trigger_protocol import RyaxTriggerProtocol


@dataclass
class RyaxException(Exception):
    """Raise it from `handle` to fail the run with this message and code."""

    message: str
    code: int

    def __str__(self) -> str:
        return self.message


__all__ = ["RyaxException", "RyaxRunStatus", "RyaxSourceProtocol", "RyaxTriggerProtocol"]
