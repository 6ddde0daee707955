"""Typed inputs and outputs: the types an action declares, checking a value against one, and
which outputs may feed which inputs."""

import math
import re
from dataclasses import dataclass
from enum import StrEnum

from oryx_studio.domain.errors import InvalidValue

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT_VALUE = 64 * 1024
"""A static string value; longer texts belong in files."""
IO_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
"""Names of inputs and outputs, as the action format allows them."""


class IoType(StrEnum):
    STRING = "string"
    LONGSTRING = "longstring"
    PASSWORD = "password"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    ENUM = "enum"
    FILE = "file"
    DIRECTORY = "directory"

    @property
    def is_text(self) -> bool:
        return self in (IoType.STRING, IoType.LONGSTRING, IoType.PASSWORD)

    @property
    def is_file(self) -> bool:
        return self in (IoType.FILE, IoType.DIRECTORY)


@dataclass(frozen=True, kw_only=True)
class FileValue:
    """A file kept in the filestore: a static file input, or the file of a variable."""

    key: str
    name: str
    size_bytes: int
    directory: bool = False
    """An archive (zip or tar.gz) the action gets unpacked as a directory."""


Scalar = str | int | float | bool | None
Value = Scalar | FileValue


@dataclass(frozen=True, kw_only=True)
class IoSpec:
    """An input or an output of an action (or a dynamic output a workflow defines)."""

    name: str
    type: IoType
    human_name: str = ""
    help: str = ""
    optional: bool = False
    enum_values: tuple[str, ...] = ()
    default: Scalar = None
    has_default: bool = False
    origin: str = ""
    """For outputs of the built-in HTTP trigger: path, query, header or body."""

    @property
    def required(self) -> bool:
        """A value must be given: not optional and no default."""
        return not self.optional and not self.has_default


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored (NUL, lone surrogates); None when it can."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "must be valid Unicode text (no lone surrogates)"
    return None


def value_problem(spec: IoSpec, value: Value) -> str | None:
    """Why ``value`` cannot be given to the input ``spec``; None when it can."""
    t = spec.type
    if value is None:
        return None if spec.optional else f"{spec.name} is required; null is for optional inputs"
    if isinstance(value, FileValue):
        if not t.is_file:
            return f"{spec.name} is a {t.value}, not a file"
        if value.directory != (t is IoType.DIRECTORY):
            wanted = "a directory (an archive)" if t is IoType.DIRECTORY else "a file"
            return f"{spec.name} takes {wanted}"
        return None
    if t.is_file:
        return f"{spec.name} is a {t.value}: upload it with POST .../inputs/{spec.name}/file"
    if t.is_text or t is IoType.ENUM:
        if not isinstance(value, str):
            return f"{spec.name} takes a string, not {_describe(value)}"
        if len(value) > MAX_TEXT_VALUE:
            return f"{spec.name} is at most {MAX_TEXT_VALUE} characters"
        if (problem := text_problem(value)) is not None:
            return f"{spec.name} {problem}"
        if t is IoType.ENUM and value not in spec.enum_values:
            allowed = ", ".join(spec.enum_values[:20])
            return f"{spec.name} takes one of {allowed}; {value[:100]!r} is not one of them"
        return None
    if t is IoType.BOOLEAN:
        return None if isinstance(value, bool) else f"{spec.name} takes true or false"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{spec.name} takes a number, not {_describe(value)}"
    if t is IoType.INTEGER:
        if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
            return f"{spec.name} takes a whole number, not {value}"
        if not INT64_MIN <= int(value) <= INT64_MAX:
            return f"{spec.name} takes a 64-bit integer; {value} is out of range"
        return None
    if not math.isfinite(value) or abs(value) > 1.7976931348623157e308:
        return f"{spec.name} takes a finite number"
    return None


def check_value(spec: IoSpec, value: Value, *, field: str = "value") -> Value:
    """``value`` in the input's own type (3.0 becomes 3 for an integer), or InvalidValue."""
    problem = value_problem(spec, value)
    if problem is not None:
        raise InvalidValue(problem, field=field, code="type_mismatch")
    if spec.type is IoType.INTEGER and isinstance(value, float):
        return int(value)
    if spec.type is IoType.FLOAT and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def compatible(output: IoSpec, input: IoSpec) -> bool:
    """Whether the value of ``output`` may be given to ``input``.

    Texts (string, longstring, password) mix; an integer widens to a float; an enum fits a
    text, or an enum holding all of its values; files, directories and booleans only match
    themselves.
    """
    o, i = output.type, input.type
    if o is i and o is not IoType.ENUM:
        return True
    if o.is_text and i.is_text:
        return True
    if o is IoType.INTEGER and i is IoType.FLOAT:
        return True
    if o is IoType.ENUM:
        if i.is_text:
            return True
        if i is IoType.ENUM:
            return set(output.enum_values) <= set(input.enum_values)
    return False
