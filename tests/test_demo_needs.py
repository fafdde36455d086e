"""Needs on the clustered demo corpus: the unstated needs planted in it come out on top.

Slow withdrawals (`withdrawal_slow`) and low transfer limits (`transfer_limit`) are the demo
corpus's two planted unstated needs (corpora/demo/README.md): customers complain and describe
what they do instead (withdraw days early, route money through another wallet, split payments,
use a relative's account) but hardly ever ask for a change. Clustering cuts a gold theme into
several themes, so each served theme stands for the gold theme most of its units carry.
"""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from tests.conftest import DemoRun
from voc.settings import CORPORA_DIR

PLANTED = {"withdrawal_slow", "transfer_limit"}


def _gold_majority(demo: DemoRun) -> dict[str, tuple[str, float]]:
    """Served theme id -> (the gold theme most of its units carry, that share)."""
    with (CORPORA_DIR / "demo" / "gold.csv").open(encoding="utf-8", newline="") as f:
        gold = {(r["external_id"], r["text"]): r["theme"] for r in csv.DictReader(f)}
    records = {r.id: r.external_id for r in demo.store.iter_records("demo")}
    units = {u.id: gold[(records[u.record_id], u.text)] for u in demo.store.iter_units("demo")}
    members: dict[str, Counter[str]] = {}
    for uid, (theme_id, _) in demo.store.unit_assignments(demo.run.run_id).items():
        if theme_id is not None:
            members.setdefault(theme_id, Counter())[units[uid]] += 1
    return {
        tid: (c.most_common(1)[0][0], c.most_common(1)[0][1] / c.total())
        for tid, c in members.items()
    }


@pytest.mark.slow
def test_the_planted_unstated_needs_top_the_demo_unstated_list(demo_run: DemoRun) -> None:
    store, run = demo_run.store, demo_run.run
    hidden = store.hidden_themes(run.run_id)
    # The list and its order as GET /v1/workspaces/{ws}/needs serves them.
    unstated = sorted(
        (
            t
            for t in store.list_themes(run.run_id)
            if t.level == 0 and t.theme_id not in hidden and t.needs and t.needs["unstated"]
        ),
        key=lambda t: (-t.needs["unstated_score"], -t.needs["units"], t.theme_id),  # type: ignore[index]
    )
    majority = _gold_majority(demo_run)
    ranked = [majority[t.theme_id] for t in unstated]
    listing = [
        (t.name, label, round(share, 2)) for t, (label, share) in zip(unstated, ranked, strict=True)
    ]
    labels = [label for label, _ in ranked]
    assert set(labels) >= PLANTED, listing
    # Every theme above the first theme of each planted need is itself a planted need...
    top = labels[: max(labels.index(p) for p in PLANTED) + 1]
    assert set(top) == PLANTED, listing
    # ...and clearly so: most of its units are the planted need's.
    assert all(share >= 0.5 for _, share in ranked[: len(top)]), listing
