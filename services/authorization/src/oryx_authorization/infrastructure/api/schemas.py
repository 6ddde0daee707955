"""Request and response bodies. They stop here: use cases get plain values."""

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from oryx_authorization.domain.permissions import Role
from oryx_authorization.domain.projects import MAX_DESCRIPTION_LENGTH, MAX_PROJECT_NAME_LENGTH
from oryx_authorization.domain.tokens import MAX_PERSONAL_TOKEN_DAYS, MAX_TOKEN_NAME_LENGTH
from oryx_authorization.domain.users import MAX_FULL_NAME_LENGTH, MAX_PASSWORD_LENGTH


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail at the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
# Passwords may be long on the wire; the domain says how long they may really be.
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH * 4), NoNul]
Username = Annotated[str, Field(min_length=1, max_length=128), NoNul]
FullName = Annotated[str, Field(max_length=MAX_FULL_NAME_LENGTH), NoNul]
ProjectName = Annotated[str, Field(min_length=1, max_length=MAX_PROJECT_NAME_LENGTH), NoNul]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH), NoNul]
TokenName = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_NAME_LENGTH), NoNul]
Id = Annotated[str, Field(min_length=1, max_length=64), NoNul]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match, over all pages")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end"
    )


# login ---------------------------------------------------------------------------------------


class LoginIn(Input):
    username: Username
    password: Password


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


# users ---------------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: str
    username: str
    role: Role
    email: str | None
    full_name: str
    current_project_id: str | None
    created_at: datetime
    updated_at: datetime


class UserCreateIn(Input):
    username: Username
    password: Password
    role: Role = Field(default=Role.USER, description="Platform role: admin, developer or user")
    email: EmailStr | None = None
    full_name: FullName = ""


class UserUpdateIn(Input):
    role: Role | None = None
    email: EmailStr | None = None
    full_name: FullName | None = None
    password: Password | None = Field(
        default=None, description="A new password; ends every session of that user"
    )


class MeUpdateIn(Input):
    email: EmailStr | None = None
    full_name: FullName | None = None
    current_password: Password | None = None
    new_password: Password | None = Field(
        default=None, description="Needs current_password; ends every session, log in again"
    )


# projects ------------------------------------------------------------------------------------


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    member_count: int
    my_role: Role | None = Field(description="The caller's role in the project, if a member")


class ProjectCreateIn(Input):
    name: ProjectName
    description: Description = ""


class ProjectUpdateIn(Input):
    name: ProjectName | None = None
    description: Description | None = None


class MemberOut(BaseModel):
    user_id: str
    username: str | None
    role: Role
    added_at: datetime


class MemberAddIn(Input):
    user_id: Id
    role: Role = Role.USER


class MemberUpdateIn(Input):
    role: Role


# tokens --------------------------------------------------------------------------------------


class PersonalTokenOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    active: bool


class PersonalTokenCreatedOut(PersonalTokenOut):
    token: str = Field(description="The token itself: shown once, store it now")


class PersonalTokenCreateIn(Input):
    name: TokenName
    # strict: JSON `true` or `"30"` is a client bug, not a number of days
    expires_in_days: int = Field(default=90, ge=1, le=MAX_PERSONAL_TOKEN_DAYS, strict=True)


# authorize -----------------------------------------------------------------------------------


class AuthorizeOut(BaseModel):
    user_id: str
    username: str
    role: Role
    project_id: str | None
    project_role: Role | None
    permission: str | None
    allowed: bool


class HealthOut(BaseModel):
    status: str
    service: str
