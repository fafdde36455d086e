"""Ingestion schema: workspaces, ingests, records, units, rejects.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "ingests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("paths", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("read", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("duplicate", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("units", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "records",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("workspace_id", sa.String(64), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(300)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("turns", sa.JSON, nullable=False),
        sa.Column("created_at", TS),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("near_duplicate_of", sa.String(32)),
        sa.Column("ingest_id", sa.String(32)),
        sa.Column("file", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("redactions", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
    )
    op.create_index("ix_records_ws_fingerprint", "records", ["workspace_id", "fingerprint"])
    op.create_index("ix_records_ws_external", "records", ["workspace_id", "source", "external_id"])
    op.create_index("ix_records_ws_created", "records", ["workspace_id", "created_at"])
    op.create_table(
        "units",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column(
            "record_id",
            sa.String(32),
            sa.ForeignKey("records.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("span_start", sa.Integer, nullable=False),
        sa.Column("span_end", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("norm_text", sa.Text, nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("speaker", sa.String(100), nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", TS),
    )
    op.create_index("ix_units_record", "units", ["record_id"])
    op.create_index("ix_units_ws_created", "units", ["workspace_id", "created_at"])
    op.create_index("ix_units_text_hash", "units", ["text_hash"])
    op.create_table(
        "rejects",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(64), nullable=False),
        sa.Column("ingest_id", sa.String(32)),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("file", sa.Text),
        sa.Column("line", sa.Integer),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excerpt", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_rejects_ws_ingest", "rejects", ["workspace_id", "ingest_id"])


def downgrade() -> None:
    op.drop_table("rejects")
    op.drop_table("units")
    op.drop_table("records")
    op.drop_table("ingests")
    op.drop_table("workspaces")
