"""trigger fires, API keys, deployment notifications

- ``trigger_fires``: one row per fire of a timing trigger (cron, emit-every) of a deployment,
  keyed by the scheduled time, so that two runner processes (or one restarted) never start
  the same scheduled run twice.
- ``api_keys`` and ``api_settings``: the per-project keys of the user APIs (HTTP trigger).
- ``oryx_runner_deployed`` (payload: project id) whenever a workflow's deployment changes
  status, and ``oryx_runner_api_keys`` (payload: project id) whenever a project's keys or
  settings change: runner processes refresh their endpoint and trigger tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_fires",
        sa.Column("deployment_id", sa.String(length=64), nullable=False),
        sa.Column("fire_key", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_trigger_fires_deployment_id_deployments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("deployment_id", "fire_key", name=op.f("pk_trigger_fires")),
    )
    op.create_index("ix_trigger_fires_workflow", "trigger_fires", ["workflow_id", "scheduled_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=64), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index("ix_api_keys_project", "api_keys", ["project_id", "created_at", "id"])
    op.create_table(
        "api_settings",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("require_api_key", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_api_settings")),
    )
    op.execute(
        """
        CREATE FUNCTION oryx_runner_notify_deployed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('oryx_runner_deployed', project_id)
            FROM (SELECT DISTINCT project_id FROM new_rows) AS changed;
          RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"""
            CREATE TRIGGER workflow_deployments_{event.lower()}_deployed
            AFTER {event} ON workflow_deployments
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION oryx_runner_notify_deployed()
            """
        )
    op.execute(
        """
        CREATE FUNCTION oryx_runner_notify_api_keys() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('oryx_runner_api_keys', project_id)
            FROM (SELECT DISTINCT project_id FROM changed_rows) AS changed;
          RETURN NULL;
        END $$
        """
    )
    for table in ("api_keys", "api_settings"):
        for event in ("INSERT", "UPDATE", "DELETE"):
            which = "OLD" if event == "DELETE" else "NEW"
            op.execute(
                f"""
                CREATE TRIGGER {table}_{event.lower()}_notify AFTER {event} ON {table}
                REFERENCING {which} TABLE AS changed_rows
                FOR EACH STATEMENT EXECUTE FUNCTION oryx_runner_notify_api_keys()
                """
            )


def downgrade() -> None:
    for table in ("api_keys", "api_settings"):
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER {table}_{event}_notify ON {table}")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER workflow_deployments_{event}_deployed ON workflow_deployments")
    op.execute("DROP FUNCTION oryx_runner_notify_api_keys()")
    op.execute("DROP FUNCTION oryx_runner_notify_deployed()")
    op.drop_table("api_settings")
    op.drop_index("ix_api_keys_project", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_trigger_fires_workflow", table_name="trigger_fires")
    op.drop_table("trigger_fires")
