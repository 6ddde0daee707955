"""The ``local`` builder: a virtualenv per action version, for the local site.

Layout under the artifacts folder (``docs/action-builder.md`` describes it for operators)::

    <digest>/                  one built action version; the artifact reference is local:<digest>
      READY                    written last: the artifact is complete
      artifact.json            what was built from what (sources, Python, wrapper, build id)
      action/                  the action's sources, extracted from the archive
      venv/                    the virtualenv: the requirements and oryx-wrapper
      requirements.lock        ``pip freeze`` of the venv: the resolved version of everything
      build.log                the whole log of the build (venv, pip)
    .tmp/                      builds in progress, renamed to <digest>/ when complete
    .wrapper/                  the oryx-wrapper wheel built from a source tree, per version
    logs/<build id>.log        the logs of the builds that failed or were cancelled

Content addressing: ``digest`` hashes the source archive's sha256, the Python (implementation
and major.minor) and the wrapper's version. A request whose digest already has ``READY``
succeeds at once, without downloading anything: an identical action is built once, and a
request delivered again after a crash is cheap.

A rebuild of a digest whose folder lost its ``READY`` (an operator forcing one) installs with
the old ``requirements.lock`` as pip constraints: the same versions come back.

Speed: the venv is made with ``--without-pip`` (~0.05 s instead of ~3 s for ensurepip) and the
service's own pip installs into it (``pip --python <venv>``, pip >= 22.3).
"""

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from oryx_action_builder.domain.builds import BuildRequest, BuildResult
from oryx_action_builder.infrastructure.builders.archive import (
    DEFAULT_MAX_BYTES,
    ArchiveRejected,
    extract_action,
)
from oryx_action_builder.infrastructure.builders.process import StepTimedOut, run_step, tail
from oryx_action_builder.infrastructure.builders.wrapper import WrapperSource, WrapperUnavailable

log = logging.getLogger(__name__)

LAYOUT_VERSION = "oryx-local-build/v1"
"""Part of the content address: a new layout makes new artifacts."""
READY = "READY"
LOCK = "requirements.lock"
BUILD_LOG = "build.log"
WRAPPER_NAMES = {"oryx-wrapper", "oryx_wrapper"}
PYTHON_VERSION = re.compile(r"\d+(\.\d+){0,2}")
PIP_WITH_PYTHON_OPTION = (22, 3)
PROBE = (
    "import platform, sys; print(platform.python_implementation().lower()); "
    "print('.'.join(map(str, sys.version_info[:3])))"
)


class PythonUnavailable(Exception):
    pass


class BuildStepFailed(Exception):
    pass


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    path: str
    implementation: str
    version: str
    """major.minor.micro"""

    @property
    def tag(self) -> str:
        """What the content address keeps of it: implementation and major.minor."""
        major, minor, *_ = self.version.split(".")
        return f"{self.implementation}-{major}.{minor}"

    def provides(self, wanted: str) -> bool:
        mine, theirs = self.version.split("."), wanted.split(".")
        return mine[: len(theirs)] == theirs


