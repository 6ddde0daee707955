"""The action format: what a ``ryax_metadata.yaml`` (or ``oryx_metadata.yaml``) may say.

The format is Ryax's v2 (``apiVersion: "ryax.tech/v2.0"``), so existing repositories of Ryax
actions are read unchanged. ``validate_metadata`` takes the document already parsed (YAML
parsing is infrastructure's job) and returns either the ``ActionMetadata`` or every
``FormatError`` found, each naming the file, the field (a dotted path such as
``spec.inputs[2].type``) and the reason. The reference is ``docs/reference/action-format.md``;
``docs/reference/action-format.schema.json`` says the same as a JSON Schema, and a test keeps
the two in agreement.
"""

from dataclasses import dataclass
from enum import StrEnum

from oryx_repository.domain.action_format_checks import (
    FieldChecker,
    FormatError,
    check_mapping,
    parse_memory,
    parse_time,
)

__all__ = [
    "API_VERSION",
    "METADATA_FILE_NAMES",
    "ActionKind",
    "ActionMetadata",
    "FormatError",
    "IoDefinition",
    "IoType",
    "Resources",
    "parse_memory",
    "parse_time",
    "validate_metadata",
]

API_VERSION = "ryax.tech/v2.0"
METADATA_FILE_NAMES = ("ryax_metadata.yaml", "oryx_metadata.yaml")
SUPPORTED_TYPE = "python3"
MIGRATION_GUIDE = "docs/reference/action-format.md#migrating-from-the-v1-format"


class ActionKind(StrEnum):
    PROCESSOR = "processor"
    PUBLISHER = "publisher"
    SOURCE = "source"

    @property
    def handler_file(self) -> str:
        """The Python file the wrapper loads for this kind."""
        return "ryax_run.py" if self is ActionKind.SOURCE else "ryax_handler.py"

    @property
    def handler_function(self) -> str:
        """The module-level function of ``handler_file`` the wrapper calls."""
        return "run" if self is ActionKind.SOURCE else "handle"


# How `kind` is spelled in the file. `Trigger` is Ryax's other name for a source.
KINDS = {
    "Processor": ActionKind.PROCESSOR,
    "Publisher": ActionKind.PUBLISHER,
    "Source": ActionKind.SOURCE,
    "Trigger": ActionKind.SOURCE,
}
# v1 kinds, with their v2 names.
V1_KINDS = {"Functions": "Processor", "Gateways": "Source", "Publishers": "Publisher"}
# Types Ryax knows that Oryx cannot build yet.
UNSUPPORTED_TYPES = ("python3-cuda", "nodejs", "csharp-dotnet6", "internal")


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


IO_TYPE_NAMES = frozenset(t.value for t in IoType)
# Ryax I/O types that Oryx does not have, with what to use instead.
UNSUPPORTED_IO_TYPES = {"bytes": "string or file", "table": "file"}

DefaultValue = str | int | float | bool


@dataclass(frozen=True, kw_only=True)
class IoDefinition:
    """One input or output of an action."""

    name: str
    human_name: str
    help: str
    type: IoType
    optional: bool = False
    enum_values: tuple[str, ...] = ()
    default_value: DefaultValue | None = None  # inputs only


@dataclass(frozen=True, kw_only=True)
class Resources:
    """What an action asks for by default; ``None`` means the site's default."""

    cpu: float | None = None  # cores, may be a fraction
    memory: int | None = None  # bytes
    time: float | None = None  # seconds an execution may last
    gpu: int | None = None


@dataclass(frozen=True, kw_only=True)
class ActionMetadata:
    """A validated metadata file."""

    kind: ActionKind
    id: str
    version: str
    human_name: str
    description: str
    type: str
    categories: tuple[str, ...] = ()
    logo: str | None = None  # file name relative to the action folder
    resources: Resources = Resources()
    dependencies: tuple[str, ...] = ()  # system packages
    python_version: str | None = None  # options.python.version, "3.11"
    nixpkgs_version: str | None = None  # options.nixpkgs.version, recorded for Ryax parity
    dynamic_outputs: bool = False
    inputs: tuple[IoDefinition, ...] = ()
    outputs: tuple[IoDefinition, ...] = ()

    @property
    def handler_file(self) -> str:
        return self.kind.handler_file

    @property
    def handler_function(self) -> str:
        return self.kind.handler_function


