"""Where the builders get ``oryx-wrapper`` from, and which version of it goes into a build.

Three sources, in this order of preference:

- a wheel file (``wrapper_path`` pointing at a ``.whl``): installed as is;
- a source tree (``wrapper_path``, by default this repository's ``sdk/wrapper`` when the
  service runs from a checkout): built once into a wheel, cached under the artifacts folder
  by the tree's content digest;
- the package index: the requirement ``wrapper_requirement`` (``oryx-wrapper`` by default;
  pin it, ``oryx-wrapper==0.3.1``, so that builds are content-addressed on a known version).

``version`` names what is installed and takes part in the builds' content address: a change of
the wrapper's sources gives new artifacts.
"""

import asyncio
import hashlib
import os
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from oryx_action_builder.infrastructure.builders.process import StepTimedOut, run_step

IGNORED_DIRS = {"__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def repository_wrapper() -> Path | None:
    """``sdk/wrapper`` of the checkout this service runs from (an editable install), if any."""
    root = Path(__file__).resolve().parents[6]
    candidate = root / "sdk" / "wrapper"
    return candidate if (candidate / "pyproject.toml").is_file() else None


class WrapperUnavailable(Exception):
    pass


@dataclass(frozen=True, kw_only=True)
class WrapperPackage:
    install: str
    """What pip installs: a wheel's path, or a requirement."""
    version: str
    """What takes part in the content address."""
    wheel: Path | None = None


class WrapperSource:
    def __init__(
        self,
        *,
        path: Path | None,
        requirement: str,
        cache_dir: Path,
        pip_python: str = sys.executable,
        timeout: float = 300.0,
    ) -> None:
        self._path = path
        self._requirement = requirement
        self._cache_dir = cache_dir
        self._pip_python = pip_python
        self._timeout = timeout
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        return str(self._path) if self._path is not None else self._requirement

    async def version(self) -> str:
        """The version that goes into the content address (cheap: no build)."""
        if self._path is None:
            return f"index:{self._requirement}"
        path = self._path
        if path.is_file():
            return f"wheel:{path.name}:{await asyncio.to_thread(_file_digest, path)}"
        if not (path / "pyproject.toml").is_file():
            raise WrapperUnavailable(f"{path} is neither a wheel nor a source tree")
        declared, digest = await asyncio.to_thread(_tree_version, path)
        return f"source:{declared}+{digest}"

    async def package(self, *, log: Path) -> WrapperPackage:
        """What to install; builds (once, logged into ``log``) the wheel of a source tree."""
        version = await self.version()
        if self._path is None:
            return WrapperPackage(install=self._requirement, version=version)
        if self._path.is_file():
            return WrapperPackage(install=str(self._path), version=version, wheel=self._path)
        async with self._lock:
            folder = self._cache_dir / hashlib.sha256(version.encode()).hexdigest()[:24]
            wheels = sorted(folder.glob("*.whl"))
            if not wheels:
                wheels = await self._build_wheel(folder, log=log)
        return WrapperPackage(install=str(wheels[0]), version=version, wheel=wheels[0])

    async def _build_wheel(self, folder: Path, *, log: Path) -> list[Path]:
        staging = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            command = [
                self._pip_python, "-m", "pip", "wheel", "--no-deps", "--no-input",
                "--disable-pip-version-check", "--progress-bar", "off",
                "--wheel-dir", str(staging), str(self._path),
            ]  # fmt: skip
            try:
                code = await run_step(command, log=log, limit_seconds=self._timeout)
            except StepTimedOut:
                raise WrapperUnavailable(
                    f"building the oryx-wrapper wheel from {self._path} took more than "
                    f"{self._timeout:g} s"
                ) from None
            wheels = sorted(staging.glob("*.whl"))
            if code != 0 or not wheels:
                raise WrapperUnavailable(
                    f"could not build the oryx-wrapper wheel from {self._path} (pip exited "
                    f"with {code})"
                )
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return [folder / wheel.name for wheel in wheels]


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def _tree_version(root: Path) -> tuple[str, str]:
    """(the declared version, a digest of the tree's files), caches and build output aside."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text())
        declared = str(project.get("project", {}).get("version", "0"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WrapperUnavailable(f"cannot read {root / 'pyproject.toml'}: {exc}") from exc
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in IGNORED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath) / name
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            with path.open("rb") as file:
                digest.update(hashlib.sha256(file.read()).digest())
    return declared, digest.hexdigest()[:16]
