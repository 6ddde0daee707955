"""Test actions, laid out as the local builder's artifacts, and workflows made of them.

An artifact is ``<artifacts>/<digest>/`` with ``venv/`` and ``action/``. Building real venvs
with pip takes seconds per action; here one venv is made with ``python -m venv --without-pip``
(about 0.1 s) and a ``.pth`` file that puts the development virtualenv's packages (the wrapper
and its dependencies) on its path; every artifact's ``venv`` links to it.

Every action appends ``<execution id>`` to the file named by ``ORYX_TEST_SIDE_EFFECTS`` (when
set), so tests count how many times each execution ran the handler. The wrapper gives the
handler no execution id of its own; it runs it in a fresh folder named after it
(``$TMPDIR`` = ``<work>/<execution id>-<random>``), which is where the id is read from.
"""

# ruff: noqa: E501  (the test actions' source code is kept as written)
from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

from oryx_runner.domain.workflows import (
    Binding,
    BuiltinTrigger,
    IoSpec,
    IoType,
    OutputRef,
    Resources,
    ResultSpec,
    StepKind,
    StepSpec,
    Value,
    WorkflowSnapshot,
)

SIDE_EFFECTS = """
import os

def _record():
    path = os.environ.get("ORYX_TEST_SIDE_EFFECTS")
    if path:
        execution = os.path.basename(os.environ.get("TMPDIR", "")).rsplit("-", 1)[0]
        with open(path, "a") as handle:
            handle.write(execution + "\\n")
"""


def _metadata(name: str, inputs: str, outputs: str, *, time: str = "") -> str:
    resources = f"  resources:\n    time: {time}\n" if time else ""
    return (
        'apiVersion: "ryax.tech/v2.0"\nkind: Processor\nspec:\n'
        f"  id: {name}\n  human_name: {name}\n  description: a test action\n"
        f'  version: "1.0"\n  type: python3\n{resources}'
        f"  inputs:\n{inputs}  outputs:\n{outputs}"
    )


def _io(name: str, kind: str, extra: str = "") -> str:
    return f"    - {{name: {name}, human_name: {name}, help: {name}, type: {kind}{extra}}}\n"


