"""The HTTP service: run spaces and live theme assignments, API keys, idempotent responses,
background jobs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "run_spaces",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("assign_threshold", sa.Float, nullable=False),
        sa.Column("lang_means", sa.JSON, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ix_api_keys_ws", "api_keys", ["workspace_id"])
    op.create_table(
        "live_assignments",
        sa.Column(
            "unit_id",
            sa.String(40),
            sa.ForeignKey("units.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE")),
        sa.Column("theme_id", sa.String(20)),
        sa.Column("similarity", sa.Float, nullable=False),
        sa.Column("assigned_at", TS, nullable=False),
    )
    op.create_index("ix_live_assignments_run_theme", "live_assignments", ["run_id", "theme_id"])
    op.create_index("ix_live_assignments_ws", "live_assignments", ["workspace_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("workspace_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("active_lock", sa.String(100)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("progress", sa.JSON, nullable=False),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
    )
    op.create_index("ix_jobs_ws_created", "jobs", ["workspace_id", "created_at"])
    op.create_index("ux_jobs_active_lock", "jobs", ["active_lock"], unique=True)


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("idempotency_keys")
    op.drop_table("live_assignments")
    op.drop_table("api_keys")
    op.drop_table("run_spaces")
