"""Checking input values before a handler runs, and output values after.

Inputs arrive as plain Python values (`None`, `str`, `int`, `float`, `bool`) or `RemoteFile`
(a file or a directory archive to download). Outputs leave as plain values or `LocalPath`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .metadata import IoDefinition, IoType


@dataclass(frozen=True)
class RemoteFile:
    """A file input, or a directory input as an archive, to download from `url`."""

    url: str
    name: str
    directory: bool = False


@dataclass(frozen=True)
class LocalPath:
    """A file or directory output on the local disk, to upload or stage."""

    path: str
    directory: bool = False


@dataclass(frozen=True)
class StoredFile:
    """A file or directory output, uploaded (`url`) or staged (`staged_id`)."""

    name: str
    size: int
    sha256: str
    directory: bool = False
    url: str = ""
    staged_id: str = ""


class InvalidValues(Exception):
    """Values do not match their definitions; `problems` says which and why, one a line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_input(definition: IoDefinition, value: object) -> object:
    """The value the handler gets, or raise ValueError with the reason."""
    io_type = definition.type
    if io_type.is_text:
        if not isinstance(value, str):
            raise ValueError(f"expected a {io_type.value} (text), got {_describe(value)}")
        if io_type is IoType.ENUM and value not in definition.enum_values:
            raise ValueError(
                f"{_describe(value)} is not one of {', '.join(definition.enum_values)}"
            )
        return value
    if io_type is IoType.INTEGER:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_describe(value)}")
        return value
    if io_type is IoType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a float, got {_describe(value)}")
        return float(value)
    if io_type is IoType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"expected a boolean, got {_describe(value)}")
        return value
    want_directory = io_type is IoType.DIRECTORY
    if not isinstance(value, RemoteFile) or value.directory != want_directory:
        raise ValueError(f"expected a {io_type.value}, got {_describe(value)}")
    if not value.url:
        raise ValueError(f"a {io_type.value} needs a URL to download it from")
    return value


def check_inputs(
    definitions: Iterable[IoDefinition], given: Mapping[str, object]
) -> dict[str, Any]:
    """Every declared input, with defaults applied; raise InvalidValues listing every problem."""
    definitions = list(definitions)
    known = {d.name for d in definitions}
    problems = [f"unknown input {name!r}" for name in given if name not in known]
    checked: dict[str, Any] = {}
    for definition in definitions:
        value = given.get(definition.name)
        if value is None:
            if definition.has_default:
                checked[definition.name] = definition.default
            elif definition.optional:
                checked[definition.name] = None
            else:
                problems.append(f"input {definition.name!r} is required")
            continue
        try:
            checked[definition.name] = _check_input(definition, value)
        except ValueError as error:
            problems.append(f"input {definition.name!r}: {error}")
    if problems:
        raise InvalidValues(problems)
    return checked


def _check_output(definition: IoDefinition, value: object, base: Path) -> object:
    """The output as a plain value or LocalPath, or raise ValueError with the reason."""
    io_type = definition.type
    if io_type.is_text:
        if not isinstance(value, str):
            raise ValueError(f"expected a {io_type.value} (str), got {_describe(value)}")
        if io_type is IoType.ENUM and value not in definition.enum_values:
            raise ValueError(
                f"{_describe(value)} is not one of {', '.join(definition.enum_values)}"
            )
        return value
    if io_type is IoType.INTEGER:
        # numpy and friends: anything that is an exact integer, but not a boolean
        if isinstance(value, bool) or type(value).__name__ == "bool_":
            raise ValueError(f"expected an integer, got {_describe(value)}")
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(f"expected an integer, got {_describe(value)}")
    if io_type is IoType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"expected a float, got {_describe(value)}")
        return float(value)
    if io_type is IoType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if type(value).__name__ == "bool_":  # numpy.bool_
            return bool(value)
        raise ValueError(f"expected a boolean, got {_describe(value)}")
    if not isinstance(value, str | os.PathLike):
        raise ValueError(f"expected the path of a {io_type.value}, got {_describe(value)}")
    path = (base / os.fspath(value)).resolve()
    if io_type is IoType.FILE and not path.is_file():
        raise ValueError(f"{str(path)!r} is not a file")
    if io_type is IoType.DIRECTORY and not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a directory")
    return LocalPath(path=str(path), directory=io_type is IoType.DIRECTORY)


def check_output_set(
    definitions: Iterable[IoDefinition], values: object, *, base: Path, where: str = "the result"
) -> dict[str, Any]:
    """One dict of outputs: every declared output present and of its type (others dropped)."""
    if not isinstance(values, Mapping):
        raise InvalidValues([f"{where} must be a dict, got {type(values).__name__}"])
    problems: list[str] = []
    checked: dict[str, Any] = {}
    for definition in definitions:
        value = values.get(definition.name)
        if value is None:
            if definition.optional:
                checked[definition.name] = None
            elif definition.name in values:
                problems.append(f"output {definition.name!r} is None but not optional")
            else:
                problems.append(f"output {definition.name!r} is missing from {where}")
            continue
        try:
            checked[definition.name] = _check_output(definition, value, base)
        except ValueError as error:
            problems.append(f"output {definition.name!r}: {error}")
    if problems:
        raise InvalidValues(problems)
    return checked


def check_outputs(
    definitions: Iterable[IoDefinition], result: object, *, base: Path
) -> list[dict[str, Any]]:
    """What `handle` returned (a dict, or a list of dicts) as a list of checked output sets."""
    definitions = list(definitions)
    if isinstance(result, Mapping):
        return [check_output_set(definitions, result, base=base)]
    if isinstance(result, list | tuple):
        sets: list[dict[str, Any]] = []
        problems: list[str] = []
        for index, item in enumerate(result):
            try:
                sets.append(check_output_set(definitions, item, base=base, where=f"item {index}"))
            except InvalidValues as error:
                problems.extend(error.problems)
        if problems:
            raise InvalidValues(problems)
        return sets
    if result is None and not definitions:
        return [{}]
    raise InvalidValues(
        [f"handle must return a dict or a list of dicts, got {type(result).__name__}"]
    )
