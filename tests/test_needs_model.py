"""voc.needs_model: the shipped classifiers refine the lexicon on real embeddings; a model
round-trips through its file; the pipeline reads units with the model once their embedding is
cached, and with the lexicon alone until then."""

from __future__ import annotations

import multiprocessing
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from voc.embed import CachedEmbedder, Embedder, load_embedder
from voc.needs import INTENTS, SENTIMENTS, STAGES, UnitNeeds, default_analyzer
from voc.needs_model import SIGNAL_TASKS, NeedsModel, default_model, train
from voc.normalize import normalize_for_analysis
from voc.pipeline import Ingestor, NeedsReader, analyze_units
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store
from voc.types import FeedbackUnit


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return load_embedder()


def test_a_model_is_shipped_for_the_default_embedder(embedder: Embedder) -> None:
    model = default_model()
    assert model is not None
    assert model.embedder_id == embedder.model_id
    heads = {t: h.labels for t, h in model.heads.items()}
    assert {t: heads.pop(t) for t in ("intent", "stage", "sentiment")} == {
        "intent": tuple(sorted(INTENTS)),
        "stage": tuple(sorted(STAGES)),
        "sentiment": tuple(sorted(SENTIMENTS)),
    }
    # Signal heads ship only where they helped in cross-validation (the card lists them).
    assert set(heads) <= set(SIGNAL_TASKS)
    assert set(heads.values()) <= {("no", "yes")}
    assert sorted(heads) == sorted(model.info["signal_heads"])
    assert (Path(__file__).parents[1] / "models" / "needs" / "MODEL_CARD.md").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("text", "intent", "stage"),
    [
        ("App 老是 crash，根本没法用。", "pain", "use"),
        ("希望能加一个夜间模式。", "request", "use"),
        ("请问怎么修改收货地址？", "question", "purchase"),
        ("自动续费扣了我68块，我根本没同意！", "pain", "renew_churn"),
        ("Please add a dark mode.", "request", "use"),
        ("I cancelled my subscription but you charged me again.", "pain", "renew_churn"),
        ("A friend recommended the app and I love it.", "praise", "discover"),
        ("I first heard about you from an ad on TikTok.", "other", "discover"),
        ("Is the Pro plan worth it over Basic?", "question", "evaluate"),
    ],
)
def test_the_model_keeps_clear_readings(
    embedder: Embedder, text: str, intent: str, stage: str
) -> None:
    model = default_model()
    assert model is not None
    norm = normalize_for_analysis(text)
    read = default_analyzer().analyze(norm, normalized=True)
    (refined,) = model.refine([read], [norm], embedder.encode([norm]))
    assert (refined.intent, refined.stage) == (intent, stage)
    assert refined.signals == read.signals
    assert -1.0 <= refined.sentiment_score <= 1.0


def test_a_stage_from_metadata_is_kept_by_the_model(embedder: Embedder) -> None:
    model = default_model()
    assert model is not None
    norm = "It just stopped working yesterday."
    read = default_analyzer().analyze(norm, {"stage": "onboard"}, normalized=True)
    (refined,) = model.refine([read], [norm], embedder.encode([norm]))
    assert (refined.stage, refined.stage_from) == ("onboard", "metadata")


def test_a_trained_model_round_trips_through_its_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(70, 8)).astype(np.float32)
    reads = [UnitNeeds("other", "neutral", 0.0, (), "use", "default")] * 70
    labels = {
        "intent": [INTENTS[i % 5] for i in range(70)],
        "stage": [STAGES[i % 7] for i in range(70)],
        "sentiment": [SENTIMENTS[i % 3] for i in range(70)],
    }
    model = train(reads, ["x"] * 70, vectors, labels, {"embedder_id": "toy@1", "version": "t1"})
    model.save(tmp_path / "m.npz")
    loaded = NeedsModel.load(tmp_path / "m.npz")
    assert (loaded.embedder_id, loaded.version) == ("toy@1", "t1")
    assert loaded.refine(reads[:5], ["x"] * 5, vectors[:5]) == model.refine(
        reads[:5], ["x"] * 5, vectors[:5]
    )


