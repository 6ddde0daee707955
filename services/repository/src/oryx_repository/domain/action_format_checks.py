"""Field-level checks behind ``validate_metadata``: types, lengths, patterns and units.

A ``FieldChecker`` reads one field of a parsed mapping, records a ``FormatError`` when the
value is wrong and returns the value (or ``None``). Patterns are matched with ``re.search``,
as JSON Schema validators do, and end with ``$(?!\\n)`` so that they mean "end of text" both in
Python and in ECMAScript; the JSON Schema uses the very same patterns.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MEMORY_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MEMORY_PATTERN = r"^(?=[0-9]*[1-9])[0-9]{1,15}[KMGT]?$(?!\n)"
TIME_PATTERN = r"^(?=[0-9.]*[1-9])[0-9]{1,9}(?:\.[0-9]{1,6})?[smhd]?$(?!\n)"
CLIP = 60


@dataclass(frozen=True)
class FormatError:
    """A reason an action cannot be used, pointing at a file and a field in it.

    ``field`` is a dotted path in the metadata (``spec.inputs[2].type``); for other files it
    names the part at fault (``handle``, ``line 3``), and it is empty for the file as a whole.
    """

    file: str
    field: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


def parse_memory(value: object) -> int | None:
    """Bytes from ``1048576``, ``"512M"``, ``"2G"`` (K, M, G, T are powers of 1024), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value >= 1 else None
    if isinstance(value, str) and re.search(MEMORY_PATTERN, value):
        unit = MEMORY_UNITS.get(value[-1], 1)
        digits = value[:-1] if value[-1] in MEMORY_UNITS else value
        return int(digits) * unit
    return None


def parse_time(value: object) -> float | None:
    """Seconds from ``90``, ``1.5``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"``, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value > 0 else None
    if isinstance(value, str) and re.search(TIME_PATTERN, value):
        unit = TIME_UNITS.get(value[-1], 1)
        number = value[:-1] if value[-1] in TIME_UNITS else value
        return float(number) * unit
    return None


def describe(value: object) -> str:
    """What a parsed YAML value is, in words, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def clip(text: str, length: int = CLIP) -> str:
    """``text`` cut short and made printable, to quote a user's value in a message."""
    printable = "".join(c if c.isprintable() else "?" for c in text[: length + 1])
    return printable if len(printable) <= length else printable[: length - 3] + "..."


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


