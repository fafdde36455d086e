"""Run versions: counters that change whenever what a run serves changes after it completed,
so a process can keep answers derived from it (theme sizes, a page of themes) and know at the
cost of reading the current run whether they still hold, whichever process made the change.
`themes_version` counts replacements of its served themes (curations); `live_version` counts
writes of live assignments to it (units submitted since the run).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite a batch copies `runs` into a new table and
    # drops the old one, and the drop cascades (foreign keys are on) to every run's themes,
    # assignments, lineage and live assignments.
    for name in ("themes_version", "live_version"):
        op.add_column(
            "runs", sa.Column(name, sa.Integer, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place too; no table copy, so no cascade.
    for name in ("live_version", "themes_version"):
        op.drop_column("runs", name)
