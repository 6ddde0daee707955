"""A build: one action version to turn into a runnable artifact, and the rules of its life.

A build is QUEUED when the builder takes its request, RUNNING once started, and ends
SUCCEEDED, FAILED or CANCELLED. A cancel of a queued build ends it at once (it is reported when
its turn comes, without building); a cancel of a running build asks for its work to stop, and
whatever the work then returns, the build ends CANCELLED: the user's intent wins over a race.

The ``BuildQueue`` holds the one rule of the service as a whole: one build at a time. It also
remembers cancels of builds it has not taken yet (their requests still wait in the broker), so
that such a build is cancelled when its request arrives, even when that is a redelivery.
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from oryx_action_builder.domain.events import BuildFinished, BuildStarted, Event
from oryx_action_builder.domain.status import BuildStatus

DEFAULT_REMEMBERED_CANCELS = 10_000


class InvalidTransition(Exception):
    def __init__(self, build_id: str, status: BuildStatus, action: str) -> None:
        super().__init__(f"build {build_id} is {status.value}: it cannot {action}")
        self.build_id = build_id
        self.status = status


class BuilderBusy(Exception):
    def __init__(self, running: str, requested: str) -> None:
        super().__init__(f"build {running} is running: build {requested} must wait its turn")
        self.running = running
        self.requested = requested


@dataclass(frozen=True, kw_only=True)
class BuildRequest:
    """One action version to build, as the repository asked for it."""

    build_id: str
    action_id: str
    project_id: str
    action_name: str
    version: str
    source_archive_key: str
    source_sha256: str
    """The sha256 of the source archive, lowercase hex: the content address of the sources."""
    python_version: str = ""
    """``spec.options.python.version``; empty for the builder's default."""
    system_dependencies: tuple[str, ...] = ()
    kind: str = ""


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    """What a builder reports. ``reused``: the artifact was already there (content address)."""

    status: BuildStatus
    artifact_ref: str = ""
    log_tail: str = ""
    error: str = ""
    lock: str = ""
    reused: bool = False

    def __post_init__(self) -> None:
        if not self.status.is_final:
            raise ValueError(f"a build result is final, not {self.status.value}")
        if self.status is BuildStatus.SUCCEEDED and not self.artifact_ref:
            raise ValueError("a successful build has an artifact reference")
        if self.status is BuildStatus.FAILED and not self.error:
            raise ValueError("a failed build says why")

    @classmethod
    def succeeded(
        cls, *, artifact_ref: str, lock: str = "", log_tail: str = "", reused: bool = False
    ) -> "BuildResult":
        return cls(
            status=BuildStatus.SUCCEEDED,
            artifact_ref=artifact_ref,
            lock=lock,
            log_tail=log_tail,
            reused=reused,
        )

    @classmethod
    def failed(cls, *, error: str, log_tail: str = "") -> "BuildResult":
        return cls(status=BuildStatus.FAILED, error=error, log_tail=log_tail)

    @classmethod
    def cancelled(cls, *, log_tail: str = "") -> "BuildResult":
        return cls(status=BuildStatus.CANCELLED, log_tail=log_tail)


@dataclass(kw_only=True)
class Build:
    request: BuildRequest
    status: BuildStatus = BuildStatus.QUEUED
    stop_requested: bool = False
    """Set when a cancel arrives while the build runs: its work must be stopped."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: BuildResult | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def build_id(self) -> str:
        return self.request.build_id

    def start(self, *, at: datetime) -> None:
        if self.status is not BuildStatus.QUEUED:
            raise InvalidTransition(self.build_id, self.status, "start")
        self.status = BuildStatus.RUNNING
        self.started_at = at
        self.events.append(
            BuildStarted(build_id=self.build_id, action_id=self.request.action_id, started_at=at)
        )

    def cancel(self, *, at: datetime) -> bool:
        """Cancel the build; return True when it runs and its work must be stopped.

        A finished build ignores the cancel (it came too late); a queued one ends now.
        """
        if self.status.is_final:
            return False
        if self.status is BuildStatus.QUEUED:
            self._end(BuildResult.cancelled(), at=at)
            return False
        first = not self.stop_requested
        self.stop_requested = True
        return first

    def finish(self, *, result: BuildResult, at: datetime) -> None:
        if self.status is not BuildStatus.RUNNING:
            raise InvalidTransition(self.build_id, self.status, "finish")
        if self.stop_requested and result.status is not BuildStatus.CANCELLED:
            # The work ended before the stop reached it (or failed because of it): still
            # cancelled, as asked. A finished artifact stays built for the next request.
            result = BuildResult.cancelled(log_tail=result.log_tail)
        self._end(result, at=at)

    def _end(self, result: BuildResult, *, at: datetime) -> None:
        self.status = result.status
        self.result = result
        self.finished_at = at
        self.events.append(
            BuildFinished(
                build_id=self.build_id,
                action_id=self.request.action_id,
                status=result.status,
                artifact_ref=result.artifact_ref,
                log_tail=result.log_tail,
                error=result.error,
                lock=result.lock,
                finished_at=at,
            )
        )


@dataclass(kw_only=True)
class BuildQueue:
    """The builder's work: at most one running build, and the cancels not applied yet."""

    remember_cancels: int = DEFAULT_REMEMBERED_CANCELS
    current: Build | None = None
    _cancelled: "OrderedDict[str, datetime]" = field(
        default_factory=OrderedDict, init=False, repr=False
    )

    def take(self, request: BuildRequest, *, at: datetime) -> Build:
        """Make ``request`` the current build: queued, or already cancelled if asked before."""
        if self.current is not None:
            raise BuilderBusy(self.current.build_id, request.build_id)
        build = Build(request=request)
        if request.build_id in self._cancelled:
            build.cancel(at=at)
        self.current = build
        return build

    def cancel(self, build_id: str, *, at: datetime) -> bool:
        """Record a cancel; return True when the running build must be stopped.

        The cancel is remembered (up to ``remember_cancels`` of them, oldest forgotten first),
        so a request for that build taken later, a redelivery included, ends cancelled.
        """
        self._cancelled[build_id] = at
        self._cancelled.move_to_end(build_id)
        while len(self._cancelled) > self.remember_cancels:
            self._cancelled.popitem(last=False)
        if self.current is not None and self.current.build_id == build_id:
            return self.current.cancel(at=at)
        return False

    def is_cancelled(self, build_id: str) -> bool:
        return build_id in self._cancelled

    def release(self, build: Build) -> None:
        """The current build's turn is over (reported, or abandoned to be redelivered)."""
        if self.current is build:
            self.current = None
