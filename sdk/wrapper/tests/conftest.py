"""Fixtures: a tiny HTTP file store standing for presigned URLs, and real wrapper processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2 as pb
from oryx_wrapper.generated.action_wrapper.v1 import wrapper_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "actions"


# --- presigned-URL-like HTTP endpoints -------------------------------------------------------


@dataclass
class FileStore:
    """GET and PUT on /<key>; a query string (a fake signature) is ignored."""

    base: str
    objects: dict[str, bytes] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)

    def url(self, key: str) -> str:
        return f"{self.base}/{key}?X-Signature=fake"

    def put(self, key: str, data: bytes) -> str:
        self.objects[key] = data
        return self.url(key)


def _handler(store: FileStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _key(self) -> str:
            return self.path.split("?", 1)[0].lstrip("/")

        def do_GET(self) -> None:
            key = self._key()
            data = store.objects.get(key)
            if data is None or key in store.failing:
                self.send_error(404 if data is None else 500)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            key = self._key()
            length = int(self.headers.get("Content-Length", "0"))
            data = self.rfile.read(length)
            if key in store.failing:
                self.send_error(403)
                return
            store.objects[key] = data
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture(scope="session")
def files() -> Iterator[FileStore]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(FileStore(base="")))
    store = FileStore(base=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield store
    server.shutdown()
    server.server_close()


# --- wrapper processes -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Wrapper:
    process: subprocess.Popen[bytes]
    channel: grpc.Channel
    stub: pb_grpc.ActionWrapperStub
    address: str
    log: Path

    def health(self) -> int:
        checker = health_pb2_grpc.HealthStub(self.channel)
        request = health_pb2.HealthCheckRequest(service="oryx.action_wrapper.v1.ActionWrapper")
        return int(checker.Check(request, timeout=5).status)

    def execute(
        self, execution_id: str = "", timeout: float = 30, **fields: object
    ) -> pb.ExecuteResponse:
        request = pb.ExecuteRequest(
            execution_id=execution_id or f"e-{time.monotonic_ns()}", **fields
        )  # type: ignore[arg-type]
        return self.stub.Execute(request, timeout=timeout)

    def stop(self) -> None:
        self.channel.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_wrapper(action_dir: Path, log: Path, *args: str) -> Wrapper:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "oryx_wrapper",
                "--action-dir",
                str(action_dir),
                "--port",
                str(port),
                *args,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    address = f"127.0.0.1:{port}"
    channel = grpc.insecure_channel(address)
    wrapper = Wrapper(process, channel, pb_grpc.ActionWrapperStub(channel), address, log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the wrapper exited: {log.read_text()}")
        try:
            grpc.channel_ready_future(channel).result(timeout=0.2)
            wrapper.stub.Describe(pb.DescribeRequest(), timeout=5)
            if "serving" in log.read_text():
                return wrapper
        except grpc.FutureTimeoutError:
            pass
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            wrapper.stop()
            raise RuntimeError(f"the wrapper did not start: {log.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def wrappers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Wrapper]]:
    """Start a wrapper for an action folder; every one is stopped at the end of the module."""
    started: list[Wrapper] = []
    logs = tmp_path_factory.mktemp("wrapper-logs")

    def start(action_dir: Path, *args: str) -> Wrapper:
        wrapper = start_wrapper(action_dir, logs / f"{action_dir.name}-{len(started)}.log", *args)
        started.append(wrapper)
        return wrapper

    yield start
    for wrapper in started:
        wrapper.stop()


def write_action(folder: Path, *, metadata: str, handler: str = "", run: str = "") -> Path:
    """An action folder made by a test: metadata and code given as (dedented) text."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ryax_metadata.yaml").write_text(textwrap.dedent(metadata))
    if handler:
        (folder / "ryax_handler.py").write_text(textwrap.dedent(handler))
    if run:
        (folder / "ryax_run.py").write_text(textwrap.dedent(run))
    return folder


@pytest.fixture
def make_action(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str, **parts: str) -> Path:
        return write_action(tmp_path / name, **parts)

    return make


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions")
