"""The workflow document at the edge: its schema (pydantic, published as JSON Schema), YAML
read safely, zips read and written, and translation to the use cases' ``WorkflowDocument``.

The JSON Schema in ``docs/reference/workflow.schema.json`` is ``document_schema()``; a test
keeps the two equal.
"""

import io
import zipfile
from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

import yaml
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, model_validator
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from oryx_studio.application.documents import (
    API_VERSION,
    DOCUMENT_FILE,
    KIND,
    DocFile,
    DocInput,
    DocStep,
    DocVariable,
    WorkflowDocument,
)
from oryx_studio.domain.errors import InvalidValue
from oryx_studio.domain.graph import Endpoint, Link, Position, Result, StaticInput, StepOutput
from oryx_studio.domain.types import IoSpec
from oryx_studio.domain.workflows import MAX_LINKS, MAX_RESULTS, MAX_STEPS
from oryx_studio.infrastructure.api.schemas import (
    Description,
    DynamicOutputIn,
    Finite,
    IoName,
    JsonScalar,
    Name,
    NoNul,
    OutputRefIn,
    StepIdStr,
)

SCHEMA_ID = "https://oryx.dev/schemas/workflow.schema.json"
MAX_ZIP_ENTRIES = 1000
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

Text = Annotated[str, Field(min_length=1, max_length=255), NoNul]


class Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DocInputIn(Doc):
    """Exactly one of ``value``, ``from``, ``variable`` and ``file``."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    value: JsonScalar = Field(default=None, description="A static value of the input's type")
    from_: OutputRefIn | None = Field(
        default=None, alias="from", description="An upstream step's output"
    )
    variable: Annotated[str, Field(min_length=1, max_length=64), NoNul] | None = Field(
        default=None, description="A project variable, by name"
    )
    file: Annotated[str, Field(min_length=1, max_length=1024), NoNul] | None = Field(
        default=None, description="A static file: its path in the zip, files/<step>/<input>/<name>"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> "DocInputIn":
        given = [k for k in ("value", "from_", "variable", "file") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of value, from, variable and file")
        return self


class DocPositionIn(Doc):
    x: Finite
    y: Finite


class DocStepIn(Doc):
    id: StepIdStr = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Unique in the workflow"
    )
    name: Name
    action: Text = Field(description="The action's id (spec.id of its metadata)")
    version: Text = Field(description="The action's version")
    builtin: StrictBool = Field(default=False, description="A built-in trigger of the runner")
    position: DocPositionIn | None = None
    inputs: dict[IoName, DocInputIn] = Field(default_factory=dict, max_length=64)
    dynamic_outputs: list[DynamicOutputIn] = Field(default_factory=list, max_length=64)


class DocLinkIn(Doc):
    from_step_id: StepIdStr
    to_step_id: StepIdStr


class DocResultIn(Doc):
    key: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    from_: OutputRefIn = Field(alias="from")


class DocEndpointIn(Doc):
    path: Annotated[str, Field(min_length=1, max_length=512), NoNul]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    success_code: Literal[200, 201] = 200
    timeout_seconds: Annotated[float, Field(ge=0, le=300)] = 30.0


class DocSpecIn(Doc):
    steps: list[DocStepIn] = Field(default_factory=list, max_length=MAX_STEPS)
    links: list[DocLinkIn] = Field(default_factory=list, max_length=MAX_LINKS)
    results: list[DocResultIn] = Field(default_factory=list, max_length=MAX_RESULTS)
    endpoint: DocEndpointIn | None = None


class DocMetadataIn(Doc):
    name: Name
    description: Description = ""


class WorkflowDocumentIn(Doc):
    """An Oryx workflow: one trigger, then steps linked into a DAG."""

    model_config = ConfigDict(title="Oryx workflow")

    apiVersion: Literal["oryx.dev/v1"]
    kind: Literal["Workflow"]
    metadata: DocMetadataIn
    spec: DocSpecIn


def document_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow document."""
    schema = WorkflowDocumentIn.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


# parsing ------------------------------------------------------------------------------------


def _invalid(error: ValidationError, prefix: tuple[str | int, ...] = ("body",)) -> Exception:
    errors = [{**e, "loc": prefix + tuple(e["loc"])} for e in error.errors()]
    return RequestValidationError(errors)