ACTIONS: dict[str, tuple[str, str]] = {
    # text -> text + suffix
    "append": (
        _metadata(
            "append",
            _io("text", "string") + _io("suffix", "string", ", default_value: '+'"),
            _io("text", "string"),
        ),
        SIDE_EFFECTS
        + "\ndef handle(inputs):\n    _record()\n    return {'text': inputs['text'] + inputs['suffix']}\n",
    ),
    # text, count -> a list of dicts (a fan-out): text#0, text#1, ...
    "fanout": (
        _metadata(
            "fanout",
            _io("text", "string") + _io("count", "integer", ", default_value: 3"),
            _io("text", "string") + _io("index", "integer"),
        ),
        SIDE_EFFECTS + "\ndef handle(inputs):\n    _record()\n"
        "    return [{'text': f\"{inputs['text']}#{i}\", 'index': i} for i in range(inputs['count'])]\n",
    ),
    # joins two texts
    "join": (
        _metadata("join", _io("left", "string") + _io("right", "string"), _io("text", "string")),
        SIDE_EFFECTS
        + "\ndef handle(inputs):\n    _record()\n    return {'text': inputs['left'] + '|' + inputs['right']}\n",
    ),
    # raises a RyaxException with the given code
    "fail": (
        _metadata("fail", _io("text", "string"), _io("text", "string")),
        SIDE_EFFECTS + "\nclass RyaxException(Exception):\n"
        "    def __init__(self, message, code):\n"
        "        super().__init__(message)\n        self.message = message\n        self.code = code\n\n"
        "def handle(inputs):\n    _record()\n    print('about to fail', flush=True)\n"
        "    raise RyaxException(f\"refused {inputs['text']}\", 418)\n",
    ),
    # sleeps, then echoes; its time limit is 2 s
    "sleep": (
        _metadata(
            "sleep",
            _io("text", "string") + _io("seconds", "float", ", default_value: 0.05"),
            _io("text", "string"),
            time="2s",
        ),
        SIDE_EFFECTS + "\nimport time\n\ndef handle(inputs):\n    _record()\n"
        "    time.sleep(inputs['seconds'])\n    return {'text': inputs['text']}\n",
    ),
    # a file in, its upper-cased copy out; and the size
    "upper": (
        _metadata("upper", _io("data", "file"), _io("data", "file") + _io("size", "integer")),
        SIDE_EFFECTS + "\nimport os\n\ndef handle(inputs):\n    _record()\n"
        "    source = inputs['data']\n    target = os.path.join(os.environ['TMPDIR'], 'UPPER-' + os.path.basename(source))\n"
        "    with open(source) as f, open(target, 'w') as g:\n        g.write(f.read().upper())\n"
        "    return {'data': target, 'size': os.path.getsize(source)}\n",
    ),
    # writes two files (a fan-out of files: the second set's file is staged by the wrapper)
    "split": (
        _metadata("split", _io("text", "string"), _io("part", "file")),
        SIDE_EFFECTS + "\nimport os\n\ndef handle(inputs):\n    _record()\n    out = []\n"
        "    for i, word in enumerate(inputs['text'].split()):\n"
        "        path = os.path.join(os.environ['TMPDIR'], f'part{i}.txt')\n"
        "        with open(path, 'w') as f:\n            f.write(word)\n"
        "        out.append({'part': path})\n    return out\n",
    ),
    # a directory in: its file names out; and a directory out (its copy with a file added)
    "listdir": (
        _metadata(
            "listdir", _io("folder", "directory"), _io("names", "string") + _io("copy", "directory")
        ),
        SIDE_EFFECTS + "\nimport os, shutil\n\ndef handle(inputs):\n    _record()\n"
        "    folder = inputs['folder']\n    names = sorted(os.listdir(folder))\n"
        "    copy = os.path.join(os.environ['TMPDIR'], 'copy')\n    shutil.copytree(folder, copy)\n"
        "    with open(os.path.join(copy, 'added.txt'), 'w') as f:\n        f.write('added')\n"
        "    return {'names': ','.join(names), 'copy': copy}\n",
    ),
    # allocates ``megabytes`` of memory
    "hog": (
        _metadata("hog", _io("megabytes", "integer"), _io("megabytes", "integer")),
        SIDE_EFFECTS
        + "\ndef handle(inputs):\n    _record()\n    block = bytearray(inputs['megabytes'] * 1024 * 1024)\n"
        "    return {'megabytes': len(block) // (1024 * 1024)}\n",
    ),
    # cannot load
    "broken": (
        _metadata("broken", _io("text", "string"), _io("text", "string")),
        "import not_a_module_anywhere\n\ndef handle(inputs):\n    return inputs\n",
    ),
}


