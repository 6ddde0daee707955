"""The local site on its own: real wrapper processes under their watchdogs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from oryx_runner.application.ports import (
    ActionUnavailable,
    ActionVersion,
    ExecutionRequest,
    ExecutionStatus,
    SiteValue,
)
from oryx_runner.domain.workflows import IoType, Resources
from oryx_runner.infrastructure.sites.local import LocalSite, LocalSiteSettings


def version(refs: dict[str, str], name: str, **resources: int) -> ActionVersion:
    return ActionVersion(
        artifact_ref=refs[name], name=name, version="1.0", resources=Resources(**resources)
    )


def request(execution_id: str, **inputs: object) -> ExecutionRequest:
    types = {"text": IoType.STRING, "seconds": IoType.FLOAT, "megabytes": IoType.INTEGER}
    return ExecutionRequest(
        execution_id=execution_id,
        inputs={k: SiteValue(type=types[k], value=v) for k, v in inputs.items()},  # type: ignore[arg-type]
        output_uploads={},
    )


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of ours counts as gone
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    return True


async def wait_for(condition, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition did not come true in time")


@contextlib.asynccontextmanager
async def local_site(root: Path, state: Path, **settings: object):  # type: ignore[no-untyped-def]
    site = LocalSite(LocalSiteSettings(artifacts_dir=root, state_dir=state, **settings))  # type: ignore[arg-type]
    await site.start()
    try:
        yield site
    finally:
        await site.close()


def crash(site: LocalSite) -> list[int]:
    """Forget the site as a killed runner would: its tasks stop, its leases are let go, its
    wrappers keep running. Answers the wrappers' pids."""
    for task in [site._keeper, *site._tasks]:
        if task is not None:
            task.cancel()
    site._closing = True
    pids = []
    for replica in list(site._replicas.values()):
        os.close(replica.lease_fd)
        pids.append(replica.wrapper_pid)
    site._replicas.clear()
    site._versions.clear()
    return pids


@pytest.fixture
def side_effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "side-effects.txt"
    monkeypatch.setenv("ORYX_TEST_SIDE_EFFECTS", str(path))
    return path


