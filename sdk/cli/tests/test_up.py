"""`oryx up` as a real process: one port serving every service, a clean `oryx down`, and the
errors a person can act on."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration
ORYX = [sys.executable, "-m", "oryx_cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_processes(data_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"-D {data_dir}/postgres" in line]


def test_up_serves_every_api_and_down_stops_it(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    env = {**os.environ, "ORYX_ADMIN_PASSWORD": "admin-password-for-up"}
    process = subprocess.Popen(
        [*ORYX, "up", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while time.monotonic() - started < 60:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/repository/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        login = httpx.post(
            f"{base}/authorization/login",
            json={"username": "admin", "password": "admin-password-for-up"},
        )
        assert login.status_code == 200
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # the repository asks the authorization service on the same port
        sources = httpx.get(f"{base}/repository/sources", headers=headers)
        assert sources.status_code == 200, sources.text
        library = httpx.get(f"{base}/studio/actions", headers=headers)
        assert library.status_code == 200, library.text
        assert "builtin-cron" in library.text  # the built-in triggers are in the library
        runs = httpx.get(f"{base}/runner/runs", headers=headers)
        assert runs.status_code == 200, runs.text
        assert httpx.get(f"{base}/").json()["service"] == "oryx"
        assert httpx.get(f"{base}/nowhere").status_code == 404

        second = subprocess.run(
            [*ORYX, "up", "--port", str(free_port()), "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 2
        assert "already runs" in second.stderr

        down = subprocess.run(
            [*ORYX, "down", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
        )
        assert down.returncode == 0, down.stderr
        assert process.wait(timeout=30) is not None
        assert not postgres_processes(data_dir)
        assert not (data_dir / "oryx.pid").exists()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*ORYX, "up", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 2
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr


def test_an_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [*ORYX, "up", "--port", str(free_port()), "--data-dir", str(blocker / "data")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not writable" in result.stderr and "--data-dir" in result.stderr


def test_down_with_nothing_running(tmp_path: Path) -> None:
    result = subprocess.run(
        [*ORYX, "down", "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "nothing runs" in result.stdout
