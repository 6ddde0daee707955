"""Fixtures shared by the action builder's tests.

Integration tests use real subprocesses (venv, pip), a real RabbitMQ (randomly named exchanges
and queues, deleted afterwards) and a real S3 server. With ``CI=true`` an unreachable RabbitMQ
or S3 server fails the tests instead of skipping them.

Test actions are folders the tests write; the ``oryx-wrapper`` they install is a tiny wheel
made here (no dependencies), so that builds need no network.
"""

import asyncio
import base64
import hashlib
import os
import secrets
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from oryx_action_builder.tools import pack_action

RABBITMQ_URL = os.environ.get("ORYX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

METADATA = """\
apiVersion: "ryax.tech/v2.0"
kind: Processor
spec:
  id: {name}
  human_name: {name}
  type: python3
  version: "1.0"
  inputs: []
  outputs: []
"""


def unreachable(what: str, exc: BaseException) -> None:
    message = f"{what} is unreachable: {exc!r}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: integration tests fail instead of skipping)")
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def random_name() -> str:
    """A unique prefix for exchanges and queues of one test."""
    return f"oryx.test.{secrets.token_hex(4)}"


ActionMaker = Callable[..., Path]


@pytest.fixture
def make_action(tmp_path: Path) -> ActionMaker:
    """``make_action(name, requirements=None, files={})``: an action folder under tmp_path."""

    def make(
        name: str = "trivial",
        *,
        requirements: str | None = None,
        files: dict[str, str] | None = None,
    ) -> Path:
        folder = tmp_path / "actions" / name
        folder.mkdir(parents=True)
        (folder / "ryax_metadata.yaml").write_text(METADATA.format(name=name))
        (folder / "ryax_handler.py").write_text("def handle(inputs):\n    return {}\n")
        if requirements is not None:
            (folder / "requirements.txt").write_text(requirements)
        for relative, text in (files or {}).items():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            (folder / relative).write_text(text)
        return folder

    return make


def archive_of(folder: Path) -> tuple[bytes, str]:
    """The .tar.gz of an action folder and its sha256."""
    data = pack_action(folder)
    return data, hashlib.sha256(data).hexdigest()


def write_wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel, valid enough for pip."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: oryx-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    records = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        records.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    records.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(records) + "\n"
    wheel = directory / f"{dist}-{version}-py3-none-any.whl"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    return wheel


@pytest.fixture(scope="session")
def fake_wrapper_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``oryx-wrapper`` wheel with no dependencies: ``python -m oryx_wrapper`` (and the
    ``oryx-wrapper`` script) print their arguments."""
    return write_wheel(
        tmp_path_factory.mktemp("wrapper"),
        "oryx-wrapper",
        "0.0.1",
        {
            "oryx_wrapper/__init__.py": '"""A stand-in for tests."""\n',
            "oryx_wrapper/__main__.py": (
                "import sys\n\n\ndef main():\n    print('fake wrapper', sys.argv[1:])\n\n\n"
                "if __name__ == '__main__':\n    main()\n"
            ),
            "oryx_wrapper-0.0.1.dist-info/entry_points.txt": (
                "[console_scripts]\noryx-wrapper = oryx_wrapper.__main__:main\n"
            ),
        },
    )


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


SLOW_BACKEND = """\
import os, pathlib, time


def _sleep():
    pathlib.Path({pid_file!r}).write_text(str(os.getpid()))
    time.sleep(600)


def get_requires_for_build_wheel(config_settings=None):
    _sleep()
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _sleep()
"""


def slow_package_files(pid_file: Path) -> dict[str, str]:
    """Files of a local package whose build hangs (and writes its pid to ``pid_file``):
    put them in an action and require ``./slowpkg``. Offline: the backend is in-tree."""
    return {
        "slowpkg/pyproject.toml": (
            '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
            '[project]\nname = "slowpkg"\nversion = "0.1"\n'
        ),
        "slowpkg/backend.py": SLOW_BACKEND.format(pid_file=str(pid_file)),
    }


def process_gone(pid: int) -> bool:
    """Whether a process has ended (a zombie not reaped yet counts as ended)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status or "\nState:\tX" in status


@pytest.fixture(scope="session")
async def rabbitmq_url() -> str:
    """The broker URL, once it answers (CI=true: fail when it does not)."""
    import aio_pika

    try:
        connection = await asyncio.wait_for(aio_pika.connect(RABBITMQ_URL), timeout=10)
    except Exception as exc:
        unreachable("RabbitMQ", exc)
    await connection.close()
    return RABBITMQ_URL
