"""The action's metadata, read leniently: only what the wrapper needs.

The repository service validates the format strictly (unknown fields, ids, logos...); the
wrapper reads `ryax_metadata.yaml` (or `oryx_metadata.yaml`) and keeps the kind, the inputs
and outputs with their types, and the time limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

METADATA_FILES = ("oryx_metadata.yaml", "ryax_metadata.yaml")
HANDLER_FILE = "ryax_handler.py"
RUN_FILE = "ryax_run.py"


class MetadataError(Exception):
    """The metadata file is missing or cannot be used."""


class Kind(Enum):
    PROCESSOR = "Processor"
    PUBLISHER = "Publisher"
    SOURCE = "Source"

    @property
    def is_source(self) -> bool:
        return self is Kind.SOURCE


class IoType(Enum):
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
        return self in (IoType.STRING, IoType.LONGSTRING, IoType.PASSWORD, IoType.ENUM)

    @property
    def is_path(self) -> bool:
        return self in (IoType.FILE, IoType.DIRECTORY)


@dataclass(frozen=True)
class IoDefinition:
    name: str
    type: IoType
    human_name: str = ""
    help: str = ""
    optional: bool = False
    enum_values: tuple[str, ...] = ()
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True)
class ActionMetadata:
    id: str
    version: str
    kind: Kind
    human_name: str = ""
    description: str = ""
    inputs: tuple[IoDefinition, ...] = ()
    outputs: tuple[IoDefinition, ...] = ()
    dynamic_outputs: bool = False
    time_limit: float | None = None  # seconds
    metadata_file: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def code_file(self) -> str:
        return RUN_FILE if self.kind.is_source else HANDLER_FILE


_KINDS = {
    "processor": Kind.PROCESSOR,
    "publisher": Kind.PUBLISHER,
    "source": Kind.SOURCE,
    "trigger": Kind.SOURCE,
}
_TIME_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_time(value: object) -> float | None:
    """`resources.time`: seconds, or a number with the unit s, m, h or d. None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MetadataError(f"spec.resources.time: {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _TIME.match(str(value))
        if match is None:
            raise MetadataError(
                f"spec.resources.time: {value!r} is not a duration (seconds, or with s, m, h, d)"
            )
        seconds = float(match.group(1)) * _TIME_UNITS[match.group(2).lower()]
    if seconds <= 0:
        raise MetadataError(f"spec.resources.time: {value!r} must be more than 0")
    return seconds


def coerce_default(io_type: IoType, value: object) -> Any:
    """A `default_value` from YAML, as the value the handler would receive."""
    if io_type.is_text:
        return value if isinstance(value, str) else str(value)
    if io_type is IoType.INTEGER:
        if isinstance(value, bool):
            raise ValueError("a boolean is not an integer")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an integer")
        return int(value)  # type: ignore[call-overload]
    if io_type is IoType.FLOAT:
        if isinstance(value, bool):
            raise ValueError("a boolean is not a number")
        return float(value)  # type: ignore[arg-type]
    if io_type is IoType.BOOLEAN:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    raise ValueError(f"a {io_type.value} cannot have a default value")


def _io(item: object, where: str, *, inputs: bool) -> IoDefinition:
    if not isinstance(item, dict):
        raise MetadataError(f"{where}: expected a mapping, got {type(item).__name__}")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise MetadataError(f"{where}.name: required")
    raw_type = str(item.get("type", "")).strip().lower()
    try:
        io_type = IoType(raw_type)
    except ValueError:
        known = ", ".join(t.value for t in IoType)
        raise MetadataError(f"{where}.type: {raw_type!r} is not one of {known}") from None
    enum_values = tuple(str(v) for v in item.get("enum_values") or ())
    has_default = inputs and item.get("default_value") is not None
    default = None
    if has_default and io_type.is_path:
        has_default = False  # files and directories come from URLs: a default cannot apply
    elif has_default:
        try:
            default = coerce_default(io_type, item["default_value"])
        except (TypeError, ValueError) as error:
            raise MetadataError(f"{where}.default_value: {error}") from None
    return IoDefinition(
        name=name,
        type=io_type,
        human_name=str(item.get("human_name") or ""),
        help=str(item.get("help") or ""),
        optional=bool(item.get("optional", False)),
        enum_values=enum_values,
        has_default=has_default,
        default=default,
    )


def parse_metadata(document: object, *, file_name: str = "ryax_metadata.yaml") -> ActionMetadata:
    if not isinstance(document, dict):
        raise MetadataError(f"{file_name}: expected a mapping at the top")
    spec = document.get("spec")
    if not isinstance(spec, dict):
        raise MetadataError(f"{file_name}: spec: required mapping")
    raw_kind = str(document.get("kind", "")).strip().lower()
    if raw_kind not in _KINDS:
        raise MetadataError(
            f"{file_name}: kind: {document.get('kind')!r} is not Processor, Publisher or Source"
        )
    resources = spec.get("resources") or {}
    if not isinstance(resources, dict):
        raise MetadataError(f"{file_name}: spec.resources: expected a mapping")
    try:
        inputs = tuple(
            _io(item, f"spec.inputs[{i}]", inputs=True)
            for i, item in enumerate(spec.get("inputs") or ())
        )
        outputs = tuple(
            _io(item, f"spec.outputs[{i}]", inputs=False)
            for i, item in enumerate(spec.get("outputs") or ())
        )
        time_limit = parse_time(resources.get("time"))
    except MetadataError as error:
        raise MetadataError(f"{file_name}: {error}") from None
    return ActionMetadata(
        id=str(spec.get("id") or ""),
        version=str(spec.get("version") or ""),
        kind=_KINDS[raw_kind],
        human_name=str(spec.get("human_name") or ""),
        description=str(spec.get("description") or ""),
        inputs=inputs,
        outputs=outputs,
        dynamic_outputs=bool(spec.get("dynamic_outputs", False)),
        time_limit=time_limit,
        metadata_file=file_name,
    )


def load_metadata(action_dir: Path) -> ActionMetadata:
    """Read the metadata of the action in `action_dir` (oryx_metadata.yaml wins)."""
    for name in METADATA_FILES:
        path = action_dir / name
        if path.is_file():
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
                raise MetadataError(f"{path}: cannot be read: {error}") from None
            metadata = parse_metadata(document, file_name=name)
            if not (action_dir / metadata.code_file).is_file():
                raise MetadataError(
                    f"{action_dir}: a {metadata.kind.value} needs {metadata.code_file}"
                )
            return metadata
    raise MetadataError(f"{action_dir}: no {' or '.join(METADATA_FILES)}")