class FieldChecker:
    """Collects the errors of one file while its fields are read."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[FormatError] = []

    def error(self, field: str, reason: str) -> None:
        self.errors.append(FormatError(self.file, field, reason))

    describe = staticmethod(describe)
    clip = staticmethod(clip)

    def show(self, value: object) -> str:
        if isinstance(value, str):
            return f"'{clip(value)}'"
        if isinstance(value, int | float) and not isinstance(value, bool):
            return clip(repr(value))
        return describe(value)

    @staticmethod
    def article(name: str) -> str:
        return {
            "integer": "an integer",
            "float": "a number",
            "boolean": "a boolean",
        }.get(name, "a string")

    def expect_mapping(self, path: str, value: object) -> bool:
        if isinstance(value, dict):
            return True
        self.error(path, f"must be a mapping, not {describe(value)}")
        return False

    def expect_list(self, path: str, value: object, *, max_items: int) -> bool:
        if not isinstance(value, list):
            self.error(path, f"must be a list, not {describe(value)}")
            return False
        if len(value) > max_items:
            self.error(path, f"must list at most {max_items} items, not {len(value)}")
        return True

    def string(
        self,
        mapping: dict[object, object],
        path: str,
        key: str,
        *,
        pattern: str | None = None,
        pattern_text: str = "",
        min_length: int = 0,
        max_length: int | None = None,
        number_hint: str | None = None,
    ) -> str | None:
        if key not in mapping:
            return None
        return self._string(
            mapping[key],
            join(path, key),
            pattern=pattern,
            pattern_text=pattern_text,
            min_length=min_length,
            max_length=max_length,
            number_hint=number_hint,
        )

    def _string(
        self,
        value: object,
        field: str,
        *,
        pattern: str | None = None,
        pattern_text: str = "",
        min_length: int = 0,
        max_length: int | None = None,
        number_hint: str | None = None,
    ) -> str | None:
        if not isinstance(value, str):
            hint = (
                f" ({number_hint})"
                if number_hint and isinstance(value, int | float) and not isinstance(value, bool)
                else ""
            )
            self.error(field, f"must be a string, not {describe(value)}{hint}")
            return None
        if len(value) < min_length:
            self.error(field, "must not be empty" if min_length == 1 else "is too short")
            return None
        if max_length is not None and len(value) > max_length:
            self.error(field, f"must be at most {max_length} characters, not {len(value)}")
            return None
        if pattern is not None and not re.search(pattern, value):
            self.error(field, f"'{clip(value)}' is not valid: {pattern_text}")
            return None
        return value

    def string_list(
        self,
        mapping: dict[object, object],
        path: str,
        key: str,
        *,
        max_items: int,
        item_pattern: str | None = None,
        item_pattern_text: str = "",
        item_min_length: int = 0,
        item_max_length: int | None = None,
        unique: bool = False,
    ) -> list[str] | None:
        if key not in mapping:
            return None
        field = join(path, key)
        items = mapping[key]
        if not self.expect_list(field, items, max_items=max_items) or not isinstance(items, list):
            return None
        before = len(self.errors)
        result: list[str] = []
        for index, item in enumerate(items[:max_items]):
            checked = self._string(
                item,
                f"{field}[{index}]",
                pattern=item_pattern,
                pattern_text=item_pattern_text,
                min_length=item_min_length,
                max_length=item_max_length,
            )
            if checked is None:
                continue
            if unique and checked in result:
                self.error(f"{field}[{index}]", f"'{clip(checked)}' is listed twice")
            result.append(checked)
        return result if len(self.errors) == before else None

    def boolean(self, mapping: dict[object, object], path: str, key: str) -> bool | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if not isinstance(value, bool):
            self.error(join(path, key), f"must be true or false, not {self.show(value)}")
            return None
        return value

    def number(
        self, mapping: dict[object, object], path: str, key: str, *, exclusive_minimum: float
    ) -> float | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(join(path, key), f"must be a number, not {self.show(value)}")
            return None
        if not math.isfinite(value) or value <= exclusive_minimum:
            self.error(join(path, key), f"must be more than {exclusive_minimum:g}, not {value}")
            return None
        return float(value)

    def integer(
        self, mapping: dict[object, object], path: str, key: str, *, minimum: int
    ) -> int | None:
        if key not in mapping:
            return None
        value = mapping[key]
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(join(path, key), f"must be a whole number, not {self.show(value)}")
            return None
        if value < minimum:
            self.error(join(path, key), f"must be at least {minimum}, not {value}")
            return None
        return value

    def amount(
        self,
        mapping: dict[object, object],
        path: str,
        key: str,
        *,
        parse: Callable[[object], float | None],
        examples: str,
    ) -> float | None:
        """A positive quantity with optional units (memory, time)."""
        if key not in mapping:
            return None
        value = mapping[key]
        parsed = parse(value)
        if parsed is None:
            self.error(
                join(path, key),
                f"must be a positive amount like {examples}, not {self.show(value)}",
            )
        return parsed


def check_mapping(
    checker: FieldChecker,
    mapping: dict[object, object],
    path: str,
    known: Sequence[str],
    *,
    required: Sequence[str] = (),
) -> None:
    """Record unknown fields and missing required ones."""
    for key in mapping:
        if key not in known:
            name = clip(key) if isinstance(key, str) else clip(repr(key))
            checker.error(
                join(path, name), f"unknown field; the fields here are: {', '.join(known)}"
            )
    for key in required:
        if key not in mapping:
            checker.error(join(path, key), "is required")