def counted(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


async def test_execute_and_replay_by_execution_id(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state") as site:
        action = version(refs, "append")
        first = await site.execute(action, request("exec-1", text="a"))
        assert first.status is ExecutionStatus.SUCCESS and first.output_sets == [{"text": "a+"}]
        again = await site.execute(action, request("exec-1", text="a"))
        assert again.replayed and again.output_sets == first.output_sets
        assert counted(side_effects) == Counter({"exec-1": 1})
        replicas = site.replicas_of(refs["append"])
    assert all(gone(int(r["wrapper_pid"])) for r in replicas)  # close() stopped them
    assert list((tmp_path / "state").glob("*.json")) == []


async def test_replicas_follow_the_work_then_scale_down(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state", max_replicas=3, scale_down_seconds=1.0) as site:
        action = version(refs, "sleep")
        await site.deploy(action)
        assert len(site.replicas_of(refs["sleep"])) == 1
        answers = await asyncio.gather(
            *(site.execute(action, request(f"e{i}", text=str(i), seconds=0.8)) for i in range(5))
        )
        assert all(a.status is ExecutionStatus.SUCCESS for a in answers)
        # grew to the maximum, not beyond (on a loaded machine the first replicas may have
        # answered every request before the last one was up: the count is what was started)
        assert site.started_replicas == 3
        assert 2 <= len({a.replica for a in answers}) <= 3
        await wait_for(lambda: len(site.replicas_of(refs["sleep"])) == 1, within=10)


async def test_idle_versions_stop_and_start_again_on_demand(
    artifacts, tmp_path, side_effects
) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state", idle_seconds=1.0) as site:
        action = version(refs, "append")
        await site.deploy(action)
        (replica,) = site.replicas_of(refs["append"])
        await wait_for(lambda: not site.replicas_of(refs["append"]), within=10)
        await wait_for(lambda: gone(int(replica["wrapper_pid"])))
        answer = await site.execute(action, request("later", text="b"))
        assert answer.status is ExecutionStatus.SUCCESS and answer.replica != replica["id"]


async def test_the_number_of_running_versions_is_capped(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state", max_versions=1) as site:
        await site.deploy(version(refs, "append"))
        (first,) = site.replicas_of(refs["append"])
        texts = {k: SiteValue(type=IoType.STRING, value=k[0]) for k in ("left", "right")}
        join = ExecutionRequest(execution_id="j", output_uploads={}, inputs=texts)
        answer = await site.execute(version(refs, "join"), join)
        assert answer.output_sets == [{"text": "l|r"}]
        await wait_for(lambda: gone(int(first["wrapper_pid"])))
        assert site.replicas_of(refs["append"]) == []


async def test_memory_is_limited_where_the_os_allows(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state", memory_headroom_bytes=768 * 1024**2) as site:
        limited = version(refs, "hog", memory_bytes=64 * 1024**2)
        small = await site.execute(limited, request("small", megabytes=16))
        assert small.status is ExecutionStatus.SUCCESS
        big = await site.execute(limited, request("big", megabytes=2048))
        assert big.status is ExecutionStatus.CRASH, big
        assert big.error is not None


async def test_an_action_that_cannot_load_is_refused(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state") as site:
        with pytest.raises(ActionUnavailable, match="not_a_module_anywhere"):
            await site.deploy(version(refs, "broken"))
        with pytest.raises(ActionUnavailable):
            await site.execute(version(refs, "broken"), request("x", text="x"))
        with pytest.raises(ActionUnavailable, match="local:<digest>"):
            await site.execute(
                ActionVersion(artifact_ref="docker:thing", name="x", version="1"), request("y")
            )


async def test_orphans_stop_after_the_grace(artifacts, tmp_path, side_effects) -> None:
    root, refs = artifacts
    site = LocalSite(
        LocalSiteSettings(
            artifacts_dir=root, state_dir=tmp_path / "state", orphan_grace_seconds=1.0
        )
    )
    await site.start()
    await site.deploy(version(refs, "append"))
    pids = crash(site)
    assert pids and not any(gone(p) for p in pids)
    await wait_for(lambda: all(gone(p) for p in pids), within=15)
    await wait_for(lambda: not list((tmp_path / "state").glob("*.json")), within=5)


async def test_a_new_site_adopts_the_wrappers_and_their_answers(
    artifacts, tmp_path, side_effects
) -> None:
    root, refs = artifacts
    state = tmp_path / "state"
    first = LocalSite(
        LocalSiteSettings(artifacts_dir=root, state_dir=state, orphan_grace_seconds=30)
    )
    await first.start()
    action = version(refs, "sleep")
    in_flight = asyncio.create_task(
        first.execute(action, request("interrupted", text="t", seconds=1.0))
    )
    await wait_for(lambda: counted(side_effects)["interrupted"] == 1)
    pids = crash(first)
    in_flight.cancel()  # the runner is gone: nobody waits for the answer any more
    with contextlib.suppress(asyncio.CancelledError):
        await in_flight
    async with local_site(root, state) as second:
        assert second.adopted_replicas == 1
        assert [r["wrapper_pid"] for r in second.replicas_of(refs["sleep"])] == pids
        answer = await second.execute(action, request("interrupted", text="t", seconds=1.0))
        assert answer.status is ExecutionStatus.SUCCESS and answer.replayed
        assert counted(side_effects)["interrupted"] == 1
    assert all(gone(p) for p in pids)


async def test_the_same_execution_asked_twice_at_once_runs_once(
    artifacts, tmp_path, side_effects
) -> None:
    root, refs = artifacts
    async with local_site(root, tmp_path / "state", max_replicas=2) as site:
        action = version(refs, "sleep")
        await site.deploy(action)
        busy = asyncio.create_task(site.execute(action, request("other", text="o", seconds=0.5)))
        await asyncio.sleep(0.05)
        first, second = await asyncio.gather(
            site.execute(action, request("twice", text="t", seconds=0.2)),
            site.execute(action, request("twice", text="t", seconds=0.2)),
        )
        await busy
        assert first.output_sets == second.output_sets == [{"text": "t"}]
        assert second.replayed
        assert counted(side_effects)["twice"] == 1
