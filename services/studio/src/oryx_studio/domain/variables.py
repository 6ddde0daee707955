"""Project variables: named values a workflow's inputs may take, resolved at deploy time.

A password's value is kept (encrypted at rest) and sent in deploy orders, but never shown
again once set. A file variable holds a file of the filestore.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from oryx_studio.domain.errors import InvalidValue
from oryx_studio.domain.events import Event
from oryx_studio.domain.types import FileValue, IoSpec, IoType

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_VALUE_LENGTH = 64 * 1024
MAX_DESCRIPTION_LENGTH = 2000


class VariableType(StrEnum):
    STRING = "string"
    PASSWORD = "password"
    FILE = "file"


def check_variable_name(name: str) -> str:
    if not VARIABLE_NAME.fullmatch(name):
        raise InvalidValue(
            "a variable name is 1 to 64 letters, digits, _, . or -, starting with a letter or _",
            field="name",
        )
    return name


def check_description(description: str, *, field: str = "description") -> str:
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidValue(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters", field=field
        )
    if "\x00" in description:
        raise InvalidValue("description must not contain NUL characters", field=field)
    return description


def _check_text_value(value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidValue(f"value must be at most {MAX_VALUE_LENGTH} characters", field="value")
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in value):
        raise InvalidValue("value must not contain control characters", field="value")
    return value


@dataclass(kw_only=True)
class Variable:
    id: str
    project_id: str
    name: str
    type: VariableType
    description: str
    value: str | None
    """The text of a string or password variable; None for a file variable."""
    file: FileValue | None
    created_at: datetime
    updated_at: datetime
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(
        cls,
        *,
        id: str,
        project_id: str,
        name: str,
        type: VariableType,
        description: str,
        value: str | None,
        file: FileValue | None,
        at: datetime,
    ) -> "Variable":
        variable = cls(
            id=id,
            project_id=project_id,
            name=check_variable_name(name),
            type=type,
            description=check_description(description),
            value=None,
            file=None,
            created_at=at,
            updated_at=at,
        )
        variable.set_value(value=value, file=file, at=at)
        return variable

    def set_value(self, *, value: str | None, file: FileValue | None, at: datetime) -> None:
        if self.type is VariableType.FILE:
            if value is not None:
                raise InvalidValue(
                    "a file variable takes a file (multipart upload), not a value", field="value"
                )
            if file is None:
                raise InvalidValue("a file variable needs its file", field="file")
            self.file = file
        else:
            if file is not None:
                raise InvalidValue(f"a {self.type.value} variable takes no file", field="file")
            if value is None:
                raise InvalidValue(f"a {self.type.value} variable needs a value", field="value")
            self.value = _check_text_value(value)
        self.updated_at = at

    def change(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        value: str | None = None,
        file: FileValue | None = None,
        at: datetime,
    ) -> None:
        """Change what was given; omitted fields keep their value (a password too)."""
        if name is not None:
            self.name = check_variable_name(name)
        if description is not None:
            self.description = check_description(description)
        if value is not None or file is not None:
            self.set_value(value=value, file=file, at=at)
        self.updated_at = at

    @property
    def as_output(self) -> IoSpec:
        """The variable seen as a value of a type, to check it fits an input."""
        if self.type is VariableType.FILE:
            directory = self.file is not None and self.file.directory
            return IoSpec(name=self.name, type=IoType.DIRECTORY if directory else IoType.FILE)
        kind = IoType.PASSWORD if self.type is VariableType.PASSWORD else IoType.STRING
        return IoSpec(name=self.name, type=kind)