# The fields of the file, and of each part. Anything else is an error.
TOP_FIELDS = ("apiVersion", "kind", "spec")
SPEC_FIELDS = (
    "id",
    "version",
    "human_name",
    "description",
    "type",
    "categories",
    "logo",
    "resources",
    "dependencies",
    "options",
    "dynamic_outputs",
    "inputs",
    "outputs",
)
RESOURCE_FIELDS = ("cpu", "memory", "time", "gpu")
OPTION_FIELDS = ("python", "nixpkgs")
INPUT_FIELDS = ("name", "human_name", "help", "type", "optional", "enum_values", "default_value")
OUTPUT_FIELDS = ("name", "human_name", "help", "type", "optional", "enum_values")

# Patterns are matched with re.search, like JSON Schema's "pattern"; "$(?!\n)" is the end of
# the text in Python and ECMAScript alike (a bare "$" also matches before a final newline).
ID_PATTERN = r"^[a-z0-9.-]{3,24}$(?!\n)"
IO_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$(?!\n)"
PYTHON_VERSION_PATTERN = r"^3\.[0-9]{1,2}$(?!\n)"
DEPENDENCY_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.+=:-]{0,255}$(?!\n)"
LOGO_PATTERN = (
    r"^(?!/)(?!(?:.*/)?\.\.(?:/|$))[^\x00-\x1f\x7f\\]{1,251}"
    r"\.(?:[pP][nN][gG]|[jJ][pP][eE]?[gG])$(?!\n)"
)
LINE = r"^[^\x00-\x1f\x7f]*$(?!\n)"  # one line: no control characters

MAX_HUMAN_NAME = 128
MAX_DESCRIPTION = 65_536
MAX_HELP = 10_000
MAX_VERSION = 128
MAX_CATEGORIES = 32
MAX_CATEGORY = 32
MAX_DEPENDENCIES = 64
MAX_IOS = 64
MAX_ENUM_VALUES = 64
MAX_ENUM_VALUE = 1024
MAX_ERRORS = 200  # a file that wrong is not worth more


def validate_metadata(document: object, *, file_name: str) -> ActionMetadata | list[FormatError]:
    """Check a parsed metadata document; return the metadata, or every error found."""
    checker = FieldChecker(file_name)
    if not isinstance(document, dict):
        checker.error(
            "",
            "the file must hold a mapping with apiVersion, kind and spec"
            f", not {checker.describe(document)}",
        )
        return checker.errors
    v1_errors = _v1_errors(document, file_name)
    if v1_errors:
        return v1_errors
    check_mapping(checker, document, "", TOP_FIELDS, required=TOP_FIELDS)
    if "apiVersion" in document and document["apiVersion"] != API_VERSION:
        checker.error("apiVersion", f'must be "{API_VERSION}"')
    kind = _kind(checker, document)
    spec = document.get("spec")
    metadata = None
    if "spec" in document and checker.expect_mapping("spec", spec) and isinstance(spec, dict):
        metadata = _spec(checker, spec, kind)
    if checker.errors or metadata is None:
        return checker.errors[:MAX_ERRORS]
    return metadata


