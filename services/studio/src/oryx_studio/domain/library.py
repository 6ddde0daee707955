"""The action library: the actions a project may put in its workflows.

An action is named by its ``spec.id`` within a project and keeps every version published by
the repository. Publishing a version again (a rebuild) replaces its contents and keeps its id,
so workflows using it stay attached. The built-in triggers of the runner
(``docs/reference/builtin-triggers.md``) are actions too, visible in every project.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from oryx_studio.domain.errors import Conflict
from oryx_studio.domain.events import Event
from oryx_studio.domain.types import IoSpec, IoType


class ActionKind(StrEnum):
    SOURCE = "source"
    PROCESSOR = "processor"
    PUBLISHER = "publisher"

    @classmethod
    def parse(cls, value: str) -> "ActionKind":
        """Kinds as the metadata writes them too: ``Processor``, ``Trigger`` (a source)."""
        lowered = value.strip().lower()
        return cls.SOURCE if lowered == "trigger" else cls(lowered)


@dataclass(frozen=True, kw_only=True)
class Resources:
    cpu: float | None = None
    memory_bytes: int | None = None
    time_seconds: int | None = None
    gpu: int | None = None


@dataclass(frozen=True, kw_only=True)
class ActionVersion:
    """One published version: what a workflow step runs."""

    id: str
    """The studio's id of this version: what steps and deploy orders name."""
    action_id: str
    name: str
    version: str
    kind: ActionKind
    human_name: str
    description: str = ""
    categories: tuple[str, ...] = ()
    type: str = "python3"
    resources: Resources = Resources()
    inputs: tuple[IoSpec, ...] = ()
    outputs: tuple[IoSpec, ...] = ()
    dynamic_outputs: bool = False
    artifact_ref: str = ""
    builtin_trigger: str = ""
    """The runner's id of a built-in trigger (``http-api``...); empty for built actions."""
    logo: bytes = b""
    logo_media_type: str = ""
    source_id: str = ""
    repository_action_id: str = ""
    commit_sha: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    published_at: datetime

    @property
    def is_trigger(self) -> bool:
        return self.kind is ActionKind.SOURCE

    def input(self, name: str) -> IoSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> IoSpec | None:
        return next((o for o in self.outputs if o.name == name), None)


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders versions naturally: 1.9 < 1.10 < 2.0; numbers before words at each place."""
    parts = re.split(r"[.\-+_]", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


@dataclass(kw_only=True)
class Action:
    id: str
    project_id: str
    """``BUILTIN_PROJECT`` for the built-in triggers."""
    name: str
    builtin: bool
    versions: list[ActionVersion]
    created_at: datetime
    updated_at: datetime
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @property
    def latest(self) -> ActionVersion:
        return max(self.versions, key=lambda v: (version_key(v.version), v.published_at))

    def version(self, version: str) -> ActionVersion | None:
        return next((v for v in self.versions if v.version == version), None)

    def version_by_id(self, version_id: str) -> ActionVersion | None:
        return next((v for v in self.versions if v.id == version_id), None)

    def publish(self, published: ActionVersion, *, at: datetime) -> ActionVersion:
        """Add a version, or replace the one of the same version string (keeping its id)."""
        kept = self.version(published.version)
        if kept is not None:
            published = replace(published, id=kept.id, action_id=self.id)
            self.versions = [published if v.id == kept.id else v for v in self.versions]
        else:
            published = replace(published, action_id=self.id)
            self.versions.append(published)
        self.updated_at = at
        return published

    def check_deletable(self) -> None:
        if self.builtin:
            raise Conflict(
                f"{self.name} is a built-in trigger of the runner; it cannot be deleted",
                field="action_id",
                code="builtin_action",
            )


# The built-in triggers ----------------------------------------------------------------------

BUILTIN_PROJECT = ""
"""Project id of the built-in actions: every project sees them."""
BUILTIN_CATEGORY = "Triggers"
BUILTIN_TYPE = "builtin"
BUILTIN_PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=UTC)
HTTP_API = "http-api"
CRON = "cron"
EMIT_EVERY = "emit-every"
ONE_RUN = "one-run"
MANUAL = "manual"
ORIGINS = ("path", "query", "header", "body")
"""Where an output of the HTTP trigger comes from."""

_FIRED_AT = IoSpec(
    name="fired_at", type=IoType.STRING, human_name="Fired at", help="When it fired, RFC 3339"
)

_BUILTINS: tuple[tuple[str, str, str, tuple[IoSpec, ...], tuple[IoSpec, ...], bool], ...] = (
    (
        HTTP_API,
        "HTTP API",
        "Runs the workflow on each request to its endpoint; the workflow defines the outputs "
        "(from the path, the query, the headers or the body).",
        (),
        (),
        True,
    ),
    (
        CRON,
        "Cron schedule",
        "Runs the workflow on a cron schedule.",
        (
            IoSpec(
                name="cron",
                type=IoType.STRING,
                human_name="Cron expression",
                help="5 fields, e.g. */5 * * * *",
            ),
            IoSpec(
                name="timezone",
                type=IoType.STRING,
                human_name="Time zone",
                help="An IANA name, e.g. Europe/Paris",
                optional=True,
                default="UTC",
                has_default=True,
            ),
        ),
        (_FIRED_AT,),
        False,
    ),
    (
        EMIT_EVERY,
        "Emit every N seconds",
        "Runs the workflow every N seconds.",
        (
            IoSpec(
                name="seconds",
                type=IoType.INTEGER,
                human_name="Seconds",
                help="The period, at least 1",
            ),
        ),
        (_FIRED_AT,),
        False,
    ),
    (
        ONE_RUN,
        "Run once on deploy",
        "Runs the workflow once, when it is deployed.",
        (),
        (_FIRED_AT,),
        False,
    ),
    (
        MANUAL,
        "Manual run",
        "Runs the workflow when a person starts it, with the values the workflow defines.",
        (),
        (),
        True,
    ),
)


def builtin_action_id(trigger: str) -> str:
    return f"builtin-{trigger}"


def builtin_actions() -> list[Action]:
    """The runner's built-in triggers as library actions, with stable ids."""
    actions = []
    for trigger, human, description, inputs, outputs, dynamic in _BUILTINS:
        action_id = builtin_action_id(trigger)
        version = ActionVersion(
            id=f"{action_id}-1.0",
            action_id=action_id,
            name=trigger,
            version="1.0",
            kind=ActionKind.SOURCE,
            human_name=human,
            description=description,
            categories=(BUILTIN_CATEGORY,),
            type=BUILTIN_TYPE,
            inputs=inputs,
            outputs=outputs,
            dynamic_outputs=dynamic,
            builtin_trigger=trigger,
            published_at=BUILTIN_PUBLISHED_AT,
        )
        actions.append(
            Action(
                id=action_id,
                project_id=BUILTIN_PROJECT,
                name=trigger,
                builtin=True,
                versions=[version],
                created_at=BUILTIN_PUBLISHED_AT,
                updated_at=BUILTIN_PUBLISHED_AT,
            )
        )
    return actions
