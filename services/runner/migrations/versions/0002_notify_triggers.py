"""notifications from triggers

The runner processes wake each other through LISTEN/NOTIFY. Statement-level triggers send the
notifications in the transaction of the change (delivered at commit), so that no writer needs
a round trip of its own for them:

- ``oryx_runner_work`` when step runs become ready (payload: the writer's ``oryx.origin``
  setting, so that a runner skips its own);
- ``oryx_runner_run`` for every run that got events, ``oryx_runner_ended`` for those that
  ended, ``oryx_runner_cancel`` for those that failed or were cancelled (payload: run id);
- ``oryx_runner_deploy`` when a workflow starts deploying or undeploying.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION oryx_runner_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('oryx_runner_run', run_id)
            FROM (SELECT DISTINCT run_id FROM new_rows) AS changed;
          PERFORM pg_notify('oryx_runner_ended', run_id)
            FROM (SELECT DISTINCT run_id FROM new_rows
                  WHERE type IN ('run.succeeded', 'run.failed', 'run.canceled')) AS ended;
          PERFORM pg_notify('oryx_runner_cancel', run_id)
            FROM (SELECT DISTINCT run_id FROM new_rows
                  WHERE type IN ('run.failed', 'run.canceled')) AS stopped;
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER run_events_notify AFTER INSERT ON run_events
        REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION oryx_runner_notify_events()
        """
    )
    op.execute(
        """
        CREATE FUNCTION oryx_runner_notify_work() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'ready') THEN
            PERFORM pg_notify('oryx_runner_work', coalesce(current_setting('oryx.origin', true), ''));
          END IF;
          RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER step_runs_{event.lower()}_notify AFTER {event} ON step_runs
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION oryx_runner_notify_work()
            """
        )
    op.execute(
        """
        CREATE FUNCTION oryx_runner_notify_deploy() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM new_rows WHERE status IN ('deploying', 'undeploying')) THEN
            PERFORM pg_notify('oryx_runner_deploy', '');
          END IF;
          RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER workflow_deployments_{event.lower()}_notify
            AFTER {event} ON workflow_deployments
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION oryx_runner_notify_deploy()
            """
        )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER workflow_deployments_{event}_notify ON workflow_deployments")
        op.execute(f"DROP TRIGGER step_runs_{event}_notify ON step_runs")
    op.execute("DROP TRIGGER run_events_notify ON run_events")
    op.execute("DROP FUNCTION oryx_runner_notify_deploy()")
    op.execute("DROP FUNCTION oryx_runner_notify_work()")
    op.execute("DROP FUNCTION oryx_runner_notify_events()")
