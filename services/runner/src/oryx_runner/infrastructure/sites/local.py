"""The local site: each action replica is a wrapper process on this machine.

An artifact ``local:<digest>`` is the folder ``<artifacts_dir>/<digest>/`` made by the local
builder (``venv/`` and ``action/``). A replica runs

    <digest>/venv/bin/python -m oryx_wrapper --action-dir <digest>/action --port <free port>

on 127.0.0.1, under a watchdog (``watchdog.py``), and is reached over gRPC.

- **Health.** A replica serves once the gRPC health check says SERVING; an action whose code
  cannot load is refused with the wrapper's reason. Replicas are checked every few seconds; one
  that stops answering is replaced.
- **Restarts.** A replica that dies is replaced at once when its action is deployed or has
  work waiting (with a growing delay when it keeps dying early).
- **Scaling.** Executions take a free replica (one execution per replica at a time, as many
  as the wrapper's workers); when none is free, another replica is started, up to
  ``max_replicas``; extra replicas idle for ``scale_down_seconds`` are stopped.
- **Retention.** A version idle for ``idle_seconds`` (default 300) is stopped entirely; the
  next execution starts it again.
- **Cap.** At most ``max_versions`` versions have processes at once; a new one takes the
  place of the least recently used idle one, else waits (a transient failure).
- **Limits.** The time limit is the wrapper's (``resources.time``); the site adds a gRPC
  deadline of the limit plus ``timeout_margin_seconds`` and kills a replica past it. Memory:
  ``RLIMIT_AS`` of ``resources.memory`` plus ``memory_headroom_bytes`` (the wrapper and gRPC
  reserve address space they never use), applied to the wrapper and its workers.
- **Crashes of the runner.** Replicas run in sessions of their own: a runner killed by
  SIGKILL leaves them running, their lease files unlocked. A runner starting on the same
  state folder adopts them (it reads which execution ids each received from its dispatch log),
  so an execution interrupted by the crash is answered from the wrapper's memory when it is
  sent again. Replicas nobody adopts stop after ``orphan_grace_seconds``. On a normal stop
  every replica is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oryx_runner.application.ports import (
    ActionUnavailable,
    ActionVersion,
    ExecutionOutcome,
    ExecutionRequest,
    ExecutionTimedOut,
    SiteUnavailable,
    UploadResult,
)
from oryx_runner.application.triggers_sources import SourceEvent, SourceRequest
from oryx_runner.infrastructure.messaging.generated.action_wrapper.v1 import wrapper_pb2 as pb
from oryx_runner.infrastructure.messaging.generated.action_wrapper.v1 import (
    wrapper_pb2_grpc as pb_grpc,
)
from oryx_runner.infrastructure.sites.wrapper_codec import (
    outcome_from_pb,
    request_to_pb,
    source_event_from_pb,
    source_request_to_pb,
    uploads_from_pb,
)

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
_DISPATCH_MEMORY = 20_000
"""Execution ids remembered per site for routing a retry to the replica that had it."""


@dataclass(frozen=True, kw_only=True)
class LocalSiteSettings:
    artifacts_dir: Path
    state_dir: Path
    """Lease, dispatch log and output of each replica (adopted after a crash from here)."""
    max_replicas: int = 4
    max_versions: int = 16
    idle_seconds: float = 300.0
    scale_down_seconds: float = 60.0
    startup_timeout: float = 120.0
    orphan_grace_seconds: float = 60.0
    health_seconds: float = 5.0
    memory_limits: bool = True
    """Apply RLIMIT_AS from resources.memory (plus the headroom)."""
    memory_headroom_bytes: int = 1024**3
    timeout_margin_seconds: float = 30.0
    workers: int = 1
    watchdog_python: str = sys.executable


def parse_artifact(ref: str) -> str:
    """The digest of ``local:<digest>``; ``ActionUnavailable`` for anything else."""
    scheme, _, digest = ref.partition(":")
    if scheme != "local" or not digest or "/" in digest or digest in (".", ".."):
        raise ActionUnavailable(f"the local site runs local:<digest> artifacts, not {ref!r}")
    return digest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(eq=False, kw_only=True)
class _Replica:
    id: str
    version: _Version
    port: int
    watchdog_pid: int
    wrapper_pid: int
    capacity: int
    lease_fd: int
    dispatch_fd: int
    process: asyncio.subprocess.Process | None = None
    """None for a replica adopted from a runner that died (not our child)."""
    channel: grpc.aio.Channel | None = None
    stub: pb_grpc.ActionWrapperStub | None = None
    health: health_pb2_grpc.HealthStub | None = None
    busy: int = 0
    ready: bool = False
    alive: bool = True
    stopping: bool = False
    started_at: float = field(default_factory=time.monotonic)
    idle_since: float = field(default_factory=time.monotonic)
    health_failures: int = 0
    gone: asyncio.Event = field(default_factory=asyncio.Event)

    def connect(self) -> None:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}", options=_CHANNEL_OPTIONS)
        self.stub = pb_grpc.ActionWrapperStub(self.channel)  # type: ignore[no-untyped-call]
        self.health = health_pb2_grpc.HealthStub(self.channel)

    @property
    def free(self) -> bool:
        return self.alive and self.ready and not self.stopping and self.busy < self.capacity


@dataclass(eq=False, kw_only=True)
class _Version:
    artifact_ref: str
    digest: str
    python: Path
    action_dir: Path
    memory_bytes: int | None = None
    replicas: list[_Replica] = field(default_factory=list)
    starting: int = 0
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    wanted: bool = False
    min_replicas: int = 0
    last_used: float = field(default_factory=time.monotonic)
    crashes: int = 0
    next_start: float = 0.0
    load_error: str | None = None

    @property
    def live(self) -> list[_Replica]:
        return [r for r in self.replicas if r.alive and not r.stopping]

    @property
    def running(self) -> bool:
        return bool(self.live) or self.starting > 0

    @property
    def busy(self) -> bool:
        return bool(self.waiters) or any(r.busy for r in self.replicas)

    def wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def fail_waiters(self, exc: Exception) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_exception(exc)


class LocalSite:
    """Implements the ``Site`` port with wrapper processes on this machine."""

    def __init__(self, settings: LocalSiteSettings) -> None:
        self.settings = settings
        self._versions: dict[str, _Version] = {}
        self._replicas: dict[str, _Replica] = {}
        self._dispatched: OrderedDict[str, _Replica] = OrderedDict()
        self._in_flight: dict[str, asyncio.Future[ExecutionOutcome]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._closing = False
        self._lock = asyncio.Lock()
        self.started_replicas = 0
        self.adopted_replicas = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        await self._adopt_orphans()
        self._keeper = asyncio.create_task(self._keep(), name="local site keeper")

    async def close(self) -> None:
        self._closing = True
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        for version in self._versions.values():
            version.fail_waiters(SiteUnavailable("the runner is stopping"))
        await asyncio.gather(
            *(self._stop(r) for r in list(self._replicas.values())), return_exceptions=True
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the Site port --------------------------------------------------------------------

    async def deploy(self, action: ActionVersion) -> None:
        version = self._version(action)
        version.wanted = True
        version.min_replicas = max(version.min_replicas, 1)
        version.last_used = time.monotonic()
        if version.live:
            return
        if not self._room_for(version):
            return  # deployed, but started on first use: the cap is reached
        await self._start_replica(version)
        version.wake_one()

    async def undeploy(self, artifact_ref: str) -> None:
        version = self._versions.get(artifact_ref)
        if version is None:
            return
        version.wanted = False
        version.min_replicas = 0
        if not version.busy:
            await asyncio.gather(*(self._stop(r) for r in version.live), return_exceptions=True)

    async def scale(self, artifact_ref: str, *, replicas: int) -> None:
        version = self._versions.get(artifact_ref)
        if version is None:
            raise ActionUnavailable(f"{artifact_ref} is not deployed on this site")
        version.min_replicas = max(0, min(replicas, self.settings.max_replicas))
        while len(version.live) + version.starting < version.min_replicas:
            await self._start_replica(version)

    async def execute(self, action: ActionVersion, request: ExecutionRequest) -> ExecutionOutcome:
        key = request.execution_id
        running = self._in_flight.get(key) if key else None
        if running is not None:
            # The same execution asked again while the first call still waits or runs (its
            # step run was handed back and taken again): share the first call's answer.
            outcome = await asyncio.shield(running)
            return dataclasses.replace(outcome, replayed=True)
        if not key:
            return await self._execute(action, request)
        task = asyncio.ensure_future(self._execute(action, request))
        self._in_flight[key] = task
        task.add_done_callback(lambda _t: self._in_flight.pop(key, None))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                task.cancel()  # the caller no longer wants it: stop the execution
            raise

    async def _execute(self, action: ActionVersion, request: ExecutionRequest) -> ExecutionOutcome:
        version = self._version(action)
        version.last_used = time.monotonic()
        replica = self._dispatched.get(request.execution_id)
        if replica is not None and replica.alive and replica.ready and not replica.stopping:
            replica.busy += 1  # the answer is there, or on its way: no need for a free one
        else:
            replica = await self._acquire(version)
        assert replica.stub is not None
        try:
            self._record_dispatch(replica, request.execution_id)
            deadline = None
            if request.timeout_seconds > 0:
                deadline = request.timeout_seconds + self.settings.timeout_margin_seconds
            try:
                response = await replica.stub.Execute(request_to_pb(request), timeout=deadline)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    await self._abort(replica)
                    raise ExecutionTimedOut(
                        f"no answer within {deadline:g} s (the time limit and a margin); "
                        "the action's process was stopped"
                    ) from None
                if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                    raise ActionUnavailable(
                        f"the action refused the execution: {exc.details()}"
                    ) from None
                raise SiteUnavailable(
                    f"the action's process did not answer ({code.name}: {exc.details()})"
                ) from None
            except asyncio.CancelledError:
                if not self._closing:  # closing stops every replica anyway
                    await self._abort(replica)  # stop the execution: the run no longer wants it
                raise
        finally:
            self._release(replica)
        return outcome_from_pb(response, replica=replica.id)

    async def run_source(
        self, action: ActionVersion, request: SourceRequest
    ) -> AsyncIterator[SourceEvent]:
        """A source holds a replica of its own (busy) for as long as it runs; closing the
        iteration cancels the call, and the wrapper stops the source."""
        version = self._version(action)
        version.last_used = time.monotonic()
        replica = await self._acquire(version)
        assert replica.stub is not None
        call = replica.stub.Run(source_request_to_pb(request))
        try:
            try:
                async for message in call:
                    event = source_event_from_pb(message, replica=replica.id)
                    if event is not None:
                        yield event
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.INVALID_ARGUMENT):
                    raise ActionUnavailable(
                        f"the action refused to run as a source: {exc.details()}"
                    ) from None
                raise SiteUnavailable(
                    f"the source's process stopped answering ({code.name}: {exc.details()})"
                ) from None
        finally:
            call.cancel()
            version.last_used = time.monotonic()
            self._release(replica)

    async def upload_staged(
        self, *, replica: str, uploads: Sequence[tuple[str, str]]
    ) -> list[UploadResult]:
        target = self._replicas.get(replica)
        if target is None or not target.alive or target.stub is None:
            raise SiteUnavailable("the replica that staged the files is gone")
        request = pb.UploadFilesRequest(
            uploads=[pb.FileUpload(staged_id=s, put_url=u) for s, u in uploads]
        )
        try:
            response = await target.stub.UploadFiles(request, timeout=600)
        except grpc.aio.AioRpcError as exc:
            raise SiteUnavailable(f"could not upload staged files: {exc.code().name}") from None
        return uploads_from_pb(response)

    # -- introspection (tests, the benchmark) ---------------------------------------------

    def replicas_of(self, artifact_ref: str) -> list[dict[str, object]]:
        version = self._versions.get(artifact_ref)
        if version is None:
            return []
        return [
            {
                "id": r.id,
                "port": r.port,
                "wrapper_pid": r.wrapper_pid,
                "watchdog_pid": r.watchdog_pid,
                "busy": r.busy,
                "ready": r.ready,
                "adopted": r.process is None,
            }
            for r in version.live
        ]

    # -- versions and replicas ------------------------------------------------------------

    def _version(self, action: ActionVersion) -> _Version:
        version = self._versions.get(action.artifact_ref)
        if version is None:
            digest = parse_artifact(action.artifact_ref)
            folder = self.settings.artifacts_dir / digest
            python = folder / "venv" / "bin" / "python"
            action_dir = folder / "action"
            if not python.exists() or not action_dir.is_dir():
                raise ActionUnavailable(
                    f"artifact {action.artifact_ref} is not in {self.settings.artifacts_dir} "
                    "(no venv/bin/python or action/ folder); build the action again"
                )
            version = _Version(
                artifact_ref=action.artifact_ref,
                digest=digest,
                python=python,
                action_dir=action_dir,
            )
            self._versions[action.artifact_ref] = version
        if action.resources.memory_bytes:
            version.memory_bytes = action.resources.memory_bytes
        if version.load_error is not None:
            raise ActionUnavailable(version.load_error)
        return version

    def _room_for(self, version: _Version) -> bool:
        if version.running:
            return True
        running = [v for v in self._versions.values() if v.running]
        if len(running) < self.settings.max_versions:
            return True
        idle = [v for v in running if not v.busy]
        if not idle:
            return False
        victim = min(idle, key=lambda v: v.last_used)
        log.info("stopping %s to make room for %s", victim.artifact_ref, version.artifact_ref)
        for replica in victim.live:
            self._spawn(self._stop(replica))
        return True

    async def _acquire(self, version: _Version) -> _Replica:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.startup_timeout
        while True:
            if version.load_error is not None:
                raise ActionUnavailable(version.load_error)
            free = [r for r in version.replicas if r.free]
            if free:
                replica = min(free, key=lambda r: r.busy)
                replica.busy += 1
                return replica
            # replicas being started count once, in ``starting``
            total = sum(1 for r in version.live if r.ready) + version.starting
            if (
                total < self.settings.max_replicas
                and version.starting <= len(version.waiters)
                and loop.time() >= version.next_start
            ):
                if not self._room_for(version):
                    raise SiteUnavailable(
                        f"{self.settings.max_versions} action versions are busy on this site"
                    )
                version.starting += 1  # now, not when the task runs: others count it
                self._spawn(self._start_in_background(version, counted=True))
            waiter: asyncio.Future[None] = loop.create_future()
            version.waiters.append(waiter)
            left = deadline - loop.time()
            if left <= 0:
                raise SiteUnavailable(
                    f"no replica of {version.artifact_ref} was free within "
                    f"{self.settings.startup_timeout:g} s"
                )
            try:
                await asyncio.wait_for(waiter, timeout=min(left, 1.0))
            except TimeoutError:
                continue  # look again (a start may be due after a crash delay)
            finally:
                with contextlib.suppress(ValueError):
                    version.waiters.remove(waiter)

    def _release(self, replica: _Replica) -> None:
        replica.busy = max(0, replica.busy - 1)
        if replica.busy == 0:
            replica.idle_since = time.monotonic()
        replica.version.last_used = time.monotonic()
        replica.version.wake_one()

    def _record_dispatch(self, replica: _Replica, execution_id: str) -> None:
        if not execution_id:
            return
        self._dispatched[execution_id] = replica
        self._dispatched.move_to_end(execution_id)
        while len(self._dispatched) > _DISPATCH_MEMORY:
            self._dispatched.popitem(last=False)
        # before the request leaves: a runner adopting this replica after a crash reads it
        with contextlib.suppress(OSError):
            os.write(replica.dispatch_fd, execution_id.encode() + b"\n")

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.ensure_future(coroutine)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _start_in_background(self, version: _Version, *, counted: bool = False) -> None:
        try:
            await self._start_replica(version, counted=counted)
        except ActionUnavailable as exc:
            version.load_error = str(exc)
            version.fail_waiters(exc)
        except Exception as exc:
            log.warning("could not start %s: %s", version.artifact_ref, exc)
            version.crashes += 1
            version.next_start = time.monotonic() + min(30.0, 0.5 * 2**version.crashes)
        finally:
            version.wake_one()

    async def _start_replica(self, version: _Version, *, counted: bool = False) -> _Replica:
        """``counted``: the caller already counted this start in ``version.starting``."""
        if not counted:
            version.starting += 1
        try:
            for _attempt in range(3):
                replica = await self._launch(version)
                if await self._wait_ready(replica):
                    version.crashes = 0
                    version.wake_one()
                    return replica
                await self._stop(replica)
            raise SiteUnavailable(
                f"the wrapper of {version.artifact_ref} did not start; see its log"
            )
        finally:
            version.starting -= 1

    async def _launch(self, version: _Version) -> _Replica:
        state = self.settings.state_dir
        replica_id = secrets.token_hex(6)
        port = _free_port()
        lease_path = state / f"{replica_id}.json"
        lease_fd = os.open(lease_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(lease_fd, fcntl.LOCK_EX)
        dispatch_fd = os.open(
            state / f"{replica_id}.dispatch", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600
        )
        memory = 0
        if version.memory_bytes and self.settings.memory_limits:
            memory = version.memory_bytes + self.settings.memory_headroom_bytes
        command = [
            self.settings.watchdog_python, "-m", "oryx_runner.infrastructure.sites.watchdog",
            "--lease", str(lease_path), "--grace", str(self.settings.orphan_grace_seconds),
            "--log", str(state / f"{replica_id}.log"), "--memory", str(memory), "--",
            str(version.python), "-m", "oryx_wrapper", "--action-dir", str(version.action_dir),
            "--port", str(port), "--workers", str(self.settings.workers),
            "--startup-timeout", str(self.settings.startup_timeout),
        ]  # fmt: skip
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                start_new_session=True,
            )
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            wrapper_pid = int(line.strip() or b"0")
        except (OSError, ValueError, TimeoutError) as exc:
            os.close(lease_fd)
            os.close(dispatch_fd)
            for suffix in (".json", ".dispatch", ".log"):
                with contextlib.suppress(OSError):
                    (state / f"{replica_id}{suffix}").unlink()
            raise SiteUnavailable(
                f"could not start the wrapper of {version.artifact_ref}: {exc}"
            ) from exc
        _write_lease(
            lease_fd,
            {
                "replica_id": replica_id,
                "artifact_ref": version.artifact_ref,
                "port": port,
                "watchdog_pid": process.pid,
                "wrapper_pid": wrapper_pid,
                "workers": self.settings.workers,
                "runner_pid": os.getpid(),
            },
        )
        replica = _Replica(
            id=replica_id,
            version=version,
            port=port,
            watchdog_pid=process.pid,
            wrapper_pid=wrapper_pid,
            capacity=self.settings.workers,
            lease_fd=lease_fd,
            dispatch_fd=dispatch_fd,
            process=process,
        )
        replica.connect()
        version.replicas.append(replica)
        self._replicas[replica_id] = replica
        self.started_replicas += 1
        self._spawn(self._monitor(replica))
        return replica

    async def _wait_ready(self, replica: _Replica) -> bool:
        """True once SERVING; False when the process ended; ``ActionUnavailable`` when the
        action cannot load."""
        assert replica.health is not None and replica.stub is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.startup_timeout
        delay = 0.02
        while loop.time() < deadline:
            if not replica.alive:
                return False
            try:
                answer = await replica.health.Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1.0
                )
            except grpc.aio.AioRpcError:
                answer = None
            if answer is not None and answer.status == health_pb2.HealthCheckResponse.SERVING:
                replica.ready = True
                replica.idle_since = replica.version.last_used = time.monotonic()
                return True
            if answer is not None:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    described = await replica.stub.Describe(pb.DescribeRequest(), timeout=2.0)
                    if described.load_error:
                        await self._stop(replica)
                        replica.version.load_error = (
                            f"{replica.version.artifact_ref} cannot load: {described.load_error}"
                        )
                        raise ActionUnavailable(replica.version.load_error)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        log.warning("%s did not become ready in time", replica.version.artifact_ref)
        return False

    async def _monitor(self, replica: _Replica) -> None:
        assert replica.process is not None
        code = await replica.process.wait()
        self._gone(replica, code)

    def _gone(self, replica: _Replica, code: int | None) -> None:
        if not replica.alive:
            return
        replica.alive = False
        replica.ready = False
        replica.gone.set()
        version = replica.version
        with contextlib.suppress(ValueError):
            version.replicas.remove(replica)
        self._replicas.pop(replica.id, None)
        if replica.channel is not None:
            self._spawn(replica.channel.close())
        for fd in (replica.lease_fd, replica.dispatch_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        for suffix in (".json", ".dispatch", ".log"):
            with contextlib.suppress(OSError):
                (self.settings.state_dir / f"{replica.id}{suffix}").unlink()
        if replica.stopping or self._closing:
            version.wake_one()
            return
        lived = time.monotonic() - replica.started_at
        log.warning(
            "the wrapper of %s (replica %s) ended with status %s after %.1f s",
            version.artifact_ref, replica.id, code, lived,
        )  # fmt: skip
        version.crashes = version.crashes + 1 if lived < 10 else 0
        version.next_start = time.monotonic() + (
            min(30.0, 0.5 * 2**version.crashes) if version.crashes else 0
        )
        if version.wanted or version.waiters:
            self._spawn(self._restart_later(version))
        version.wake_one()

    async def _restart_later(self, version: _Version) -> None:
        await asyncio.sleep(max(0.0, version.next_start - time.monotonic()))
        if self._closing or version.live or version.starting:
            version.wake_one()
            return
        if version.wanted or version.waiters:
            await self._start_in_background(version)

    async def _abort(self, replica: _Replica) -> None:
        """Kill the replica at once (the executions in it are abandoned); it is replaced."""
        replica.ready = False
        with contextlib.suppress(OSError):
            os.kill(replica.watchdog_pid, signal.SIGUSR1)
        if replica.process is None:  # adopted: not our child, watch it go
            self._spawn(self._watch_adopted_end(replica, within=10))

    async def _stop(self, replica: _Replica) -> None:
        """Stop gracefully (the wrapper gets SIGTERM and a few seconds)."""
        if not replica.alive:
            return
        replica.stopping = True
        replica.ready = False
        with contextlib.suppress(OSError):
            os.kill(replica.watchdog_pid, signal.SIGTERM)
        if replica.process is not None:
            try:
                await asyncio.wait_for(asyncio.shield(replica.gone.wait()), timeout=12)
            except TimeoutError:
                with contextlib.suppress(OSError):
                    os.kill(replica.watchdog_pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.killpg(replica.wrapper_pid, signal.SIGKILL)
        else:
            await self._watch_adopted_end(replica, within=12)

    async def _watch_adopted_end(self, replica: _Replica, *, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        # not our child: nothing to wait on but its pid
        while _alive(replica.watchdog_pid) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if _alive(replica.watchdog_pid):
            with contextlib.suppress(OSError):
                os.kill(replica.watchdog_pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(replica.wrapper_pid, signal.SIGKILL)
        self._gone(replica, None)

    # -- housekeeping ---------------------------------------------------------------------

    async def _keep(self) -> None:
        tick = 0
        while not self._closing:
            await asyncio.sleep(1.0)
            tick += 1
            try:
                await self._housekeeping(
                    check_health=tick % max(1, int(self.settings.health_seconds)) == 0
                )
                if tick % 5 == 0:
                    await self._adopt_orphans()
            except Exception:
                log.exception("local site housekeeping failed")

    async def _housekeeping(self, *, check_health: bool) -> None:
        now = time.monotonic()
        for version in list(self._versions.values()):
            live = version.live
            idle = [r for r in live if r.ready and r.busy == 0]
            if version.starting or any(not r.ready for r in live):
                continue  # a replica on its way: not idle, whatever the clock says
            if live and not version.busy and now - version.last_used >= self.settings.idle_seconds:
                log.info(
                    "stopping %s: idle for %.0f s", version.artifact_ref, now - version.last_used
                )
                for replica in live:
                    self._spawn(self._stop(replica))
                continue
            keep = max(1, version.min_replicas) if version.wanted or version.busy else 0
            extra = sorted(idle, key=lambda r: r.idle_since)[: max(0, len(live) - keep)]
            for replica in extra:
                if now - replica.idle_since >= self.settings.scale_down_seconds:
                    self._spawn(self._stop(replica))
            for replica in live:
                if replica.process is None and not _alive(replica.watchdog_pid):
                    self._gone(replica, None)
            if check_health:
                for replica in idle:
                    self._spawn(self._check(replica))

    async def _check(self, replica: _Replica) -> None:
        assert replica.health is not None
        try:
            answer = await replica.health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2.0
            )
            healthy = answer.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.aio.AioRpcError:
            healthy = False
        replica.health_failures = 0 if healthy else replica.health_failures + 1
        if replica.health_failures >= 3:
            log.warning(
                "replica %s of %s fails its health checks; replacing it",
                replica.id,
                replica.version.artifact_ref,
            )
            await self._abort(replica)

    async def _adopt_orphans(self) -> None:
        """Take over the replicas of runners that died (their lease files are unlocked)."""
        async with self._lock:
            for path in sorted(self.settings.state_dir.glob("*.json")):
                replica_id = path.stem
                if replica_id in self._replicas:
                    continue
                try:
                    fd = os.open(path, os.O_RDWR)
                except OSError:
                    continue
                locked = False
                for _ in range(3):  # a watchdog may be testing the lock this very moment
                    locked = _try_lock(fd)
                    if locked:
                        break
                    await asyncio.sleep(0.02)
                if not locked:
                    os.close(fd)
                    continue
                try:
                    adopted = await self._adopt(path, fd)
                except Exception:
                    log.exception("could not adopt replica %s", replica_id)
                    adopted = False
                if not adopted:
                    os.close(fd)

    async def _adopt(self, path: Path, fd: int) -> bool:
        try:
            data = json.loads(os.pread(fd, 1 << 16, 0) or b"{}")
        except (OSError, ValueError):
            data = {}
        watchdog_pid = int(data.get("watchdog_pid", 0))
        wrapper_pid = int(data.get("wrapper_pid", 0))
        replica_id = path.stem
        artifact = str(data.get("artifact_ref", ""))

        def forget() -> bool:
            for pid, sig in ((watchdog_pid, signal.SIGTERM),):
                if _alive(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
            for suffix in (".json", ".dispatch", ".log"):
                with contextlib.suppress(OSError):
                    (self.settings.state_dir / f"{replica_id}{suffix}").unlink()
            return False

        if not _alive(watchdog_pid) or not artifact or self._closing:
            return forget()
        try:
            version = self._version(ActionVersion(artifact_ref=artifact, name="", version=""))
        except ActionUnavailable:
            return forget()
        dispatch_path = self.settings.state_dir / f"{replica_id}.dispatch"
        dispatch_fd = os.open(dispatch_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        replica = _Replica(
            id=replica_id,
            version=version,
            port=int(data.get("port", 0)),
            watchdog_pid=watchdog_pid,
            wrapper_pid=wrapper_pid,
            capacity=int(data.get("workers", 1)),
            lease_fd=fd,
            dispatch_fd=dispatch_fd,
        )
        replica.connect()
        assert replica.health is not None
        try:
            answer = await replica.health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=2.0
            )
            healthy = answer.status == health_pb2.HealthCheckResponse.SERVING
        except grpc.aio.AioRpcError:
            healthy = False
        if not healthy:
            await replica.channel.close()  # type: ignore[union-attr]
            os.close(dispatch_fd)
            return forget()
        replica.ready = True
        version.replicas.append(replica)
        self._replicas[replica_id] = replica
        with contextlib.suppress(OSError):
            text = await asyncio.to_thread(dispatch_path.read_text)
            for line in text.splitlines()[-_DISPATCH_MEMORY:]:
                if line:
                    self._dispatched[line] = replica
        data["runner_pid"] = os.getpid()
        _write_lease(fd, data)
        self.adopted_replicas += 1
        log.info("adopted replica %s of %s (port %s)", replica_id, artifact, replica.port)
        return True


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            log.warning("cannot lock a lease file: %s", exc)
        return False
    return True


def _write_lease(fd: int, data: dict[str, object]) -> None:
    payload = json.dumps(data).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload, 0)
