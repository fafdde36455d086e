"""Stable theme ids: each run's matched clusters, lineage events, curations, run stability and
hidden themes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("stability", sa.Float))
        batch.add_column(sa.Column("data_until", TS))
    with op.batch_alter_table("themes") as batch:
        batch.add_column(sa.Column("hidden", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("cluster_id", sa.String(20)))
    op.create_table(
        "run_clusters",
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("theme_id", sa.String(20), primary_key=True),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("parent_id", sa.String(20)),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("names", sa.JSON, nullable=False),
        sa.Column("keywords", sa.JSON, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("centroid", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "lineage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("theme_id", sa.String(20), nullable=False),
        sa.Column("other_ids", sa.JSON, nullable=False),
        sa.Column("overlap", sa.Float),
        sa.Column("similarity", sa.Float),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_lineage_run", "lineage", ["run_id"])
    op.create_index("ix_lineage_ws_theme", "lineage", ["workspace_id", "theme_id"])
    op.create_table(
        "curations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("theme_id", sa.String(20), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("target_id", sa.String(20)),
        sa.Column("unit_ids", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_curations_ws", "curations", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_table("curations")
    op.drop_table("lineage")
    op.drop_table("run_clusters")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("cluster_id")
    with op.batch_alter_table("themes") as batch:
        batch.drop_column("hidden")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("data_until")
        batch.drop_column("stability")