def make_venv(folder: Path) -> Path:
    """A venv whose Python imports the development virtualenv's packages."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)],
        check=True,
        capture_output=True,
    )
    packages = next(folder.glob("lib/python3*/site-packages"))
    dev = [p for p in site.getsitepackages() if p.endswith("site-packages")]
    lines = "".join(f"import site; site.addsitedir({p!r})\n" for p in dev)
    (packages / "oryx_dev.pth").write_text(lines)
    return folder


def make_artifacts(root: Path) -> dict[str, str]:
    """Every test action as an artifact under ``root``; answers their refs by name."""
    root.mkdir(parents=True, exist_ok=True)
    venv = make_venv(root / ".shared-venv")
    refs = {}
    for name, (metadata, handler) in ACTIONS.items():
        digest = f"test-{name}"
        folder = root / digest
        (folder / "action").mkdir(parents=True, exist_ok=True)
        (folder / "action" / "ryax_metadata.yaml").write_text(metadata)
        (folder / "action" / "ryax_handler.py").write_text(handler)
        if not (folder / "venv").exists():
            os.symlink(venv, folder / "venv")
        (folder / "READY").write_text("")
        refs[name] = f"local:{digest}"
    return refs


EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "actions"


def make_example_artifacts(root: Path, names: list[str]) -> dict[str, str]:
    """Actions of examples/actions as artifacts under ``root`` (after ``make_artifacts``,
    whose venv they share); answers their refs by name."""
    import shutil

    venv = root / ".shared-venv"
    if not venv.exists():
        make_venv(venv)
    refs = {}
    for name in names:
        folder = root / f"example-{name}"
        if not (folder / "action").exists():
            shutil.copytree(EXAMPLES / name, folder / "action")
            os.symlink(venv, folder / "venv")
            (folder / "READY").write_text("")
        refs[name] = f"local:example-{name}"
    return refs


# --- workflows ---------------------------------------------------------------------------------


def io(name: str, kind: str = "string", **extra: object) -> IoSpec:
    return IoSpec(name=name, type=IoType(kind), **extra)  # type: ignore[arg-type]


SIGNATURES: dict[str, tuple[tuple[IoSpec, ...], tuple[IoSpec, ...]]] = {
    "append": ((io("text"), io("suffix", has_default=True, default="+")), (io("text"),)),
    "fanout": (
        (io("text"), io("count", "integer", has_default=True, default=3)),
        (io("text"), io("index", "integer")),
    ),
    "join": ((io("left"), io("right")), (io("text"),)),
    "fail": ((io("text"),), (io("text"),)),
    "sleep": ((io("text"), io("seconds", "float", has_default=True, default=0.05)), (io("text"),)),
    "upper": ((io("data", "file"),), (io("data", "file"), io("size", "integer"))),
    "split": ((io("text"),), (io("part", "file"),)),
    "broken": ((io("text"),), (io("text"),)),
    "hog": ((io("megabytes", "integer"),), (io("megabytes", "integer"),)),
    "listdir": ((io("folder", "directory"),), (io("names"), io("copy", "directory"))),
}


_INPUT_TYPES = {bool: "boolean", int: "integer", float: "float", str: "string"}


def trigger(
    kind: BuiltinTrigger = BuiltinTrigger.MANUAL,
    outputs: tuple[IoSpec, ...] = (io("text"),),
    **config: Value,
) -> StepSpec:
    """A built-in trigger; ``config``: its inputs' static values (``seconds=5``)."""
    if kind in (BuiltinTrigger.ONE_RUN, BuiltinTrigger.CRON, BuiltinTrigger.EMIT_EVERY):
        outputs = (io("fired_at"),)
    return StepSpec(
        step_id="trigger",
        name="Trigger",
        action_id=f"builtin-{kind.value}",
        action_name=kind.value,
        action_version="1.0",
        kind=StepKind.SOURCE,
        builtin_trigger=kind.value,
        outputs=outputs,
        inputs=tuple(io(name, _INPUT_TYPES.get(type(v), "string")) for name, v in config.items()),
        bindings=tuple(Binding(input=name, value=v) for name, v in config.items()),
    )


def source(
    artifact_ref: str,
    *,
    inputs: tuple[IoSpec, ...] = (),
    outputs: tuple[IoSpec, ...] = (io("text"),),
    **config: Value,
) -> StepSpec:
    """A user's source (``ryax_run.py``) as the trigger, built as ``artifact_ref``."""
    return StepSpec(
        step_id="trigger",
        name="Source",
        action_id="action-source",
        action_name=artifact_ref.rsplit(":", 1)[-1],
        action_version="1.0",
        kind=StepKind.SOURCE,
        artifact_ref=artifact_ref,
        inputs=inputs,
        outputs=outputs,
        bindings=tuple(Binding(input=name, value=v) for name, v in config.items()),
    )


def step(
    step_id: str,
    action: str,
    refs: dict[str, str],
    *,
    after: tuple[str, ...],
    bind: dict[str, tuple[str, str] | Value] | None = None,
    time_seconds: int | None = None,
    memory_bytes: int | None = None,
) -> StepSpec:
    inputs, outputs = SIGNATURES[action]
    bindings = []
    for name, source in (bind or {}).items():
        if isinstance(source, tuple):
            bindings.append(
                Binding(input=name, source=OutputRef(step_id=source[0], output=source[1]))
            )
        else:
            bindings.append(Binding(input=name, value=source))
    return StepSpec(
        step_id=step_id,
        name=step_id.upper(),
        action_id=f"action-{action}",
        action_name=action,
        action_version="1.0",
        kind=StepKind.PROCESSOR,
        artifact_ref=refs.get(action, f"local:test-{action}"),
        resources=Resources(time_seconds=time_seconds, memory_bytes=memory_bytes),
        inputs=inputs,
        outputs=outputs,
        bindings=tuple(bindings),
        parents=after,
    )


def chain(refs: dict[str, str], *, length: int = 3, action: str = "append") -> WorkflowSnapshot:
    """trigger -> s1 -> s2 -> ... each appending '+' to the text; the result is the last text."""
    steps = [trigger()]
    previous = "trigger"
    for i in range(1, length + 1):
        steps.append(
            step(f"s{i}", action, refs, after=(previous,), bind={"text": (previous, "text")})
        )
        previous = f"s{i}"
    return WorkflowSnapshot(
        name=f"chain of {length}",
        steps=tuple(steps),
        results=(ResultSpec(key="text", source=OutputRef(step_id=previous, output="text")),),
    )


