"""Request and response bodies of the runner API (pydantic stops here)."""

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

T = TypeVar("T")


def _no_nul(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)


class HealthOut(BaseModel):
    status: str
    service: str


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


# deployments ---------------------------------------------------------------------------------


class DeployedStepOut(BaseModel):
    step_id: str
    name: str
    action_id: str
    action_name: str
    action_version: str
    kind: str
    builtin_trigger: str
    artifact_ref: str
    parents: list[str]


class DeploymentOut(BaseModel):
    workflow_id: str
    project_id: str
    deployment_id: str
    revision: int
    status: str = Field(description="deploying, deployed, undeploying, undeployed or error")
    message: str = Field(description="Why, for an error; a note otherwise")
    sequence: int
    changed_at: datetime
    name: str
    trigger: str = Field(description="The built-in trigger's id, or `source`")
    steps: list[DeployedStepOut]
    result_keys: list[str]


# runs ----------------------------------------------------------------------------------------


class RunInputsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="The typed values the workflow's trigger defines, by name (files: multipart)",
    )


class RunErrorOut(BaseModel):
    kind: str
    message: str
    code: int | None = None
    step_id: str = ""
    step_run_id: str = ""


class StepErrorOut(BaseModel):
    kind: str
    message: str
    type: str = ""
    code: int | None = None
    traceback: str = ""


class LinksOut(BaseModel):
    self: str
    result: str | None = None
    events: str | None = None
    logs: str | None = None


class RunOut(BaseModel):
    id: str
    project_id: str
    workflow_id: str
    workflow_name: str
    deployment_id: str
    revision: int
    trigger: str
    status: str = Field(description="running, succeeded, failed or canceled")
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float | None
    error: RunErrorOut | None
    result: dict[str, Any] | None = Field(description="The configured results, once succeeded")
    requested_by: str
    links: LinksOut


class StepRunOut(BaseModel):
    id: str
    step_id: str
    name: str
    action_name: str
    action_version: str
    is_trigger: bool
    status: str = Field(description="ready, running, succeeded, failed or canceled")
    branch: dict[str, int] = Field(
        description="For each upstream step that fanned out: the index of the output set "
        "this branch follows"
    )
    inputs: dict[str, Any]
    outputs: list[dict[str, Any]] | None = Field(
        description="One set of values per branch it opened (a list of dicts fans out)"
    )
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    attempts: int
    retries: int
    error: StepErrorOut | None
    links: LinksOut


class RunDetailOut(RunOut):
    steps: list[StepRunOut]


class LogLineOut(BaseModel):
    attempt: int
    time: datetime
    stream: str = Field(description="stdout, stderr, logging or wrapper")
    text: str
    level: str = ""


class LogsOut(BaseModel):
    step_run_id: str
    lines: list[LogLineOut]
    truncated: bool


class ResultOut(BaseModel):
    run_id: str
    status: str
    result: dict[str, Any] | None = None


class ResultPendingOut(BaseModel):
    run_id: str
    status: str
    result_link: str


# user APIs -----------------------------------------------------------------------------------


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=255,
        description="What the key is for, e.g. the client that uses it",
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart")
    created_by: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Within a minute; null if never used")


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The key itself, shown this once: callers send it in `X-API-Key`")


class ApiSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    require_api_key: bool = Field(
        description="Whether calls to the project's endpoints must send one of its API keys"
    )


class ApiSettingsOut(BaseModel):
    project_id: str
    require_api_key: bool
    changed_at: datetime | None = Field(description="null while never changed")


class ApiAcceptedOut(BaseModel):
    workflow_run_id: str
    result_link: str = Field(description="GET it for the result: 200 when done, 202 until then")