def _v1_errors(document: dict[object, object], file_name: str) -> list[FormatError]:
    """Point at every mark of the v1 format, each with how to move it to v2."""
    errors = []
    api_version = document.get("apiVersion")
    if isinstance(api_version, str) and api_version.startswith("ryax.tech/v1"):
        errors.append(("apiVersion", f'set apiVersion to "{API_VERSION}"'))
    kind = document.get("kind")
    if isinstance(kind, str) and kind in V1_KINDS:
        errors.append(("kind", f"rename the kind {kind} to {V1_KINDS[kind]}"))
    spec = document.get("spec")
    if isinstance(spec, dict) and "detail" in spec:
        errors.append(("spec.detail", "rename spec.detail to spec.description"))
    guide = (
        f'To migrate to v2: apiVersion "{API_VERSION}"; kind Functions -> Processor, '
        "Gateways -> Source, Publishers -> Publisher; spec.detail -> spec.description; rename "
        "handler.py to ryax_handler.py (with a handle(inputs) function) and run.py to "
        "ryax_run.py (with an async run(service, input_values) function instead of a class). "
        f"See {MIGRATION_GUIDE}"
    )
    return [
        FormatError(
            file_name,
            field,
            f"this is the v1 action format, which Oryx does not read: {advice}. {guide}"
            if index == 0
            else f"v1 format: {advice}",
        )
        for index, (field, advice) in enumerate(errors)
    ]


