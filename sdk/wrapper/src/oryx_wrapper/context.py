"""What an action can learn about the execution it runs in: its execution id.

The runner sends each step with an execution id, and sends an interrupted step again with the
same id. An action with side effects outside Oryx (a payment, an e-mail) can hand that id to
the outside system as its idempotency key:

    from oryx_wrapper import current_execution_id

    def handle(inputs):
        key = current_execution_id()  # None outside an execution
        ...

The worker puts the id in its environment as `ORYX_EXECUTION_ID` for the duration of each
`handle` call (so the processes the handler starts see it too) and removes it when the call
ends; the environment is the single place it is kept. Ryax actions, whose `handle(inputs)`
takes nothing else, read it the same way, or with `os.environ.get("ORYX_EXECUTION_ID")` when
they must also run where oryx-wrapper is not installed.
"""

from __future__ import annotations

import os

EXECUTION_ID_ENV = "ORYX_EXECUTION_ID"


def current_execution_id() -> str | None:
    """The id of the execution being run in this process, or None outside an execution."""
    return os.environ.get(EXECUTION_ID_ENV) or None


def enter_execution(execution_id: str) -> None:
    """Called by the worker before `handle`: an empty id leaves the variable unset."""
    if execution_id:
        os.environ[EXECUTION_ID_ENV] = execution_id
    else:
        os.environ.pop(EXECUTION_ID_ENV, None)


def leave_execution() -> None:
    """Called by the worker when `handle` is over, whatever it did to the environment."""
    os.environ.pop(EXECUTION_ID_ENV, None)