def content_digest(*, source_sha256: str, python: str, wrapper: str) -> str:
    text = "\n".join((LAYOUT_VERSION, source_sha256, python, wrapper))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def safe_name(build_id: str) -> str:
    """A build id as a file name (ids come from messages: never trust them as paths)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", build_id):
        return build_id
    return hashlib.sha256(build_id.encode()).hexdigest()[:32]


class LocalVenvBuilder:
    def __init__(
        self,
        *,
        artifacts_dir: Path,
        wrapper: WrapperSource,
        python: str = sys.executable,
        pip_python: str = sys.executable,
        pip_timeout: float = 600.0,
        pip_network_timeout: float = 30.0,
        pip_index_url: str | None = None,
        log_tail_lines: int = 40,
        max_source_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``python``: the interpreter of new venvs (when the action asks for no version).
        ``pip_python``: the interpreter whose pip installs into them.
        ``pip_timeout``: seconds for the whole build (venv, pip install, freeze)."""
        self._root = artifacts_dir
        self._wrapper = wrapper
        self._python = python
        self._pip_python = pip_python
        self._pip_timeout = pip_timeout
        self._pip_network_timeout = pip_network_timeout
        self._pip_index_url = pip_index_url
        self._tail_lines = log_tail_lines
        self._max_source_bytes = max_source_bytes
        self._interpreters: dict[str, Interpreter | None] = {}
        self._pip_has_python_option: bool | None = None

    def artifact_dir(self, artifact_ref: str) -> Path:
        """The folder of ``local:<digest>``."""
        kind, _, digest = artifact_ref.partition(":")
        if kind != "local" or not re.fullmatch(r"[0-9a-f]{32}", digest):
            raise ValueError(f"not a local artifact reference: {artifact_ref!r}")
        return self._root / digest

    # the Builder port ---------------------------------------------------------------------

    async def find(self, *, request: BuildRequest) -> BuildResult | None:
        try:
            digest = await self._digest(request)
        except (PythonUnavailable, WrapperUnavailable):
            return None  # build() reports why
        return await asyncio.to_thread(self._reuse, digest)

    async def build(self, *, request: BuildRequest, archive: Path) -> BuildResult:
        try:
            interpreter = await self._interpreter(request.python_version)
            wrapper_version = await self._wrapper.version()
        except (PythonUnavailable, WrapperUnavailable) as exc:
            return BuildResult.failed(error=str(exc))
        digest = content_digest(
            source_sha256=request.source_sha256,
            python=interpreter.tag,
            wrapper=wrapper_version,
        )
        if reused := await asyncio.to_thread(self._reuse, digest):
            return reused
        work = self._root / ".tmp" / f"{digest}.{secrets.token_hex(4)}"
        work.mkdir(parents=True)
        try:
            return await self._build(request, archive, interpreter, digest, work)
        except asyncio.CancelledError:
            self._keep_log(request, work / BUILD_LOG, "cancelled")
            raise
        finally:
            # Synchronous on purpose: it must run even while the task is being cancelled.
            shutil.rmtree(work, ignore_errors=True)

    # building -----------------------------------------------------------------------------

    async def _build(
        self,
        request: BuildRequest,
        archive: Path,
        interpreter: Interpreter,
        digest: str,
        work: Path,
    ) -> BuildResult:
        final = self._root / digest
        build_log = work / BUILD_LOG
        started = time.monotonic()
        deadline = started + self._pip_timeout
        _note(
            build_log,
            f"build {request.build_id}: action {request.action_name} {request.version} "
            f"({request.action_id}) as local:{digest}\n"
            f"python {interpreter.version} ({interpreter.path}); wrapper "
            f"{self._wrapper.description}\n",
        )
        try:
            try:
                await asyncio.to_thread(
                    extract_action, archive, work / "action", max_bytes=self._max_source_bytes
                )
            except ArchiveRejected as exc:
                raise BuildStepFailed(f"the source archive was refused: {exc}") from None
            venv = work / "venv"
            venv_python = venv / "bin" / "python"
            with_pip = not await self._pip_can_target()
            command = [interpreter.path, "-m", "venv", str(venv)]
            if not with_pip:
                command.insert(3, "--without-pip")
            await self._step(command, build_log, deadline, "creating the virtualenv failed")
            try:
                wrapper = await self._wrapper.package(log=build_log)
            except WrapperUnavailable as exc:
                raise BuildStepFailed(str(exc)) from None
            install = [*self._pip(venv_python), "install", *self._pip_options()]
            requirements = work / "action" / "requirements.txt"
            if requirements.is_file():
                install += ["--requirement", str(requirements)]
            if constraints := await asyncio.to_thread(self._old_lock_constraints, final, work):
                _note(build_log, f"rebuilding with the versions of {final / LOCK}\n")
                install += ["--constraint", str(constraints)]
            install.append(wrapper.install)
            await self._step(
                install,
                build_log,
                deadline,
                "pip could not install the action's requirements",
                cwd=work / "action",  # relative paths in requirements.txt are the action's
            )
            await self._step(
                [*self._pip(venv_python), "freeze", "--disable-pip-version-check"],
                build_log,
                deadline,
                "pip could not list what it installed",
                stdout=work / LOCK,
            )
        except BuildStepFailed as exc:
            return await asyncio.to_thread(self._failed, request, build_log, str(exc))
        seconds = time.monotonic() - started
        _note(build_log, f"built in {seconds:.2f} s\n")
        await asyncio.to_thread(
            self._finish, request, interpreter, digest, work, wrapper.version, seconds
        )
        reused = await asyncio.to_thread(self._reuse, digest)
        if reused is None:  # pragma: no cover - _finish leaves READY or raises
            raise RuntimeError(f"artifact {digest} vanished after its build")
        return BuildResult.succeeded(
            artifact_ref=reused.artifact_ref,
            lock=reused.lock,
            log_tail=tail(final / BUILD_LOG, lines=self._tail_lines),
        )

    async def _step(
        self,
        command: list[str],
        build_log: Path,
        deadline: float,
        failure: str,
        *,
        cwd: Path | None = None,
        stdout: Path | None = None,
    ) -> None:
        try:
            code = await run_step(
                command,
                log=build_log,
                limit_seconds=deadline - time.monotonic(),
                cwd=cwd,
                env=self._environment(),
                stdout=stdout,
            )
        except StepTimedOut:
            _note(build_log, f"\nstopped: the build took more than {self._pip_timeout:g} s\n")
            raise BuildStepFailed(
                f"the build did not finish within {self._pip_timeout:g} s and was stopped "
                "(ORYX_ACTION_BUILDER_PIP_TIMEOUT_SECONDS)"
            ) from None
        if code != 0:
            reason = _last_error(build_log)
            detail = f": {reason}" if reason else ""
            raise BuildStepFailed(f"{failure} (exit code {code}){detail}")

    def _finish(
        self,
        request: BuildRequest,
        interpreter: Interpreter,
        digest: str,
        work: Path,
        wrapper_version: str,
        seconds: float,
    ) -> None:
        final = self._root / digest
        _relocate(work / "venv", final / "venv")
        (work / "artifact.json").write_text(
            json.dumps(
                {
                    "artifact_ref": f"local:{digest}",
                    "layout": LAYOUT_VERSION,
                    "source_sha256": request.source_sha256,
                    "python": interpreter.tag,
                    "python_version": interpreter.version,
                    "python_executable": interpreter.path,
                    "wrapper": wrapper_version,
                    "build_id": request.build_id,
                    "action_id": request.action_id,
                    "action_name": request.action_name,
                    "version": request.version,
                    "system_dependencies": list(request.system_dependencies),
                    "built_at": datetime.now(UTC).isoformat(),
                    "build_seconds": round(seconds, 3),
                },
                indent=2,
            )
            + "\n"
        )
        (work / READY).write_text(datetime.now(UTC).isoformat() + "\n")
        if final.exists() and not (final / READY).is_file():
            # A damaged or forced rebuild: its lock was used above; the rest goes.
            trash = self._root / ".tmp" / f"{digest}.old.{secrets.token_hex(4)}"
            os.replace(final, trash)
            shutil.rmtree(trash, ignore_errors=True)
        try:
            os.replace(work, final)
        except OSError:
            if (final / READY).is_file():
                log.info("artifact %s was finished meanwhile by another builder", digest)
                return
            raise

    def _failed(self, request: BuildRequest, build_log: Path, error: str) -> BuildResult:
        kept = self._keep_log(request, build_log, f"failed: {error}")
        return BuildResult.failed(
            error=f"{error} (full log: {kept})", log_tail=tail(build_log, lines=self._tail_lines)
        )

    def _keep_log(self, request: BuildRequest, build_log: Path, ending: str) -> Path:
        """Keep the log of a build that made no artifact as ``logs/<build id>.log``."""
        kept = self._root / "logs" / f"{safe_name(request.build_id)}.log"
        with contextlib.suppress(OSError):
            _note(build_log, f"\n{ending}\n")
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(build_log, kept)
        return kept

    def _reuse(self, digest: str) -> BuildResult | None:
        folder = self._root / digest
        if not (folder / READY).is_file():
            return None
        try:
            lock = (folder / LOCK).read_text()
        except OSError:
            lock = ""
        return BuildResult.succeeded(
            artifact_ref=f"local:{digest}",
            lock=lock,
            log_tail=f"already built: {folder}",
            reused=True,
        )

    def _old_lock_constraints(self, final: Path, work: Path) -> Path | None:
        """The lock of a previous build of the same digest, as pip constraints."""
        try:
            lock = (final / LOCK).read_text()
        except OSError:
            return None
        lines = []
        for line in lock.splitlines():
            stripped = line.strip()
            name = re.split(r"[\s=<>!~;\[@]", stripped, maxsplit=1)[0].lower()
            # Direct references cannot be constraints; the wrapper comes from its own source.
            if not stripped or stripped.startswith(("#", "-")) or " @ " in stripped:
                continue
            if name.replace("_", "-") in WRAPPER_NAMES:
                continue
            lines.append(stripped)
        if not lines:
            return None
        constraints = work / "constraints.txt"
        constraints.write_text("\n".join(lines) + "\n")
        return constraints

    # the tools ----------------------------------------------------------------------------

    async def _digest(self, request: BuildRequest) -> str:
        interpreter = await self._interpreter(request.python_version)
        return content_digest(
            source_sha256=request.source_sha256,
            python=interpreter.tag,
            wrapper=await self._wrapper.version(),
        )

    async def _interpreter(self, wanted: str) -> Interpreter:
        base = await self._probe(self._python)
        if base is None:
            raise PythonUnavailable(
                f"the builder's Python {self._python!r} does not run (ORYX_ACTION_BUILDER_PYTHON)"
            )
        if not wanted or base.provides(wanted):
            return base
        if not PYTHON_VERSION.fullmatch(wanted):
            raise PythonUnavailable(f"{wanted!r} is not a Python version (such as 3.11)")
        name = "python" + ".".join(wanted.split(".")[:2])
        found = shutil.which(name)
        candidate = await self._probe(found) if found else None
        if candidate is not None and candidate.provides(wanted):
            return candidate
        raise PythonUnavailable(
            f"this builder has no Python {wanted} (its default is {base.version}, and no "
            f"{name} is on its PATH); install it there, or drop options.python.version"
        )

    async def _probe(self, path: str) -> Interpreter | None:
        if path not in self._interpreters:
            self._interpreters[path] = await _probe(path)
        return self._interpreters[path]

    async def _pip_can_target(self) -> bool:
        """Whether the service's pip can install into another interpreter (pip >= 22.3)."""
        if self._pip_has_python_option is None:
            output = await _output([self._pip_python, "-m", "pip", "--version"])
            match = re.match(r"pip (\d+)\.(\d+)", output or "")
            version = (int(match[1]), int(match[2])) if match else (0, 0)
            self._pip_has_python_option = version >= PIP_WITH_PYTHON_OPTION
            if not self._pip_has_python_option:
                log.warning(
                    "%s has no pip >= 22.3: every venv gets its own pip (slower builds)",
                    self._pip_python,
                )
        return self._pip_has_python_option

    def _pip(self, venv_python: Path) -> list[str]:
        if self._pip_has_python_option:
            return [self._pip_python, "-m", "pip", "--python", str(venv_python)]
        return [str(venv_python), "-m", "pip"]

    def _pip_options(self) -> list[str]:
        options = [
            "--no-input",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "--timeout",
            f"{self._pip_network_timeout:g}",
        ]
        if self._pip_index_url:
            options += ["--index-url", self._pip_index_url]
        return options

    @staticmethod
    def _environment() -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        }
        env["PIP_NO_INPUT"] = "1"
        env["PYTHONNOUSERSITE"] = "1"
        return env