def _kind(checker: FieldChecker, document: dict[object, object]) -> ActionKind | None:
    if "kind" not in document:
        return None
    kind = document["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        shown = f"'{kind}'" if isinstance(kind, str) else checker.describe(kind)
        checker.error(
            "kind", f"must be one of Processor, Publisher, Source or Trigger, not {shown}"
        )
        return None
    return KINDS[kind]


def _spec(
    checker: FieldChecker, spec: dict[object, object], kind: ActionKind | None
) -> ActionMetadata | None:
    check_mapping(
        checker, spec, "spec", SPEC_FIELDS, required=("id", "version", "human_name", "type")
    )
    action_id = checker.string(
        spec,
        "spec",
        "id",
        pattern=ID_PATTERN,
        pattern_text=("3 to 24 characters: lowercase letters, digits, '-' or '.'"),
    )
    version = checker.string(
        spec,
        "spec",
        "version",
        max_length=MAX_VERSION,
        min_length=1,
        pattern=LINE,
        pattern_text="one line",
        number_hint='write it as a quoted string, e.g. "1.0"',
    )
    human_name = checker.string(
        spec,
        "spec",
        "human_name",
        max_length=MAX_HUMAN_NAME,
        min_length=1,
        pattern=LINE,
        pattern_text="one line",
    )
    description = checker.string(spec, "spec", "description", max_length=MAX_DESCRIPTION)
    action_type = _type(checker, spec)
    categories = checker.string_list(
        spec,
        "spec",
        "categories",
        max_items=MAX_CATEGORIES,
        item_min_length=1,
        item_max_length=MAX_CATEGORY,
        item_pattern=LINE,
        item_pattern_text="one line",
    )
    logo = checker.string(
        spec,
        "spec",
        "logo",
        pattern=LOGO_PATTERN,
        pattern_text=(
            "a .png, .jpg or .jpeg file name, relative to the action folder, without '..'"
        ),
    )
    dependencies = checker.string_list(
        spec,
        "spec",
        "dependencies",
        max_items=MAX_DEPENDENCIES,
        item_pattern=DEPENDENCY_PATTERN,
        item_pattern_text="a package name: letters, digits and _ . + = : -, not starting with '-'",
    )
    resources = _resources(checker, spec)
    python_version, nixpkgs_version = _options(checker, spec)
    dynamic_outputs = checker.boolean(spec, "spec", "dynamic_outputs")
    if dynamic_outputs and kind is not None and kind is not ActionKind.SOURCE:
        checker.error("spec.dynamic_outputs", "only a Source (or Trigger) may have dynamic outputs")
    inputs = _ios(checker, spec, "inputs", INPUT_FIELDS)
    outputs = _ios(checker, spec, "outputs", OUTPUT_FIELDS)
    if checker.errors or kind is None or action_id is None or version is None:
        return None
    if human_name is None or action_type is None or resources is None:
        return None
    return ActionMetadata(
        kind=kind,
        id=action_id,
        version=version,
        human_name=human_name,
        description=description or "",
        type=action_type,
        categories=tuple(categories or ()),
        logo=logo,
        resources=resources,
        dependencies=tuple(dependencies or ()),
        python_version=python_version,
        nixpkgs_version=nixpkgs_version,
        dynamic_outputs=bool(dynamic_outputs),
        inputs=inputs,
        outputs=outputs,
    )


def _type(checker: FieldChecker, spec: dict[object, object]) -> str | None:
    value = checker.string(spec, "spec", "type")
    if value is None or value == SUPPORTED_TYPE:
        return value
    if value in UNSUPPORTED_TYPES:
        checker.error(
            "spec.type",
            f"'{value}' actions are not supported by Oryx yet: only '{SUPPORTED_TYPE}' is built",
        )
    else:
        checker.error("spec.type", f"must be '{SUPPORTED_TYPE}', not '{checker.clip(value)}'")
    return None


def _resources(checker: FieldChecker, spec: dict[object, object]) -> Resources | None:
    if "resources" not in spec:
        return Resources()
    value = spec["resources"]
    if not checker.expect_mapping("spec.resources", value) or not isinstance(value, dict):
        return None
    before = len(checker.errors)
    check_mapping(checker, value, "spec.resources", RESOURCE_FIELDS)
    cpu = checker.number(value, "spec.resources", "cpu", exclusive_minimum=0)
    gpu = checker.integer(value, "spec.resources", "gpu", minimum=0)
    memory = checker.amount(
        value, "spec.resources", "memory", parse=parse_memory, examples="512M, 2G or 1048576"
    )
    time = checker.amount(
        value, "spec.resources", "time", parse=parse_time, examples="30s, 5m, 2h, 1d or 90"
    )
    if len(checker.errors) > before:
        return None
    return Resources(
        cpu=cpu,
        memory=int(memory) if memory is not None else None,
        time=time,
        gpu=gpu,
    )


def _options(checker: FieldChecker, spec: dict[object, object]) -> tuple[str | None, str | None]:
    if "options" not in spec:
        return None, None
    options = spec["options"]
    if not checker.expect_mapping("spec.options", options) or not isinstance(options, dict):
        return None, None
    check_mapping(checker, options, "spec.options", OPTION_FIELDS)
    versions: list[str | None] = []
    for name, pattern, text in (
        ("python", PYTHON_VERSION_PATTERN, 'major.minor, e.g. "3.11"'),
        ("nixpkgs", LINE, "one line"),
    ):
        field = f"spec.options.{name}"
        option = options.get(name)
        if name not in options:
            versions.append(None)
        elif checker.expect_mapping(field, option) and isinstance(option, dict):
            check_mapping(checker, option, field, ("version",), required=("version",))
            versions.append(
                checker.string(
                    option,
                    field,
                    "version",
                    pattern=pattern,
                    pattern_text=text,
                    min_length=1,
                    max_length=MAX_VERSION,
                    number_hint='write it as a quoted string, e.g. "3.11"',
                )
            )
        else:
            versions.append(None)
    return versions[0], versions[1]


def _ios(
    checker: FieldChecker, spec: dict[object, object], which: str, fields: tuple[str, ...]
) -> tuple[IoDefinition, ...]:
    if which not in spec:
        return ()
    items = spec[which]
    path = f"spec.{which}"
    if not checker.expect_list(path, items, max_items=MAX_IOS) or not isinstance(items, list):
        return ()
    result = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items[:MAX_IOS]):
        item_path = f"{path}[{index}]"
        if not checker.expect_mapping(item_path, item) or not isinstance(item, dict):
            continue
        io = _io(checker, item, item_path, fields)
        name = item.get("name")
        if isinstance(name, str):
            if name in seen:
                checker.error(
                    f"{item_path}.name",
                    f"the name '{checker.clip(name)}' is already used by {path}[{seen[name]}]",
                )
            else:
                seen[name] = index
        if io is not None:
            result.append(io)
    return tuple(result)


