"""The Oryx action wrapper: a gRPC server around user actions.

What an action may import from it: `current_execution_id()` (see `context.py`).
"""

from .context import EXECUTION_ID_ENV, current_execution_id

__all__ = ["EXECUTION_ID_ENV", "current_execution_id"]