# --- deploy orders as the studio sends them --------------------------------------------------


def _pb_value(value: Value) -> object:
    from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as pb

    if value is None:
        return pb.Value(null_value=True)
    if isinstance(value, bool):
        return pb.Value(boolean_value=value)
    if isinstance(value, int):
        return pb.Value(integer_value=value)
    if isinstance(value, float):
        return pb.Value(float_value=value)
    if isinstance(value, str):
        return pb.Value(string_value=value)
    return pb.Value(
        file=pb.FileRef(
            key=value.key, name=value.name, size_bytes=value.size_bytes, directory=value.directory
        )
    )


def _pb_io(spec: IoSpec) -> object:
    from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as pb

    message = pb.IoSpec(
        name=spec.name, type=spec.type.value, optional=spec.optional, enum_values=list(spec.enum_values),
        origin=spec.origin, human_name=spec.human_name, help=spec.help,
    )  # fmt: skip
    if spec.has_default:
        message.default_value.CopyFrom(_pb_value(spec.default))
    return message


def deployment_message(
    snapshot: WorkflowSnapshot,
    *,
    deployment_id: str,
    workflow_id: str,
    project_id: str,
    revision: int = 1,
    requested_by: str = "user-1",
) -> bytes:
    """``DeploymentRequested`` as the studio serializes it."""
    from datetime import UTC, datetime

    from google.protobuf.timestamp_pb2 import Timestamp

    from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as pb

    steps = []
    for s in snapshot.steps:
        resources = pb.Resources()
        if s.resources.time_seconds is not None:
            resources.time_seconds = s.resources.time_seconds
        if s.resources.memory_bytes is not None:
            resources.memory_bytes = s.resources.memory_bytes
        bindings = []
        for b in s.bindings:
            if b.source is not None:
                binding = pb.InputBinding(input=b.input)
                getattr(binding, "from").CopyFrom(
                    pb.OutputRef(step_id=b.source.step_id, output=b.source.output)
                )
            else:
                binding = pb.InputBinding(input=b.input, value=_pb_value(b.value))
            bindings.append(binding)
        steps.append(
            pb.StepSnapshot(
                step_id=s.step_id,
                action_id=s.action_id,
                action_name=s.action_name,
                action_version=s.action_version,
                kind=s.kind.value,
                builtin_trigger=s.builtin_trigger,
                artifact_ref=s.artifact_ref,
                resources=resources,
                inputs=[_pb_io(i) for i in s.inputs],
                outputs=[_pb_io(o) for o in s.outputs],
                bindings=bindings,
                parent_step_ids=list(s.parents),
                name=s.name,
            )
        )
    results = []
    for r in snapshot.results:
        result = pb.ResultSpec(key=r.key)
        getattr(result, "from").CopyFrom(
            pb.OutputRef(step_id=r.source.step_id, output=r.source.output)
        )
        results.append(result)
    at = Timestamp()
    at.FromDatetime(datetime.now(UTC))
    message = pb.DeploymentRequested(
        deployment_id=deployment_id, workflow_id=workflow_id, project_id=project_id, revision=revision,
        snapshot=pb.WorkflowSnapshot(name=snapshot.name, description=snapshot.description, steps=steps, results=results),
        requested_by=requested_by, requested_at=at,
    )  # fmt: skip
    if snapshot.endpoint is not None:
        e = snapshot.endpoint
        message.snapshot.endpoint.CopyFrom(
            pb.Endpoint(
                path=e.path,
                method=e.method,
                success_code=e.success_code,
                timeout_seconds=e.timeout_seconds,
            )
        )
    return message.SerializeToString()


def undeployment_message(
    *, workflow_id: str, project_id: str, cancel_running: bool = False
) -> bytes:
    from datetime import UTC, datetime

    from google.protobuf.timestamp_pb2 import Timestamp

    from oryx_runner.infrastructure.messaging.generated.studio.v1 import deployments_pb2 as pb

    at = Timestamp()
    at.FromDatetime(datetime.now(UTC))
    return pb.UndeploymentRequested(
        workflow_id=workflow_id,
        project_id=project_id,
        cancel_running=cancel_running,
        requested_by="user-1",
        requested_at=at,
    ).SerializeToString()
