"""The S3 server fixture itself: local only, and never left running."""

import os
import socket
import sys
from pathlib import Path

import pytest

from ... import s3_server as s3_server_module
from ...s3_server import S3Server, S3ServerUnavailable, start_s3_server


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """(address, port) of the TCP sockets ``pid`` listens on, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            raw = bytes.fromhex(address_hex)
            # /proc prints addresses as 32-bit words in host (little-endian) order.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add((socket.inet_ntop(family, raw), int(port_hex, 16)))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_server_listens_on_127_0_0_1_only(s3_server: S3Server) -> None:
    addresses = listening_addresses(s3_server.pid)

    assert addresses, "weed listens on nothing?"
    assert {address for address, _ in addresses} == {"127.0.0.1"}
    assert ("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])) in addresses


def test_the_server_is_stopped_even_when_the_tests_fail(tmp_path: Path) -> None:
    started: list[S3Server] = []

    def a_failing_test() -> None:
        with start_s3_server(tmp_path) as server:
            started.append(server)
            raise RuntimeError("a failing test")

    with pytest.raises(RuntimeError, match="a failing test"):
        a_failing_test()

    pid, port = started[0].pid, int(started[0].endpoint.rsplit(":", 1)[1])
    assert started[0].started_in < 10
    assert not Path(f"/proc/{pid}").exists()  # gone, and reaped: not even a zombie
    assert not list(Path("/tmp").glob(f"seaweedfs-*-{port}.sock"))


def test_a_server_that_cannot_start_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = s3_server_module.command_line
    monkeypatch.setattr(
        s3_server_module,
        "command_line",
        lambda *args, **kwargs: [*real(*args, **kwargs), "-no.such.flag"],
    )

    with pytest.raises(S3ServerUnavailable, match="weed exited"), start_s3_server(tmp_path):
        pass
