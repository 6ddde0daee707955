"""The committed copies of the protobuf code match protos/, and protos/README.md is valid.

Every test runs scripts/protos.py in a subprocess, as `make protos` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "protos.py"

# pyproject.toml: tests that run a subprocess are integration tests.
pytestmark = pytest.mark.integration


def protos(*args: str) -> str:
    """Run scripts/protos.py; return its exit code and output as one string for messages."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_committed_generated_code_is_fresh() -> None:
    output = protos("check")
    if not output.startswith("exit 0\n"):
        pytest.fail(
            "the committed protobuf code is stale: run `make protos` and commit the result\n"
            + output,
            pytrace=False,
        )


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A scratch monorepo root: the authorization contracts alone (a table of one row) and an
    empty sdk/wrapper package, whatever other contracts the real protos/ holds."""
    shutil.copytree(ROOT / "protos" / "authorization", tmp_path / "protos" / "authorization")
    (tmp_path / "protos" / "README.md").write_text(
        "| file | owner | consumers |\n|---|---|---|\n"
        "| authorization/v1/events.proto | authorization | wrapper |\n"
    )
    package = tmp_path / "sdk" / "wrapper" / "src" / "oryx_wrapper"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return tmp_path


def test_a_proto_missing_from_the_table_is_an_error(scratch: Path) -> None:
    unlisted = scratch / "protos" / "authorization" / "v1" / "unlisted.proto"
    unlisted.write_text('syntax = "proto3";\npackage oryx.authorization.v1;\nmessage X {}\n')

    output = protos("check", "--root", str(scratch), "--protos-dir", str(scratch / "protos"))

    assert output.startswith("exit 2\n"), output
    assert "authorization/v1/unlisted.proto` is not listed in the table" in output


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "| authorization/v1/events.proto | authorization | authorization, nobody |",
            "unknown consumer `nobody`",
        ),
        (
            "| authorization/v1/events.proto | authorization | authorization |\n"
            "| authorization/v1/gone.proto | authorization | authorization |",
            "`authorization/v1/gone.proto` does not exist",
        ),
    ],
)
def test_an_invalid_table_is_an_error(scratch: Path, row: str, message: str) -> None:
    (scratch / "protos" / "README.md").write_text(
        f"# Protos\n\n| file | owner | consumers |\n|---|---|---|\n{row}\n"
    )

    output = protos("check", "--root", str(scratch))

    assert output.startswith("exit 2\n"), output
    assert message in output


def test_generate_then_check_in_a_scratch_tree(scratch: Path) -> None:
    studio = scratch / "protos" / "studio" / "v1"
    studio.mkdir(parents=True)
    (studio / "api.proto").write_text(
        'syntax = "proto3";\n'
        "package oryx.studio.v1;\n"
        'import "authorization/v1/events.proto";\n'
        "message Wrapped { oryx.authorization.v1.UserDeleted event = 1; }\n"
        "service Studio { rpc Echo(Wrapped) returns (Wrapped); }\n"
    )
    (scratch / "protos" / "README.md").write_text(
        "| file | owner | consumers |\n|---|---|---|\n"
        "| authorization/v1/events.proto | authorization | wrapper, studio |\n"
        "| studio/v1/api.proto | studio | wrapper |\n"
    )
    generated = scratch / "sdk" / "wrapper" / "src" / "oryx_wrapper" / "generated"
    (generated / "removed" / "v1").mkdir(parents=True)
    (generated / "removed" / "v1" / "old_pb2.py").write_text("")

    output = protos("generate", "--root", str(scratch))

    assert output.startswith("exit 0\n"), output
    assert "generated sdk/wrapper/src/oryx_wrapper/generated/" in output
    assert "skipped studio" in output
    assert not (scratch / "services").exists()
    assert not (generated / "removed").exists()
    assert (generated / "studio" / "v1" / "api_pb2_grpc.py").is_file()
    assert not (generated / "authorization" / "v1" / "events_pb2_grpc.py").exists()
    for folder in (generated, generated / "authorization", generated / "studio" / "v1"):
        assert (folder / "__init__.py").is_file()
    before = {p: p.read_bytes() for p in generated.rglob("*") if p.is_file()}

    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "from oryx_wrapper.generated.studio.v1 import api_pb2, api_pb2_grpc\n"
            "print(api_pb2.Wrapped(event={'user_id': 'u1'}).event.user_id)",
        ],
        env={**os.environ, "PYTHONPATH": str(generated.parent.parent)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "u1"

    assert protos("generate", "--root", str(scratch)).startswith("exit 0\n")
    assert {p: p.read_bytes() for p in generated.rglob("*") if p.is_file()} == before
    assert protos("check", "--root", str(scratch)).startswith("exit 0\n")

    with (generated / "studio" / "v1" / "api_pb2.py").open("a") as stale:
        stale.write("# edited\n")
    (generated / "authorization" / "__init__.py").unlink()

    output = protos("check", "--root", str(scratch))

    assert output.startswith("exit 1\n"), output
    assert "stale sdk/wrapper/src/oryx_wrapper/generated/studio/v1/api_pb2.py" in output
    assert "missing sdk/wrapper/src/oryx_wrapper/generated/authorization/__init__.py" in output
