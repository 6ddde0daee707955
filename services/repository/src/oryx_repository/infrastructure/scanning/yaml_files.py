"""YAML metadata files, read safely: ``yaml.safe_load`` rules plus refused duplicate keys."""

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from oryx_repository.domain.action_format import FormatError

MERGE_TAG = "tag:yaml.org,2002:merge"
JSON_BUDGET = 100_000  # nodes; a document bigger than this (alias bombs) is not kept for display


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key written twice in one mapping (YAML keeps the last)."""


def _mapping(loader: _StrictLoader, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key; construct_mapping says so with its position
            break
        if duplicate:
            raise ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"the key {key!r} is written twice",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(text: str, *, file: str) -> tuple[object, list[FormatError]]:
    """The parsed document, or an error naming the file and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader), []  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = ", ".join(part for part in (error.context, error.problem) if part)
        problem = problem or "invalid syntax"
        if mark is None:
            return None, [FormatError(file, "", f"is not valid YAML: {problem}")]
        line = mark.line + 1
        return None, [
            FormatError(
                file,
                "",
                f"is not valid YAML: {problem} (line {line}, column {mark.column + 1})",
                line=line,
            )
        ]
    except yaml.YAMLError as error:
        return None, [FormatError(file, "", f"is not valid YAML: {error}")]
    except RecursionError:
        return None, [FormatError(file, "", "is not valid YAML: nested too deeply")]


def json_safe(document: object) -> dict[str, Any] | None:
    """The document as JSON-friendly data (for display and storage), or None if too big."""
    budget = [JSON_BUDGET]

    def convert(value: object, depth: int) -> Any:
        budget[0] -= 1
        if budget[0] < 0 or depth > 64:
            raise OverflowError
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return value if value == value and abs(value) != float("inf") else str(value)
        if isinstance(value, dict):
            return {str(k): convert(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [convert(v, depth + 1) for v in value]
        if hasattr(value, "isoformat"):
            return str(value.isoformat())
        return str(value)

    if not isinstance(document, dict):
        return None
    try:
        converted = convert(document, 0)
    except (OverflowError, RecursionError):
        return None
    assert isinstance(converted, dict)
    return converted