@pytest.mark.slow
def test_units_are_read_by_the_model_once_their_embedding_is_cached(
    store: Store,
    settings,
    embedder: Embedder,  # type: ignore[no-untyped-def]
) -> None:
    Ingestor(store, settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews" / "INT-ZH-01.md"], "interview", "w"
    )
    units = list(store.iter_units("w"))
    model = default_model()
    assert model is not None
    lexicon = default_analyzer().version
    full = f"{lexicon}+{model.version}"
    analyze_units(store, "w", units)
    assert set(store.unit_needs("w", lexicon)) == {u.id for u in units}
    assert store.unit_needs("w", full) == {}

    # Half embedded, read three units at a time: each batch stores both kinds of reading.
    half = units[: len(units) // 2]
    CachedEmbedder(embedder, store).encode([u.norm_text for u in half])
    read = analyze_units(store, "w", units, batch_size=3)
    assert set(store.unit_needs("w", full)) == {u.id for u in half}
    assert read == store.unit_needs("w", None)
    assert {u.id for u in units} == set(read)

    CachedEmbedder(embedder, store).encode([u.norm_text for u in units])
    read = analyze_units(store, "w", units)
    assert set(store.unit_needs("w", full)) == {u.id for u in units}
    assert read == store.unit_needs("w", None)


def _two_workspaces(
    store: Store, settings: VocSettings, embedder: Embedder
) -> list[list[FeedbackUnit]]:
    """The same two interviews in workspaces "w" and "v", every unit's embedding cached."""
    folder = CORPORA_DIR / "demo" / "interviews"
    files = [folder / "INT-ZH-01.md", folder / "INT-EN-01.md"]
    for workspace in ("w", "v"):
        Ingestor(store, settings).ingest_paths(files, "interview", workspace)
    # In the same order: unit ids differ between workspaces, their places in the files do not.
    both = [
        sorted(store.iter_units(w), key=lambda u: (u.text, u.start, u.index)) for w in ("w", "v")
    ]
    CachedEmbedder(embedder, store).encode([u.norm_text for u in both[0]])
    return both


@pytest.mark.slow
def test_the_reader_process_stores_what_the_run_would_read_itself(
    store: Store, settings: VocSettings, embedder: Embedder
) -> None:
    units, same = _two_workspaces(store, settings, embedder)
    reader = NeedsReader.start(store, settings, "w", units)
    assert reader is not None and reader.wait() and reader.process.exitcode == 0
    assert NeedsReader.start(store, settings, "w", units) is None, "nothing left to read"

    here = analyze_units(store, "v", same)
    stored = store.unit_needs("w", None)
    assert [stored[u.id] for u in units] == [here[u.id] for u in same]
    model = default_model()
    assert model is not None
    assert set(store.unit_needs("w", f"{default_analyzer().version}+{model.version}")) == {
        u.id for u in units
    }
    assert analyze_units(store, "w", units) == stored


@pytest.mark.slow
def test_the_run_and_the_reader_share_the_batches(
    store: Store, settings: VocSettings, embedder: Embedder
) -> None:
    units, same = _two_workspaces(store, settings, embedder)
    reader = NeedsReader.start(store, settings, "w", units, batch_size=4)
    assert reader is not None and len(reader.batches) == -(-len(units) // 4)
    assert [u for batch in reader.batches for u in batch] == units
    reader.share()
    assert reader.wait() and reader.claimed.value > len(reader.batches)
    stored = store.unit_needs("w", None)
    here = analyze_units(store, "v", same)
    assert [stored[u.id] for u in units] == [here[u.id] for u in same]


@pytest.mark.slow
def test_a_reader_stopped_half_way_loses_no_reading(
    store: Store, settings: VocSettings, embedder: Embedder
) -> None:
    units, same = _two_workspaces(store, settings, embedder)
    reader = NeedsReader.start(store, settings, "w", units)
    assert reader is not None
    reader.stop()
    assert not reader.wait() and reader.process.exitcode == -signal.SIGTERM
    read = analyze_units(store, "w", units)
    here = analyze_units(store, "v", same)
    assert [read[u.id] for u in units] == [here[u.id] for u in same]


def test_no_reader_process_where_it_cannot_help(store: Store, settings: VocSettings) -> None:
    Ingestor(store, settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews" / "INT-EN-01.md"], "interview", "w"
    )
    units = list(store.iter_units("w"))
    one_thread = settings.model_copy(update={"threads": 1})
    assert NeedsReader.start(store, one_thread, "w", units) is None
    memory = Store.open("sqlite://")
    Ingestor(memory, settings).ingest_paths(
        [CORPORA_DIR / "demo" / "interviews" / "INT-EN-01.md"], "interview", "w"
    )
    assert NeedsReader.start(memory, settings, "w", list(memory.iter_units("w"))) is None
    analyze_units(store, "w", units)
    assert NeedsReader.start(store, settings, "w", units) is None


def test_a_reader_that_stores_nothing_is_given_up(store: Store, settings: VocSettings) -> None:
    # A reader forked while another thread held a lock it needs would hang: the run stops it
    # once it has stored nothing for `stall_s` and reads the units itself.
    process = multiprocessing.get_context("fork").Process(target=time.sleep, args=(60,))
    process.start()
    reader = NeedsReader(process, store, "w", {default_analyzer().version})
    reader.stall_s = 0.5
    began = time.monotonic()
    assert not reader.wait()
    assert time.monotonic() - began < 10
    assert process.exitcode == -signal.SIGTERM
