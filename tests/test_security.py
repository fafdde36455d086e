"""What must never leave the process in an error message: a database password, or customer
text bound into a failed SQL statement (errors reach logs, job rows and API problems)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from voc.errors import StoreError
from voc.store import Store


def test_a_database_url_that_cannot_be_opened_is_reported_without_its_password() -> None:
    with pytest.raises(StoreError) as caught:
        Store("postgresql+nosuchdriver://voc:s3cret-pw@db.internal/voc")
    assert "s3cret-pw" not in str(caught.value)
    assert "voc:***@db.internal" in str(caught.value)


def test_a_failed_statement_does_not_carry_the_customer_text_it_was_given(store: Store) -> None:
    words = "my card 6222 0212 3456 7890 was charged twice"
    with pytest.raises(SQLAlchemyError) as caught, store.engine.connect() as conn:
        conn.execute(sa.text("SELECT no_such_column FROM records WHERE id = :x"), {"x": words})
    assert words not in str(caught.value)
