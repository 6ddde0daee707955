"""Metadata documents for the format tests: a valid one of each kind and a way to spoil them."""

import copy
from typing import Any


def processor() -> dict[str, Any]:
    return {
        "apiVersion": "ryax.tech/v2.0",
        "kind": "Processor",
        "spec": {
            "id": "tag-objects",
            "version": "1.0",
            "human_name": "Tag objects",
            "description": "Tag the objects found in an image.",
            "type": "python3",
            "categories": ["Vision"],
            "logo": "logo.png",
            "resources": {"cpu": 0.5, "memory": "512M", "time": "5m", "gpu": 0},
            "dependencies": ["opencv", "python311Packages.numpy"],
            "options": {"python": {"version": "3.11"}},
            "inputs": [
                {
                    "name": "model",
                    "human_name": "Model",
                    "help": "The model that finds objects",
                    "type": "enum",
                    "enum_values": ["small", "large"],
                    "default_value": "small",
                },
                {"name": "image", "human_name": "Image", "help": "An image", "type": "file"},
                {"name": "threshold", "human_name": "T", "help": "", "type": "float"},
            ],
            "outputs": [
                {"name": "tagged", "human_name": "Tagged image", "help": "", "type": "file"},
                {"name": "count", "human_name": "Count", "help": "", "type": "integer"},
            ],
        },
    }


def source() -> dict[str, Any]:
    return {
        "apiVersion": "ryax.tech/v2.0",
        "kind": "Source",
        "spec": {
            "id": "every-n-seconds",
            "version": "0.1.0",
            "human_name": "Every N seconds",
            "type": "python3",
            "dynamic_outputs": True,
            "inputs": [{"name": "seconds", "type": "integer", "default_value": 10}],
        },
    }


def minimal() -> dict[str, Any]:
    return {
        "apiVersion": "ryax.tech/v2.0",
        "kind": "Publisher",
        "spec": {"id": "abc", "version": "1", "human_name": "A", "type": "python3"},
    }


def changed(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with ``path`` (``spec.inputs[0].type``) set; ``DELETE`` removes it."""
    result = copy.deepcopy(document)
    *parents, last = _steps(path)
    node: Any = result
    for step in parents:
        node = node[step]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return result


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = part.split("[")
        steps.append(name)
        steps.extend(int(index.rstrip("]")) for index in indexes)
    return steps


DELETE = object()
