"""Request and response bodies of the repository API."""

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from oryx_repository.domain.actions import ActionStatus
from oryx_repository.domain.sources import (
    MAX_BRANCH_LENGTH,
    MAX_NAME_LENGTH,
    MAX_SECRET_LENGTH,
    MAX_URL_LENGTH,
    MAX_USERNAME_LENGTH,
    ScanStatus,
)


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail at the database.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH), NoNul]
Url = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH), NoNul]
Ref = Annotated[str, Field(min_length=1, max_length=MAX_BRANCH_LENGTH), NoNul]
Username = Annotated[str, Field(min_length=1, max_length=MAX_USERNAME_LENGTH), NoNul]
Secret = Annotated[str, Field(min_length=1, max_length=MAX_SECRET_LENGTH), NoNul]

T = TypeVar("T")


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match, over all pages")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


class SourceIn(Input):
    name: Name
    url: Url = Field(description="https, http, ssh or git URL of the repository")
    branch: Ref | None = Field(default=None, description="Default branch to scan (main)")
    username: Username | None = None
    password: Secret | None = Field(
        default=None, description="Password or access token; stored encrypted, never returned"
    )


class SourceUpdateIn(Input):
    name: Name | None = None
    url: Url | None = None
    branch: Ref | None = None
    username: Username | None = None
    password: Secret | None = Field(default=None, description="Omit to keep the current one")
    clear_credentials: bool = Field(default=False, description="Forget username and password")


class ScanOut(BaseModel):
    status: ScanStatus
    ref: str | None
    commit_sha: str | None
    at: datetime | None
    error: str | None
    action_count: int
    error_count: int


class SourceOut(BaseModel):
    id: str
    project_id: str
    name: str
    url: str
    branch: str
    username: str | None
    password_is_set: bool
    created_at: datetime
    updated_at: datetime
    last_scan: ScanOut | None


class ScanIn(Input):
    branch: Ref | None = Field(default=None, description="Default: the source's branch")
    commit: Ref | None = Field(default=None, description="A commit sha, instead of a branch")


class ScanErrorOut(BaseModel):
    file: str
    field: str
    reason: str


class IoOut(BaseModel):
    name: str
    human_name: str
    help: str
    type: str
    optional: bool
    enum_values: list[str]
    default_value: Any = None


class ActionOut(BaseModel):
    id: str
    project_id: str
    source_id: str
    path: str
    name: str
    version: str
    kind: str
    status: ActionStatus
    commit_sha: str
    human_name: str | None
    description: str | None
    categories: list[str]
    inputs: list[IoOut]
    outputs: list[IoOut]
    metadata: dict[str, Any] = Field(description="The metadata file as written")
    scan_errors: list[ScanErrorOut]
    has_logo: bool
    build_id: str | None
    build_error: str | None
    build_log_tail: str
    artifact_ref: str | None
    created_at: datetime
    updated_at: datetime


class ScanResultOut(BaseModel):
    source_id: str
    status: ScanStatus
    ref: str
    commit_sha: str | None
    error: str | None = Field(description="Why the repository could not be read at all")
    actions: list[ActionOut]
    errors: list[ScanErrorOut] = Field(description="Errors about the repository as a whole")


class HealthOut(BaseModel):
    status: str
    service: str
