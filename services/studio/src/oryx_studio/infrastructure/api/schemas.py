"""Request and response bodies of the studio API (the workflow document is in documents.py)."""

import math
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
    model_validator,
)

from oryx_studio.domain.library import ActionKind
from oryx_studio.domain.types import IoType
from oryx_studio.domain.variables import MAX_DESCRIPTION_LENGTH, MAX_VALUE_LENGTH, VariableType
from oryx_studio.domain.workflows import MAX_LINKS, MAX_NAME_LENGTH, MAX_RESULTS, DeploymentStatus


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL, nor JSON a lone surrogate: refuse them here.
    if value is not None:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError("must be valid Unicode text (no lone surrogates)")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


NoNul = AfterValidator(_text)
Id = Annotated[str, Field(min_length=1, max_length=64), NoNul]
StepIdStr = Annotated[str, Field(min_length=1, max_length=64), NoNul]
IoName = Annotated[str, Field(min_length=1, max_length=64), NoNul]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), NoNul]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH), NoNul]
Version = Annotated[str, Field(min_length=1, max_length=255), NoNul]
Finite = Annotated[StrictFloat, AfterValidator(_finite)]


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise ValueError("must be a string, a number, true, false or null")


JsonScalar = Annotated[
    str | bool | int | float | None,
    PlainValidator(_scalar),
    WithJsonSchema(
        {"anyOf": [{"type": t} for t in ("string", "number", "integer", "boolean", "null")]}
    ),
]
"""A static value: a string, a number, a boolean or null, kept as JSON gave it."""

T = TypeVar("T")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match, over all pages")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class HealthOut(BaseModel):
    status: str
    service: str


# shared pieces ----------------------------------------------------------------------------


class PositionIn(Input):
    x: Finite
    y: Finite


class OutputRefIn(Input):
    step_id: StepIdStr
    output: IoName


class DynamicOutputIn(Input):
    name: IoName
    type: IoType
    origin: Annotated[str, Field(max_length=16), NoNul] = Field(
        default="", description="HTTP trigger only: path, query, header or body"
    )
    optional: StrictBool = False
    enum_values: list[Annotated[str, Field(min_length=1, max_length=1024), NoNul]] = Field(
        default_factory=list, max_length=64
    )
    human_name: Annotated[str, Field(max_length=128), NoNul] = ""
    help: Annotated[str, Field(max_length=10_000), NoNul] = ""


class IoOut(BaseModel):
    name: str
    type: IoType
    human_name: str
    help: str
    optional: bool
    enum_values: list[str]
    default_value: Any = None
    has_default: bool
    origin: str = ""


class FileOut(BaseModel):
    name: str
    size_bytes: int
    directory: bool


class OutputRefOut(BaseModel):
    step_id: str
    output: str


# actions ----------------------------------------------------------------------------------


class ResourcesOut(BaseModel):
    cpu: float | None
    memory_bytes: int | None
    time_seconds: int | None
    gpu: int | None


class ActionVersionOut(BaseModel):
    id: str = Field(description="The id of this version: steps and deploy orders name it")
    action_id: str
    name: str
    version: str
    kind: ActionKind
    human_name: str
    description: str
    categories: list[str]
    type: str = Field(description="python3, or builtin for the runner's triggers")
    builtin_trigger: str = Field(description="The runner's id of a built-in trigger, else ''")
    resources: ResourcesOut
    inputs: list[IoOut]
    outputs: list[IoOut]
    dynamic_outputs: bool
    artifact_ref: str
    has_logo: bool
    source_id: str
    commit_sha: str
    published_at: datetime


class ActionOut(BaseModel):
    id: str
    name: str
    builtin: bool
    kind: ActionKind
    human_name: str
    description: str
    categories: list[str]
    has_logo: bool
    version_count: int
    latest: ActionVersionOut = Field(description="The highest version")
    created_at: datetime
    updated_at: datetime


# workflows --------------------------------------------------------------------------------


class WorkflowIn(Input):
    name: Name
    description: Description = ""
    from_workflow_id: Id | None = Field(
        default=None, description="Copy this workflow's steps, links, inputs and results"
    )


class WorkflowUpdateIn(Input):
    name: Name | None = None
    description: Description | None = None


class StepIn(Input):
    action_id: Id
    action_version: Version | None = Field(default=None, description="Default: the latest")
    after_step_id: StepIdStr | None = Field(
        default=None, description="Link the new step after this one"
    )
    name: Name | None = Field(default=None, description="Default: the action's human name")
    position: PositionIn | None = None


class StepUpdateIn(Input):
    name: Name | None = None
    position: PositionIn | None = None
    action_version: Version | None = Field(
        default=None, description="Another version of the same action"
    )
    dynamic_outputs: list[DynamicOutputIn] | None = Field(
        default=None, max_length=64, description="Triggers with dynamic outputs only"
    )


class LinkIn(Input):
    from_step_id: StepIdStr
    to_step_id: StepIdStr


LinksIn = Annotated[list[LinkIn], Field(max_length=MAX_LINKS)]


