"""The wrapper's gRPC server: load the action, start the workers, serve until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from .execution import Executor
from .generated.action_wrapper.v1 import wrapper_pb2 as pb
from .generated.action_wrapper.v1 import wrapper_pb2_grpc as pb_grpc
from .metadata import load_metadata
from .pool import WorkerPool
from .service import ActionWrapperService
from .staging import Staging

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ActionWrapper"].full_name
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    action_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    workers: int = 1
    work_dir: Path | None = None
    startup_timeout: float = 120.0
    transfer_timeout: float = 300.0
    staged_ttl: float = 3600.0
    grace: float = 5.0


def _health_status(pool: WorkerPool) -> health_pb2.HealthCheckResponse.ServingStatus.ValueType:
    if pool.load_error is not None:
        return health_pb2.HealthCheckResponse.NOT_SERVING
    return health_pb2.HealthCheckResponse.SERVING


async def _watch(pool: WorkerPool, health: HealthServicer, staging: Staging) -> None:
    """Keep the health status in step with the workers, and drop expired staged files."""
    ticks = 0
    while True:
        status = _health_status(pool)
        for name in ("", SERVICE_NAME):
            await health.set(name, status)
        ticks += 1
        if ticks % 60 == 0:
            staging.sweep()
        await asyncio.sleep(1.0)


async def serve(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    action_dir = settings.action_dir.resolve()
    metadata = load_metadata(action_dir)
    owned = settings.work_dir is None
    workroot = settings.work_dir or Path(tempfile.mkdtemp(prefix="oryx-wrapper-"))
    workroot.mkdir(parents=True, exist_ok=True)
    staging = Staging(workroot / "staged", ttl=settings.staged_ttl)
    pool = WorkerPool(
        action_dir,
        capture_root=workroot / "workers",
        size=max(1, settings.workers),
        startup_timeout=settings.startup_timeout,
    )
    executor = Executor(
        metadata=metadata,
        pool=pool,
        workroot=workroot / "executions",
        staging=staging,
        transfer_timeout=settings.transfer_timeout,
    )
    server = grpc.aio.server(
        options=[
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    service = ActionWrapperService(
        metadata=metadata,
        action_dir=action_dir,
        pool=pool,
        executor=executor,
        staging=staging,
        workroot=workroot / "sources",
        transfer_timeout=settings.transfer_timeout,
    )
    pb_grpc.add_ActionWrapperServicer_to_server(service, server)  # type: ignore[no-untyped-call]
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise OSError(f"cannot listen on {settings.host}:{settings.port}")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    watcher: asyncio.Task[None] | None = None
    try:
        if not metadata.kind.is_source:
            await pool.start()
        await server.start()
        watcher = asyncio.create_task(_watch(pool, health, staging))
        state = "serving" if pool.load_error is None else f"NOT serving ({pool.load_error.message})"
        print(
            f"oryx-wrapper: {metadata.kind.value} {metadata.id} {metadata.version} {state} "
            f"on {settings.host}:{port} (pid {', '.join(map(str, pool.pids)) or '-'})",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await health.enter_graceful_shutdown()
        await server.stop(settings.grace)
        await executor.close()
        await pool.close()
        if owned:
            shutil.rmtree(workroot, ignore_errors=True)
