"""What an exception raised by user code becomes in an answer."""

from __future__ import annotations

import numbers
import traceback
from dataclasses import dataclass

TRACEBACK_LINES = 40
TRACEBACK_CHARS = 8_000


@dataclass(frozen=True)
class ErrorInfo:
    message: str
    type: str = ""
    code: int | None = None
    traceback: str = ""


def _ryax_exception(error: BaseException) -> tuple[str, int | None] | None:
    """(message, code) when `error` is a RyaxException as Ryax documents it.

    Users define the class themselves (a dataclass `RyaxException(Exception)` with `message`
    and `code`), so it is recognised by its class name and its attributes, not by identity.
    """
    if not any(cls.__name__ == "RyaxException" for cls in type(error).__mro__):
        return None
    message = getattr(error, "message", None)
    code = getattr(error, "code", None)
    if message is None and code is None:
        return None
    if isinstance(code, numbers.Integral) and not isinstance(code, bool):
        number: int | None = int(code)
    else:
        try:
            number = int(str(code)) if code is not None else None
        except ValueError:
            number = None
    text = str(message) if message is not None else str(error)
    return text, number


def traceback_tail(error: BaseException) -> str:
    lines = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    tail = lines.rstrip("\n").split("\n")[-TRACEBACK_LINES:]
    text = "\n".join(tail)
    return text[-TRACEBACK_CHARS:]


def describe_exception(error: BaseException) -> ErrorInfo:
    ryax = _ryax_exception(error)
    if ryax is not None:
        message, code = ryax
        return ErrorInfo(
            message=message, type=type(error).__name__, code=code, traceback=traceback_tail(error)
        )
    message = str(error) or type(error).__name__
    return ErrorInfo(message=message, type=type(error).__name__, traceback=traceback_tail(error))
