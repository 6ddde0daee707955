"""Durability: a runner killed with SIGKILL loses nothing and re-runs no step; two runners on
one database run every step exactly once. Real runner processes, real wrappers."""

from __future__ import annotations

import asyncio
import time

import pytest

from oryx_runner.domain.workflows import OutputRef, ResultSpec, WorkflowSnapshot

from ..actions import step, trigger
from ..conftest import drop_database, new_database
from .processes import RunnerProcess, client_for, executions, kill_leftover_replicas

RUNS = 50


def three_sleeps(refs: dict[str, str], seconds: float) -> WorkflowSnapshot:
    steps = [trigger()]
    previous = "trigger"
    for i in (1, 2, 3):
        steps.append(
            step(
                f"s{i}",
                "sleep",
                refs,
                after=(previous,),
                bind={"text": (previous, "text"), "seconds": seconds},
            )
        )
        previous = f"s{i}"
    return WorkflowSnapshot(
        name="three sleeps",
        steps=tuple(steps),
        results=(ResultSpec(key="text", source=OutputRef(step_id="s3", output="text")),),
    )


@pytest.fixture
async def fresh_database():  # type: ignore[no-untyped-def]
    url = await new_database("oryx_runner_durability")
    yield url
    await drop_database(url)


async def wait_all_done(client, project_id: str, *, within: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = await client.count(
            "SELECT count(*) FROM runs WHERE project_id = :p AND status = 'running'", p=project_id
        )
        if left == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{left} runs still running after {within} s")


async def test_a_runner_killed_mid_way_loses_nothing_and_reruns_no_step(
    fresh_database, artifacts, tmp_path
) -> None:
    root, refs = artifacts
    side_effects = tmp_path / "side-effects.txt"
    data_dir = tmp_path / "runner"
    runner = RunnerProcess(
        database_url=fresh_database,
        data_dir=data_dir,
        artifacts_dir=root,
        side_effects=side_effects,
        env={"ORYX_RUNNER_LOCAL_MAX_REPLICAS": "4"},
    )
    try:
        async with client_for(fresh_database, tmp_path / "client") as client:
            await runner.start()
            workflow = await client.deploy(three_sleeps(refs, 0.15), project_id="p1")
            await asyncio.gather(
                *(client.start(workflow, project_id="p1", text=f"run-{i}") for i in range(RUNS))
            )
            # kill it when a good part is done and steps are in flight
            for _ in range(600):
                done = await client.count(
                    "SELECT count(*) FROM step_runs "
                    "WHERE status = 'succeeded' AND step_id <> 'trigger'"
                )
                running = await client.count(
                    "SELECT count(*) FROM step_runs WHERE status = 'running'"
                )
                if done >= RUNS and running >= 2:
                    break
                await asyncio.sleep(0.02)
            in_flight = running
            runner.kill()
            killed_at = time.monotonic()
            assert await client.count("SELECT count(*) FROM runs WHERE status = 'running'") > 0

            await runner.start()  # the same data folder: it adopts the wrappers left running
            await wait_all_done(client, "p1", within=90)
            recovered_in = time.monotonic() - killed_at

            statuses = await client.rows("SELECT status, result FROM runs WHERE project_id = 'p1'")
            assert len(statuses) == RUNS
            assert all(s == "succeeded" for s, _ in statuses), statuses
            assert sorted(r["text"] for _, r in statuses) == sorted(f"run-{i}" for i in range(RUNS))

            steps = await client.rows(
                "SELECT id, attempt FROM step_runs WHERE step_id <> 'trigger'"
            )
            assert len(steps) == 3 * RUNS
            counted = executions(side_effects)
            twice = {sid: n for sid, n in counted.items() if n != 1}
            assert not twice, f"executions that ran more than once: {twice}"
            assert {sid for sid, _ in steps} == set(counted)
            recovered = await client.count(
                "SELECT count(*) FROM run_events WHERE type = 'step.recovered'"
            )
            assert recovered >= 1, "no step was interrupted: the test killed nothing in flight"
            assert "adopted replica" in runner.output()
            print(
                f"\nkilled with {in_flight} steps in flight; {recovered} recovered, all {RUNS} "
                f"runs done {recovered_in:.1f} s after the kill; every step ran once"
            )
    finally:
        runner.stop()
        kill_leftover_replicas(data_dir / "local-site")


async def test_two_runners_on_one_database_run_every_step_exactly_once(
    fresh_database, artifacts, tmp_path
) -> None:
    root, refs = artifacts
    side_effects = tmp_path / "side-effects.txt"
    runners = [
        RunnerProcess(
            database_url=fresh_database,
            data_dir=tmp_path / f"runner-{i}",
            artifacts_dir=root,
            side_effects=side_effects,
            env={"ORYX_RUNNER_LOCAL_MAX_REPLICAS": "3"},
        )
        for i in range(2)
    ]
    try:
        async with client_for(fresh_database, tmp_path / "client") as client:
            await asyncio.gather(*(r.start() for r in runners))
            workflow = await client.deploy(three_sleeps(refs, 0.05), project_id="p2")
            await asyncio.gather(
                *(client.start(workflow, project_id="p2", text=f"run-{i}") for i in range(RUNS))
            )
            await wait_all_done(client, "p2", within=90)
            assert (
                await client.count("SELECT count(*) FROM runs WHERE status = 'succeeded'") == RUNS
            )
            counted = executions(side_effects)
            steps = await client.rows("SELECT id FROM step_runs WHERE step_id <> 'trigger'")
            assert len(steps) == 3 * RUNS
            assert {sid for (sid,) in steps} == set(counted)
            assert set(counted.values()) == {1}, "a step ran twice"
            by_runner = await client.rows(
                "SELECT data->>'runner_id', count(*) FROM run_events "
                "WHERE type = 'step.started' GROUP BY 1"
            )
            assert len(by_runner) == 2, f"one runner did all the work: {by_runner}"
            assert sum(n for _, n in by_runner) == 3 * RUNS
            print(f"\nsteps started per runner: {sorted(n for _, n in by_runner)}")
    finally:
        for runner in runners:
            runner.stop()
            kill_leftover_replicas(runner.data_dir / "local-site")
