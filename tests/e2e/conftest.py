"""Fixtures of the end-to-end journey: the example actions served by a local `git daemon`,
and the platform in each mode (module scope: one platform, one build of the examples, per
mode). With ``CI=true`` the distributed mode fails instead of skipping when PostgreSQL or
RabbitMQ cannot be reached."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from .platforms import REPO_ROOT, Distributed, Embedded, Platform, free_port

POSTGRES_URL = os.environ.get(
    "ORYX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_URL = os.environ.get("ORYX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.integration)


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 3
        ):
            return True
    except OSError:
        return False


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: integration tests fail instead of skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def examples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """examples/actions as a Git repository, served by `git daemon` on a free port."""
    if shutil.which("git") is None:
        _unavailable("git is not installed")
    base = tmp_path_factory.mktemp("git")
    repo = base / "examples"
    shutil.copytree(REPO_ROOT / "examples" / "actions", repo)
    git = ["git", "-C", str(repo), "-c", "user.name=e2e", "-c", "user.email=e2e@example.org"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "examples"], check=True)
    port = free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={base}", "--export-all",
         "--listen=127.0.0.1", f"--port={port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = subprocess.run(
                ["git", "ls-remote", f"git://127.0.0.1:{port}/examples"],
                capture_output=True, timeout=10,
            )  # fmt: skip
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                _unavailable(f"git daemon did not serve: {probe.stderr.decode()}")
            time.sleep(0.1)
        yield f"git://127.0.0.1:{port}/examples"
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=10)


@pytest.fixture(scope="module", params=["embedded", "distributed"])
def platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    mode: str = request.param
    folder = tmp_path_factory.mktemp(f"e2e-{mode}")
    port = free_port()
    instance: Platform
    if mode == "embedded":
        instance = Embedded(mode, folder / "data", port, folder / "platform.log")
    else:
        if not _reachable(POSTGRES_URL, 5432):
            _unavailable(f"PostgreSQL is unreachable at {POSTGRES_URL}")
        if not _reachable(RABBITMQ_URL, 5672):
            _unavailable(f"RabbitMQ is unreachable at {RABBITMQ_URL}")
        parts = urlsplit(POSTGRES_URL)
        server = f"{parts.scheme}://{parts.netloc}"
        instance = Distributed(
            mode, folder / "data", port, folder / "platform.log",
            postgres_url=server, rabbitmq_url=RABBITMQ_URL,
            namespace=f"e2e_{secrets.token_hex(4)}",
        )  # fmt: skip
    try:
        instance.start()
        yield instance
        instance.stop()
    finally:
        instance.kill()
        if isinstance(instance, Distributed):
            instance.drop_everything()
