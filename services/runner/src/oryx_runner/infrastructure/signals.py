"""This process's wake-ups: who wants to know when work appears, a run changes or stops,
or a deployment waits. The unit of work calls it after a commit; the database listener calls
it when another runner process's notification arrives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)


class LocalSignals:
    def __init__(self) -> None:
        self._work: list[Callable[[], None]] = []
        self._deploy: list[Callable[[], None]] = []
        self._cancel: list[Callable[[str], None]] = []
        self._deployed: list[Callable[[str], None]] = []
        self._api_keys: list[Callable[[str], None]] = []
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._ended: dict[str, set[asyncio.Event]] = {}

    def on_work(self, callback: Callable[[], None]) -> None:
        self._work.append(callback)

    def on_deploy(self, callback: Callable[[], None]) -> None:
        self._deploy.append(callback)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        self._cancel.append(callback)

    def on_deployed(self, callback: Callable[[str], None]) -> None:
        """``callback(project_id)`` when a workflow of the project changed deployment status
        (``""``: any project may have, e.g. after the database connection came back)."""
        self._deployed.append(callback)

    def on_api_keys(self, callback: Callable[[str], None]) -> None:
        """``callback(project_id)`` when the project's API keys or settings changed
        (``""``: any project may have)."""
        self._api_keys.append(callback)

    @contextlib.contextmanager
    def watch(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever the run changes, while the block lasts."""
        event = asyncio.Event()
        self._watchers.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers.get(run_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._watchers[run_id]

    @contextlib.contextmanager
    def watch_end(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set when the run ends (succeeds, fails or is cancelled)."""
        event = asyncio.Event()
        self._ended.setdefault(run_id, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._ended.get(run_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._ended[run_id]

    # -- the Signals port -----------------------------------------------------------------

    def work(self) -> None:
        for callback in self._work:
            _safely(callback)

    def deploy(self) -> None:
        for callback in self._deploy:
            _safely(callback)

    def cancel(self, run_id: str) -> None:
        for callback in self._cancel:
            _safely(callback, run_id)

    def deployed(self, project_id: str) -> None:
        for callback in self._deployed:
            _safely(callback, project_id)

    def api_keys(self, project_id: str) -> None:
        for callback in self._api_keys:
            _safely(callback, project_id)

    def run_changed(self, run_id: str) -> None:
        for event in self._watchers.get(run_id, ()):
            event.set()

    def run_ended(self, run_id: str) -> None:
        for event in self._ended.get(run_id, ()):
            event.set()


def _safely(callback: Callable[..., None], *args: str) -> None:
    try:
        callback(*args)
    except Exception:
        log.exception("a wake-up callback failed")
