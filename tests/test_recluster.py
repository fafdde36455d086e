"""Re-clustering a workspace: a run of themes with the default embedder, stored atomically."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from tests.backends import Backend
from tests.conftest import DemoRun
from voc.cluster import center_languages
from voc.embed import CachedEmbedder, load_embedder
from voc.pipeline import (
    Ingestor,
    _hash_keys,
    fit_sample,
    recluster,
    theme_tokens,
    workspace_alerts,
)
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store
from voc.tokenize import Tokenizer


class FailingEmbedder:
    """An embedder whose disk is full: the seam for a run that fails half-way."""

    model_id = "failing@0"
    dim = 512

    def encode(self, texts: list[str]) -> np.ndarray:
        raise OSError("No space left on device")


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> tuple[Store, VocSettings]:
    settings = backend.settings(tmp_path_factory.mktemp("recluster"))
    store = Store.open(settings.resolved_database_url)
    Ingestor(store, settings).ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", "w")
    return store, settings


@pytest.mark.slow
def test_a_run_stores_themes_for_every_unit_and_becomes_current(
    workspace: tuple[Store, VocSettings],
) -> None:
    store, settings = workspace
    run, themes = recluster(store, settings, "w", load_embedder(), seed=0)

    assert store.current_run("w") == run
    assert (run.status, run.model_id, run.params["seed"]) == ("done", "use-m3@0.2.1", 0)
    assert run.code_version.startswith("voc ")
    steps = {k for k in run.timings if "." not in k}
    assert steps == {"load", "embed", "cluster", "assign", "describe", "needs", "store"}
    assert {"cluster.graph", "cluster.communities", "cluster.assign"} <= set(run.timings)
    # A first run reads its units' needs in a second process while it describes its themes,
    # then shares what is left.
    assert {"needs.share", "needs.wait"} <= set(run.timings)
    units = list(store.iter_units("w"))
    assigned = store.unit_assignments(run.run_id)
    assert set(assigned) == {u.id for u in units}
    assert run.unassigned == sum(t is None for t, _ in assigned.values())
    assert run.unassigned <= 0.05 * len(units)
    children = [t for t in themes if t.level == 0]
    assert len(children) == run.n_themes >= 2
    sizes = Counter(t for t, _ in assigned.values() if t is not None)
    assert {t.theme_id: t.size for t in children} == dict(sizes)
    parents = {t.theme_id for t in themes if t.level == 1}
    assert all(t.parent_id is None or t.parent_id in parents for t in children)
    records = {r.id: r for r in store.iter_records("w")}
    for theme in children:
        assert theme.name and theme.quotes
        for q in theme.quotes:
            start, end = q["span"]
            assert records[q["record_id"]].text[start:end] == q["text"]


@pytest.mark.slow
def test_a_failed_run_leaves_the_previous_run_current(
    workspace: tuple[Store, VocSettings],
) -> None:
    store, settings = workspace
    before = store.current_run("w")
    assert before is not None
    with pytest.raises(OSError, match="No space left"):
        recluster(store, settings, "w", FailingEmbedder())
    assert store.current_run("w") == before
    failed = store.list_runs("w")[0]
    assert failed.status == "failed" and "No space left on device" in (failed.error or "")
    assert store.list_themes(failed.run_id) == []


@pytest.mark.slow
def test_a_first_run_calls_only_themes_whose_data_starts_late_emerging(
    demo_run: DemoRun,
) -> None:
    """The first run gives every theme its id at once, which says nothing about when a theme
    started: twelve weeks of the demo corpus must not come back as a list of "emerging" themes
    (they did, 16 of them, while a theme's birth was its first run's date)."""
    store, run = demo_run.store, demo_run.run
    assert run.data_until is not None
    emerging = [a for a in workspace_alerts(store, "demo") if a.kind == "emerging"]
    for alert in emerging:
        dates = [d for d in store.theme_unit_dates(run.run_id, [alert.theme_id]) if d]
        assert run.data_until - min(dates) <= timedelta(weeks=3), alert.message


@pytest.mark.slow
def test_a_workspace_larger_than_the_fit_sample_learns_from_a_stable_sample_and_places_the_rest(
    workspace: tuple[Store, VocSettings],
) -> None:
    store, base = workspace
    Ingestor(store, base).ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", "s")
    units = list(store.iter_units("s"))
    settings = base.model_copy(update={"fit_sample": 120})
    run, themes = recluster(store, settings, "s", load_embedder(), seed=0)

    sample = fit_sample([u.id for u in units], 120)
    assert run.params["fit_units"] == len(sample) == 120 < len(units)
    assert run.params["engine"] == "local"
    # The sample is the units whose ids hash lowest: adding units keeps the ones still lowest.
    grown = fit_sample([u.id for u in units] + [f"new:{i}" for i in range(40)], 120)
    assert set(grown[grown < len(units)].tolist()) <= set(sample.tolist())

    # Every unit outside the sample is placed exactly as live assignment would place it: the
    # nearest theme of the run, centred with its language means, or none below the threshold.
    assigned = store.unit_assignments(run.run_id)
    assert set(assigned) == {u.id for u in units}
    outside = [u for i, u in enumerate(units) if i not in set(sample.tolist())]
    children = [t for t in themes if t.level == 0]
    centroids = np.vstack([np.frombuffer(t.centroid, dtype=np.float32) for t in children])
    space = store.run_space(run.run_id)
    assert space is not None
    means = {k: np.frombuffer(v, dtype=np.float32) for k, v in space.lang_means.items()}
    vectors = CachedEmbedder(load_embedder(), store).encode([u.norm_text for u in outside])
    centred, _ = center_languages(vectors, [u.lang for u in outside], means)
    sims = centred @ centroids.T
    best = sims.argmax(axis=1)
    expected = [
        children[b].theme_id if sims[i, b] >= space.assign_threshold else None
        for i, b in enumerate(best)
    ]
    assert [assigned[u.id][0] for u in outside] == expected
    assert sum(t.size for t in children) == sum(v[0] is not None for v in assigned.values())


def test_a_large_theme_is_described_from_a_stable_sample_of_its_units(
    workspace: tuple[Store, VocSettings],
) -> None:
    store, settings = workspace
    units = list(store.iter_units("w"))[:30]
    labels = np.array([0] * 12 + [1] * 3 + [-1] * 15)
    tokens = theme_tokens(Tokenizer(settings), units, labels, cap=5)
    read = [i for i, toks in enumerate(tokens) if toks]
    # theme 0: the 5 of its 12 units whose ids hash lowest; theme 1: all 3; no unassigned one
    lowest = sorted(range(12), key=lambda i: _hash_keys([units[i].id])[0])[:5]
    assert read == sorted(lowest) + [12, 13, 14]
    assert tokens[12] == Tokenizer(settings).tokens(units[12].norm_text, units[12].lang)
    # the same units describe the theme whatever order the units come in
    again = theme_tokens(Tokenizer(settings), units[::-1], labels[::-1], cap=5)
    assert {units[::-1][i].id for i, t in enumerate(again) if t} == {units[i].id for i in read}