class InputIn(Input):
    """Exactly one of ``value``, ``from`` and ``variable_id``."""

    value: JsonScalar = Field(
        default=None, description="A static value of the input's type (null: optional only)"
    )
    from_: OutputRefIn | None = Field(
        default=None, alias="from", description="An upstream step's output"
    )
    variable_id: Id | None = Field(default=None, description="A project variable")

    @model_validator(mode="after")
    def _exactly_one(self) -> "InputIn":
        given = [k for k in ("value", "from_", "variable_id") if k in self.model_fields_set]
        if len(given) != 1:
            raise ValueError("give exactly one of value, from and variable_id")
        return self


class ResultIn(Input):
    key: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    from_: OutputRefIn = Field(alias="from")


ResultsIn = Annotated[list[ResultIn], Field(max_length=MAX_RESULTS)]


class EndpointIn(Input):
    path: Annotated[str, Field(min_length=1, max_length=512), NoNul] = Field(
        description="Relative to /runner/api/{project_id}/, e.g. orders/{order_id}"
    )
    method: Annotated[str, Field(min_length=1, max_length=16), NoNul] = "POST"
    success_code: StrictInt = Field(default=200, description="200 or 201")
    timeout_seconds: Finite = Field(
        default=30.0, description="How long a request waits for the result (0 to 300; 0: 202)"
    )


class EndpointOut(BaseModel):
    path: str
    method: str
    success_code: int
    timeout_seconds: float


class UndeployIn(Input):
    cancel_running: StrictBool = Field(
        default=False, description="Cancel the runs in flight instead of letting them finish"
    )


class StepInputOut(BaseModel):
    name: str
    declared: bool = Field(description="False: the action version has no such input any more")
    type: IoType | None
    human_name: str
    help: str
    optional: bool
    enum_values: list[str]
    default_value: Any = None
    has_default: bool
    source: str | None = Field(description="value, file, step_output, variable; null: unset")
    value: Any = Field(default=None, description="A static value; null for a password")
    value_is_set: bool
    file: FileOut | None = None
    from_: OutputRefOut | None = Field(default=None, serialization_alias="from")
    variable_id: str | None = None
    variable_name: str | None = None


class PositionOut(BaseModel):
    x: float
    y: float


class StepOut(BaseModel):
    id: str
    name: str
    action_id: str
    action_version_id: str
    action_name: str
    action_version: str
    kind: ActionKind
    builtin_trigger: str
    in_library: bool = Field(description="False: the action version was deleted")
    position: PositionOut | None
    parent_step_ids: list[str]
    inputs: list[StepInputOut]
    outputs: list[IoOut] = Field(description="Declared outputs, then the dynamic ones")
    dynamic_outputs: list[IoOut]


class LinkOut(BaseModel):
    from_step_id: str
    to_step_id: str


class ResultOut(BaseModel):
    key: str
    from_: OutputRefOut = Field(serialization_alias="from")


class DeploymentOut(BaseModel):
    status: DeploymentStatus
    message: str
    deployment_id: str | None
    requested_revision: int | None
    deployed_revision: int | None = Field(description="The revision the runner runs")
    differs_from_deployed: bool = Field(
        description="The workflow was edited since the deployed revision"
    )
    changed_at: datetime | None


class IssueOut(BaseModel):
    code: str
    message: str
    step_id: str | None
    field: str | None


class RemovedInputOut(BaseModel):
    step_id: str
    input: str
    reason: str


class RemovedOut(BaseModel):
    links: list[LinkOut]
    inputs: list[RemovedInputOut]
    results: list[str]
    dynamic_outputs: list[str]
    endpoint: bool


class WorkflowSummaryOut(BaseModel):
    id: str
    project_id: str
    name: str
    description: str
    revision: int
    step_count: int
    trigger: str | None = Field(description="The trigger step's action name")
    deployment: DeploymentOut
    created_at: datetime
    updated_at: datetime


class WorkflowOut(WorkflowSummaryOut):
    steps: list[StepOut]
    links: list[LinkOut]
    results: list[ResultOut]
    endpoint: EndpointOut | None
    valid: bool
    errors: list[IssueOut]
    removed: RemovedOut | None = Field(
        default=None, description="What this edit took away with it (links, inputs, results)"
    )
    step_id: str | None = Field(default=None, description="The step this request added")


class ErrorsOut(BaseModel):
    valid: bool
    errors: list[IssueOut]


# variables --------------------------------------------------------------------------------

VariableValue = Annotated[str, Field(max_length=MAX_VALUE_LENGTH), NoNul]


class VariableIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64), NoNul]
    type: VariableType
    description: Description = ""
    value: VariableValue | None = Field(
        default=None, description="string and password; a file variable is sent as multipart"
    )


class VariableUpdateIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64), NoNul] | None = None
    description: Description | None = None
    value: VariableValue | None = Field(default=None, description="Omit to keep the value")


class VariableOut(BaseModel):
    id: str
    project_id: str
    name: str
    type: VariableType
    description: str
    value: str | None = Field(description="The value of a string variable; never a password's")
    value_is_set: bool
    file: FileOut | None
    created_at: datetime
    updated_at: datetime