def _note(build_log: Path, text: str) -> None:
    with build_log.open("a", encoding="utf-8") as file:
        file.write(text)


def _last_error(build_log: Path) -> str:
    """pip's last ``ERROR:`` line, the sentence that says what went wrong."""
    lines = tail(build_log, lines=200, max_chars=50_000).splitlines()
    errors = [line.strip() for line in lines if line.startswith("ERROR:")]
    return errors[-1][len("ERROR:") :].strip()[:500] if errors else ""


def _relocate(venv: Path, target: Path) -> None:
    """Point the venv's scripts and config at the folder it is about to be renamed to.

    pip writes the venv's absolute path into script shebangs and ``activate``; running
    ``venv/bin/python -m ...`` needs none of it, but a console script would break.
    """
    old, new = str(venv).encode(), str(target).encode()
    paths = [venv / "pyvenv.cfg", *(venv / "bin").iterdir()]
    for path in paths:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data[:8192]:
            path.write_bytes(data.replace(old, new))


async def _output(command: list[str], limit_seconds: float = 30.0) -> str | None:
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout=limit_seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    return out.decode(errors="replace") if process.returncode == 0 else None


async def _probe(path: str) -> Interpreter | None:
    output = await _output([path, "-c", PROBE])
    if not output:
        return None
    implementation, version = output.split()[:2]
    return Interpreter(path=path, implementation=implementation, version=version)
