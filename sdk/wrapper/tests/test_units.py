"""Unit tests: metadata reading, value checks, exceptions, archives, the Ryax shims."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from oryx_wrapper.errors import describe_exception
from oryx_wrapper.metadata import IoType, Kind, MetadataError, load_metadata, parse_time
from oryx_wrapper.transfer import TransferError, archive_stem, safe_name, unpack_archive
from oryx_wrapper.values import InvalidValues, LocalPath, RemoteFile, check_inputs, check_outputs

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "actions"


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(30, 30.0), ("45", 45.0), ("10s", 10.0), ("2m", 120.0), ("1.5h", 5400.0), ("1d", 86400.0)],
)
def test_time_limits_read_with_their_units(given: object, seconds: float) -> None:
    assert parse_time(given) == seconds


@pytest.mark.parametrize("given", ["soon", "-1", 0, True, "5 weeks"])
def test_bad_time_limits_are_refused(given: object) -> None:
    with pytest.raises(MetadataError):
        parse_time(given)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_loads(name: str) -> None:
    metadata = load_metadata(EXAMPLES / name)
    assert metadata.id == name
    assert metadata.kind in (Kind.SOURCE, Kind.PROCESSOR)


def test_echo_inputs_have_their_defaults() -> None:
    inputs = {d.name: d for d in load_metadata(EXAMPLES / "echo").inputs}
    assert [d.type for d in inputs.values()] == list(IoType)
    assert {n: d.default for n, d in inputs.items() if d.has_default} == {
        "text": "hello",
        "long_text": "A longer text,\nover two lines.",
        "secret": "s3cret",
        "count": 42,
        "ratio": 0.5,
        "flag": True,
        "color": "green",
    }


def test_trigger_is_a_source_and_extra_fields_are_tolerated(tmp_path: Path) -> None:
    (tmp_path / "oryx_metadata.yaml").write_text(
        'apiVersion: "ryax.tech/v2.0"\nkind: Trigger\n'
        "spec: {id: t, version: '1', logo: x.png, whatever: 1,\n"
        "       options: {python: {version: '3.11'}}}\n"
    )
    (tmp_path / "ryax_run.py").write_text("async def run(service, inputs): pass\n")
    metadata = load_metadata(tmp_path)
    assert metadata.kind is Kind.SOURCE and metadata.metadata_file == "oryx_metadata.yaml"


def test_missing_code_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "ryax_metadata.yaml").write_text("kind: Processor\nspec: {id: p}\n")
    with pytest.raises(MetadataError, match=r"needs ryax_handler\.py"):
        load_metadata(tmp_path)


def test_inputs_get_defaults_and_every_problem_is_listed() -> None:
    definitions = load_metadata(EXAMPLES / "echo").inputs
    checked = check_inputs(definitions, {"count": 3.0, "ratio": 2})
    assert checked["count"] == 3 and checked["ratio"] == 2.0 and checked["document"] is None
    with pytest.raises(InvalidValues) as raised:
        check_inputs(definitions, {"count": True, "color": "pink", "folder": RemoteFile("u", "n")})
    assert len(raised.value.problems) == 3


def test_outputs_are_converted_to_plain_values(tmp_path: Path) -> None:
    definitions = load_metadata(EXAMPLES / "echo").outputs
    (tmp_path / "f.txt").write_text("x")
    values = {
        "text": "a",
        "long_text": "b",
        "secret": "c",
        "count": 1,
        "ratio": 1,
        "flag": False,
        "color": "red",
        "document": "f.txt",
        "folder": str(tmp_path),
    }
    [checked] = check_outputs(definitions, values, base=tmp_path)
    assert checked["ratio"] == 1.0 and isinstance(checked["ratio"], float)
    assert checked["document"] == LocalPath(str(tmp_path / "f.txt"))
    assert checked["folder"] == LocalPath(str(tmp_path), directory=True)
    with pytest.raises(InvalidValues, match="output 'count' is None but not optional"):
        check_outputs(definitions, [values, {**values, "count": None}], base=tmp_path)
    del values["text"]
    with pytest.raises(InvalidValues, match="output 'text' is missing"):
        check_outputs(definitions, values, base=tmp_path)


def test_a_user_defined_ryax_exception_is_recognised_by_name() -> None:
    @dataclass
    class RyaxException(Exception):
        message: str
        code: int

    try:
        raise RyaxException(message="gone", code=410)
    except RyaxException as error:
        info = describe_exception(error)
    assert (info.message, info.code, info.type) == ("gone", 410, "RyaxException")
    plain = describe_exception(KeyError("k"))
    assert plain.code is None and plain.message == "'k'"


def test_archive_names_and_unsafe_archives(tmp_path: Path) -> None:
    assert archive_stem("photos.tar.gz") == "photos" and archive_stem("a.zip") == "a"
    assert safe_name("../../etc/passwd", fallback="x") == "passwd"
    assert safe_name("..", fallback="x") == "x"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    archive = tmp_path / "bad.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(TransferError, match="leaves the directory"):
        unpack_archive(archive, tmp_path / "out", name="bad")
    assert not (tmp_path / "escape.txt").exists()


def test_the_ryax_modules_import_as_ryax_actions_use_them() -> None:
    from ryax_execution.ryax_source_protocol import RyaxRunStatus, RyaxSourceProtocol
    from ryax_execution.ryax_trigger_protocol import RyaxTriggerProtocol
    from ryax_wrapper import RyaxException
    from ryax_wrapper import RyaxSourceProtocol as Same

    assert Same is RyaxSourceProtocol is RyaxTriggerProtocol
    assert [s.name for s in RyaxRunStatus] == ["DONE", "ERROR"]
    error = RyaxException(message="m", code=404)
    assert describe_exception(error).code == 404

    class Recorder(RyaxSourceProtocol):
        def __init__(self) -> None:
            self.runs: list[tuple[dict, RyaxRunStatus]] = []

        async def create_run(self, data, running_time=0.001, status=RyaxRunStatus.DONE):
            self.runs.append((data, status))

    import asyncio

    recorder = Recorder()
    asyncio.run(recorder.create_run_error())
    assert recorder.runs == [({}, RyaxRunStatus.ERROR)]
