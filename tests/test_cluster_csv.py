"""`voc cluster`: a stateless run on any CSV, one output row per input row."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score

from voc.embed import load_embedder
from voc.errors import InputError
from voc.needs import INTENTS, SENTIMENTS, STAGES
from voc.pipeline import cluster_csv
from voc.settings import CORPORA_DIR, VocSettings

THEMES = ("sms_code", "refund", "app_crash")


def _write_fixture(path: Path, encoding: str) -> list[str]:
    """30 zh+en demo sentences of three gold themes, plus one row with an empty text."""
    with (CORPORA_DIR / "demo" / "gold.csv").open(encoding="utf-8") as f:
        gold = [r for r in csv.DictReader(f) if r["theme"] in THEMES]
    rows = []
    for theme in THEMES:
        for lang in ("zh", "en"):
            rows += [r for r in gold if r["theme"] == theme and r["lang"] == lang][:12]
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ticket", "text"])
        for i, r in enumerate(rows):
            writer.writerow([f"K-{i}", r["text"]])
        writer.writerow(["K-empty", ""])
    return [r["theme"] for r in rows]


@pytest.mark.slow
def test_a_gb18030_csv_clusters_into_its_gold_themes_one_row_per_input_row(
    tmp_path: Path,
) -> None:
    path = tmp_path / "feedback.csv"
    gold = _write_fixture(path, "gb18030")
    settings = VocSettings(data_dir=tmp_path / "voc", _env_file=None)
    rows = cluster_csv(path, "text", load_embedder(), settings, id_column="ticket")
    assert [r.row for r in rows] == list(range(len(gold) + 1))
    assert rows[-1].id == "K-empty" and rows[-1].theme_id == -1 and rows[-1].confidence == 0.0
    found = [r.theme_id for r in rows[:-1]]
    assert sum(t == -1 for t in found) <= 0.05 * len(found)
    # 72 sentences: one small theme split off moves the ARI by 0.05. The demo corpus as
    # regenerated with its planted unstated needs gives 0.78 (five "charged twice" sentences
    # split off), the one before 0.84. Over seeds 0-7, with 10 voting runs or 20, seven
    # seeds give 0.777 and one 0.707 (three SMS-code sentences joined the app-crash theme);
    # with 20 runs seed 0 is that one.
    assert adjusted_rand_score(gold, found) >= 0.70
    assert all(r.theme_label for r in rows[:-1] if r.theme_id != -1)


def test_a_missing_text_column_names_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")
    settings = VocSettings(data_dir=tmp_path, _env_file=None)
    with pytest.raises(InputError, match="no column 'text'; its columns are id, body"):
        cluster_csv(path, "text", load_embedder(), settings)


@pytest.mark.slow
def test_cli_writes_the_documented_columns(tmp_path: Path) -> None:
    path = tmp_path / "feedback.csv"
    gold = _write_fixture(path, "utf-8-sig")
    out = tmp_path / "assignments.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "voc",
            "cluster",
            str(path),
            "--text-column",
            "text",
            "--id-column",
            "ticket",
            "--seed",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={
            "VOC_DATA_DIR": str(tmp_path / "voc"),
            "PATH": "/usr/bin:/bin",
            "NUMBA_CACHE_DIR": str(Path(__file__).resolve().parents[1] / ".voc" / "numba-cache"),
        },
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with out.open(encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert list(written[0]) == [
        "row",
        "id",
        "theme_id",
        "theme_label",
        "confidence",
        "intent",
        "stage",
        "sentiment",
    ]
    assert len(written) == len(gold) + 1
    assert written[-1]["theme_id"] == "-1"
    assert (written[-1]["intent"], written[-1]["stage"], written[-1]["sentiment"]) == ("", "", "")
    assert {r["intent"] for r in written[:-1]} <= set(INTENTS)
    assert {r["stage"] for r in written[:-1]} <= set(STAGES)
    assert {r["sentiment"] for r in written[:-1]} <= set(SENTIMENTS)
