"""The interface of the `service` object a Ryax source's `run(service, input_values)` gets.

Ryax sources import it for their type hints (`from ryax_execution.ryax_source_protocol import
RyaxSourceProtocol`); the Oryx wrapper passes an implementation of it to `run`.
"""

from __future__ import annotations

import abc
import logging
from enum import Enum
from typing import Any


class RyaxRunStatus(Enum):
    """The outcome a source gives a run it creates."""

    DONE = 1
    ERROR = 2


class RyaxSourceProtocol(metaclass=abc.ABCMeta):
    """What a source may call on the `service` it is given."""

    input_values: dict[str, Any]

    @abc.abstractmethod
    async def create_run(
        self,
        data: dict[str, Any],
        running_time: float = 0.001,
        status: RyaxRunStatus = RyaxRunStatus.DONE,
    ) -> None:
        """Start a run of the workflow with `data` as the source's outputs.

        File and directory outputs are paths; the wrapper copies them at once, so the source
        may delete or reuse them when this returns. `status=RyaxRunStatus.ERROR` records a
        failed run instead.
        """

    async def create_run_error(self, message: str = "", code: int | None = None) -> None:
        """Record a failed run (Ryax's signature has no arguments; Oryx accepts a reason)."""
        await self.create_run({}, status=RyaxRunStatus.ERROR)

    def get_output_definitions(self) -> dict[str, Any]:
        """The source's outputs by name (declared, and dynamic ones given by the workflow)."""
        return {}

    @property
    def logger(self) -> logging.Logger:
        """A logger whose records end up in the source's logs."""
        return logging.getLogger("ryax.source")