def _io(
    checker: FieldChecker, item: dict[object, object], path: str, fields: tuple[str, ...]
) -> IoDefinition | None:
    before = len(checker.errors)
    check_mapping(checker, item, path, fields, required=("name", "type"))
    name = checker.string(
        item,
        path,
        "name",
        pattern=IO_NAME_PATTERN,
        pattern_text=(
            "1 to 64 characters: letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ),
    )
    human_name = checker.string(
        item, path, "human_name", max_length=MAX_HUMAN_NAME, pattern=LINE, pattern_text="one line"
    )
    help_text = checker.string(item, path, "help", max_length=MAX_HELP)
    io_type = _io_type(checker, item, path)
    optional = checker.boolean(item, path, "optional")
    enum_values = checker.string_list(
        item,
        path,
        "enum_values",
        max_items=MAX_ENUM_VALUES,
        item_min_length=1,
        item_max_length=MAX_ENUM_VALUE,
        unique=True,
    )
    if io_type is IoType.ENUM and not enum_values and "enum_values" not in item:
        checker.error(f"{path}.enum_values", "is required for the enum type")
    elif io_type is IoType.ENUM and enum_values is not None and not enum_values:
        checker.error(f"{path}.enum_values", "must list at least one value")
    elif io_type is not None and io_type is not IoType.ENUM and "enum_values" in item:
        checker.error(f"{path}.enum_values", "is only for the enum type")
    default = _default(checker, item, path, io_type, enum_values)
    if len(checker.errors) > before or name is None or io_type is None:
        return None
    return IoDefinition(
        name=name,
        human_name=human_name if human_name is not None else name,
        help=help_text or "",
        type=io_type,
        optional=bool(optional),
        enum_values=tuple(enum_values or ()),
        default_value=default,
    )


def _io_type(checker: FieldChecker, item: dict[object, object], path: str) -> IoType | None:
    value = checker.string(item, path, "type")
    if value is None:
        return None
    if value in IO_TYPE_NAMES:
        return IoType(value)
    allowed = ", ".join(IoType)
    if value in UNSUPPORTED_IO_TYPES:
        checker.error(
            f"{path}.type",
            f"the Ryax type '{value}' is not supported by Oryx: use {UNSUPPORTED_IO_TYPES[value]}",
        )
    else:
        checker.error(f"{path}.type", f"must be one of {allowed}, not '{checker.clip(value)}'")
    return None


def _default(
    checker: FieldChecker,
    item: dict[object, object],
    path: str,
    io_type: IoType | None,
    enum_values: list[str] | None,
) -> DefaultValue | None:
    if "default_value" not in item or io_type is None:
        return None
    value = item["default_value"]
    field = f"{path}.default_value"
    if io_type in (IoType.FILE, IoType.DIRECTORY):
        checker.error(field, f"a {io_type} input cannot have a default value")
        return None
    expected: dict[IoType, tuple[type, ...]] = {
        IoType.STRING: (str,),
        IoType.LONGSTRING: (str,),
        IoType.PASSWORD: (str,),
        IoType.ENUM: (str,),
        IoType.INTEGER: (int,),
        IoType.FLOAT: (int, float),
        IoType.BOOLEAN: (bool,),
    }
    is_bool = isinstance(value, bool)
    whole_float = isinstance(value, float) and value.is_integer()
    if io_type is IoType.BOOLEAN:
        matches = is_bool
    elif io_type is IoType.INTEGER:
        matches = (isinstance(value, int) and not is_bool) or whole_float
    else:
        matches = isinstance(value, expected[io_type]) and not is_bool
    if not matches:
        checker.error(
            field,
            f"must be {checker.article(io_type)} like the input, not {checker.describe(value)}",
        )
        return None
    if io_type is IoType.ENUM and enum_values and value not in enum_values:
        checker.error(field, f"'{checker.clip(str(value))}' is not one of the enum_values")
        return None
    if io_type is IoType.INTEGER and isinstance(value, float):
        return int(value)
    assert isinstance(value, str | int | float)
    return value
