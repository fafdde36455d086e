"""Needs: each unit's intent, sentiment, need signals, journey stage and need facets (cached
per lexicon version), and each served theme's needs profile.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_needs",
        sa.Column(
            "unit_id",
            sa.String(40),
            sa.ForeignKey("units.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("analyzer", sa.String(60), nullable=False),
        sa.Column("intent", sa.String(12), nullable=False),
        sa.Column("sentiment", sa.String(10), nullable=False),
        sa.Column("sentiment_score", sa.Float, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("stage_from", sa.String(10), nullable=False),
        sa.Column("signals", sa.JSON, nullable=False),
        sa.Column("facets", sa.JSON, nullable=False),
    )
    op.create_index("ix_unit_needs_ws_intent", "unit_needs", ["workspace_id", "intent"])
    op.create_index("ix_unit_needs_ws_stage", "unit_needs", ["workspace_id", "stage"])
    with op.batch_alter_table("themes") as batch:
        batch.add_column(sa.Column("needs", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("themes") as batch:
        batch.drop_column("needs")
    op.drop_index("ix_unit_needs_ws_stage", "unit_needs")
    op.drop_index("ix_unit_needs_ws_intent", "unit_needs")
    op.drop_table("unit_needs")