def parse_model(model: type[BaseModel], data: Any) -> Any:
    """``data`` validated as ``model``; a 422 naming the field otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _field(prefix: str, exc: InvalidValue) -> InvalidValue:
    return InvalidValue(exc.message, field=f"{prefix}.{exc.field}" if exc.field else prefix)


def _input(source: DocInputIn) -> DocInput:
    if source.from_ is not None:
        return StepOutput(step_id=source.from_.step_id, output=source.from_.output)
    if source.variable is not None:
        return DocVariable(name=source.variable)
    if source.file is not None:
        return DocFile(path=source.file)
    return StaticInput(value=source.value)


def dynamic_output(out: DynamicOutputIn) -> IoSpec:
    return IoSpec(
        name=out.name,
        type=out.type,
        human_name=out.human_name,
        help=out.help,
        optional=out.optional,
        enum_values=tuple(out.enum_values),
        origin=out.origin,
    )


def to_workflow_document(doc: WorkflowDocumentIn) -> WorkflowDocument:
    endpoint = None
    if doc.spec.endpoint is not None:
        e = doc.spec.endpoint
        try:
            endpoint = Endpoint.make(
                path=e.path,
                method=e.method,
                success_code=e.success_code,
                timeout_seconds=e.timeout_seconds,
            )
        except InvalidValue as exc:
            raise _field("spec.endpoint", exc) from None
    return WorkflowDocument(
        name=doc.metadata.name,
        description=doc.metadata.description,
        steps=tuple(
            DocStep(
                id=step.id,
                name=step.name,
                action=step.action,
                version=step.version,
                builtin=step.builtin,
                inputs={name: _input(source) for name, source in step.inputs.items()},
                dynamic_outputs=tuple(dynamic_output(o) for o in step.dynamic_outputs),
                position=Position(x=step.position.x, y=step.position.y) if step.position else None,
            )
            for step in doc.spec.steps
        ),
        links=tuple(
            Link(from_step_id=k.from_step_id, to_step_id=k.to_step_id) for k in doc.spec.links
        ),
        results=tuple(
            Result(key=r.key, source=StepOutput(step_id=r.from_.step_id, output=r.from_.output))
            for r in doc.spec.results
        ),
        endpoint=endpoint,
    )


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases (no billion laughs) and a key written twice."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = cast(Any, self).peek_event()
            raise yaml.MarkedYAMLError(
                problem="aliases (*name) are not allowed in a workflow document",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def _mapping(loader: _StrictLoader, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:
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


def load_yaml(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidValue("the document is not UTF-8 text", field="body") from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = ", ".join(p for p in (error.context, error.problem) if p) or "invalid syntax"
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise InvalidValue(
            f"the document is not valid YAML: {problem}{where}", field="body"
        ) from None
    except (yaml.YAMLError, RecursionError):
        raise InvalidValue("the document is not valid YAML", field="body") from None


def parse_document(data: Any) -> WorkflowDocument:
    """A parsed YAML or JSON document as the use cases take it; 422 naming the field."""
    if not isinstance(data, dict):
        raise InvalidValue(
            f"a workflow document is a mapping with apiVersion: {API_VERSION}, kind: {KIND}, "
            "metadata and spec",
            field="body",
        )
    try:
        model = WorkflowDocumentIn.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, ()) from None
    return to_workflow_document(model)


def read_upload(data: bytes, *, max_bytes: int) -> tuple[WorkflowDocument, dict[str, bytes]]:
    """An import: a YAML document, or a zip holding ``workflow.yaml`` and ``files/...``."""
    if not data.startswith(ZIP_MAGIC):
        return parse_document(load_yaml(data)), {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [e for e in archive.infolist() if not e.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise InvalidValue("the zip cannot be read", field="body") from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InvalidValue(f"the zip holds more than {MAX_ZIP_ENTRIES} files", field="body")
    files: dict[str, bytes] = {}
    document: bytes | None = None
    total = 0
    for entry in entries:
        name = entry.filename
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or "" in parts:
            raise InvalidValue(f"the zip holds an unsafe path: {name[:200]!r}", field="body")
        if name != DOCUMENT_FILE and parts[0] != "files":
            raise InvalidValue(
                f"the zip holds {name[:200]!r}: only {DOCUMENT_FILE} and files/... are read",
                field="body",
            )
        try:
            with archive.open(entry) as handle:
                content = handle.read(max_bytes - total + 1)  # never trust the declared size
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            raise InvalidValue(f"{name[:200]!r} in the zip cannot be read", field="body") from None
        total += len(content)
        if total > max_bytes:
            raise InvalidValue(f"the zip unpacks to more than {max_bytes} bytes", field="body")
        if name == DOCUMENT_FILE:
            document = content
        else:
            files[name] = content
    if document is None:
        raise InvalidValue(f"the zip has no {DOCUMENT_FILE}", field="body")
    return parse_document(load_yaml(document)), files


def dump_yaml(document: Mapping[str, Any]) -> bytes:
    text = yaml.safe_dump(dict(document), sort_keys=False, allow_unicode=True, width=100)
    return text.encode()


def write_zip(document: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """A deterministic zip: the document, then the files in path order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in [(DOCUMENT_FILE, dump_yaml(document)), *sorted(files.items())]:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()
