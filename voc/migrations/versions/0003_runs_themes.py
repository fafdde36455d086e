"""Runs, their themes and each unit's theme.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("n_units", sa.Integer, nullable=False),
        sa.Column("n_themes", sa.Integer, nullable=False),
        sa.Column("unassigned", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_runs_ws_started", "runs", ["workspace_id", "started_at"])
    op.create_table(
        "themes",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("theme_id", sa.String(20), primary_key=True),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.String(20)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("names", sa.JSON, nullable=False),
        sa.Column("keywords", sa.JSON, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("langs", sa.JSON, nullable=False),
        sa.Column("quotes", sa.JSON, nullable=False),
        sa.Column("centroid", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("unit_id", sa.String(40), primary_key=True),
        sa.Column("theme_id", sa.String(20)),
        sa.Column("confidence", sa.Float, nullable=False),
    )
    op.create_index("ix_assignments_run_theme", "assignments", ["run_id", "theme_id"])


def downgrade() -> None:
    op.drop_table("assignments")
    op.drop_table("themes")
    op.drop_table("runs")
