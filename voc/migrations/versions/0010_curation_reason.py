"""Curation reason: why voc made a curation itself (two themes whose content converged are
merged by the registry, voc.registry), shown beside the curation; NULL for a person's.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode (see 0008): a batch copy of a table can cascade.
    op.add_column("curations", sa.Column("reason", sa.Text))


def downgrade() -> None:
    op.drop_column("curations", "reason")
