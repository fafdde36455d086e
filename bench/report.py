"""Report load time: a 200-theme, 100,000-unit workspace's HTML report opened in Chromium.

Builds a synthetic store through the store's own write methods (no clustering, so it takes
seconds, not the hour embedding 100k units would): 25,000 bilingual records of four units each
from the demo corpus's sentences, over 26 weeks and four sources, and one run of 200 themes
(sizes Zipf-like, five quotes each, 20 parents) with the needs profiles a real run stores
(every unit read by the needs lexicon). It then times `build_report` and
`render_html`, opens the file in Debian's headless Chromium (never a downloaded browser) and
measures, over `--repeats` fresh pages, the time from navigation to the rendered overview
(`performance.now()` when the page marks itself ready) and to an opened theme panel. Prints
the numbers and writes bench/results/report.json.

    python -m bench.report [--themes 200] [--units 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from voc.ids import text_hash
from voc.pipeline import attach_needs
from voc.report import build_report, render_html
from voc.settings import VocSettings
from voc.store import LineageRow, RunLineage, Store
from voc.types import FeedbackRecord, FeedbackUnit, Run, Theme, Turn

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
WS = "bench"
SOURCES = ("ticket", "call", "review", "interview")
UNITS_PER_RECORD = 4
WEEKS = 26
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def build_store(store: Store, n_themes: int, n_units: int, seed: int = 0) -> None:
    """Records, units and one finished run of `n_themes` themes holding every unit."""
    rng = random.Random(seed)
    with (ROOT / "corpora" / "demo" / "gold.csv").open(encoding="utf-8") as f:
        sentences = [(r["text"], r["lang"]) for r in csv.DictReader(f)]
    by_lang = {lang: [s for s, lg in sentences if lg == lang] for lang in ("zh", "en")}
    start = datetime(2026, 1, 5, tzinfo=UTC)
    store.ensure_workspace(WS)
    weights = [1 / (k + 1) ** 0.8 for k in range(n_themes)]
    theme_ids = [f"T-{k + 1:04d}" for k in range(n_themes)]
    unit_themes: list[tuple[str, str | None, float]] = []
    members: dict[str, list[FeedbackUnit]] = {t: [] for t in theme_ids}
    every: list[FeedbackUnit] = []
    for source in SOURCES:
        records: list[FeedbackRecord] = []
        units: list[FeedbackUnit] = []
        for i in range(n_units // UNITS_PER_RECORD // len(SOURCES)):
            lang = "zh" if rng.random() < 0.55 else "en"
            joiner = "" if lang == "zh" else " "
            parts = rng.choices(by_lang[lang], k=UNITS_PER_RECORD)
            text = joiner.join(parts)
            created = start + timedelta(minutes=rng.randrange(WEEKS * 7 * 24 * 60))
            record_id = text_hash(f"{source}:{i}:{text}")
            records.append(
                FeedbackRecord(
                    id=record_id,
                    workspace_id=WS,
                    source=source,  # type: ignore[arg-type]
                    text=text,
                    turns=[Turn(0, len(text), "customer")],
                    external_id=f"{source[:2].upper()}-{i}",
                    created_at=created,
                    received_at=created,
                    metadata={},
                    fingerprint=text_hash(text),
                )
            )
            offset = 0
            for k, part in enumerate(parts):
                unit = FeedbackUnit(
                    id=f"{record_id}:{k}",
                    record_id=record_id,
                    workspace_id=WS,
                    index=k,
                    start=offset,
                    end=offset + len(part),
                    text=part,
                    norm_text=part,
                    lang=lang,  # type: ignore[arg-type]
                    source=source,
                    created_at=created,
                )
                offset += len(part) + len(joiner)
                units.append(unit)
                theme = rng.choices(theme_ids, weights)[0]
                unit_themes.append((unit.id, theme, 0.8))
                members[theme].append(unit)
        store.write_batch(WS, source, None, records, units, [])
        every += units
    run = Run(
        run_id="bench-run",
        workspace_id=WS,
        status="running",
        started_at=datetime.now(UTC),
        params={"seed": seed},
        model_id="synthetic",
        code_version="bench",
        n_units=len(unit_themes),
        n_themes=n_themes,
    )
    store.start_run(run)
    n_parents = n_themes // 10
    parents = [f"T-{n_themes + p + 1:04d}" for p in range(n_parents)]
    themes = [
        _theme(run, t, members[t], k, parents[k % n_parents] if parents else None, rng)
        for k, t in enumerate(theme_ids)
    ]
    themes += [
        Theme(
            theme_id=parent,
            run_id=run.run_id,
            workspace_id=WS,
            level=1,
            parent_id=None,
            name=f"parent {p}",
            names={"en": f"parent {p}", "zh": f"上级主题 {p}"},
            keywords={},
            size=0,
            langs={},
            quotes=[],
            centroid=b"",
        )
        for p, parent in enumerate(parents)
    ]
    # The needs profiles a real run stores (voc.pipeline.attach_needs, the lexicon reading every
    # unit), so the page carries priority, unstated needs, the journey map and stage cells.
    attach_needs(store, VocSettings(_env_file=None), run, themes, unit_themes, every)
    events = [LineageRow(run.run_id, 0, "born", t, [], None, None, "") for t in theme_ids]
    until = start + timedelta(weeks=WEEKS)
    store.complete_run(
        run, themes, unit_themes, lineage_info=RunLineage(events=events, data_until=until)
    )


def _theme(
    run: Run,
    theme_id: str,
    units: list[FeedbackUnit],
    k: int,
    parent: str | None,
    rng: random.Random,
) -> Theme:
    quotes = rng.sample(units, min(5, len(units)))
    return Theme(
        theme_id=theme_id,
        run_id=run.run_id,
        workspace_id=WS,
        level=0,
        parent_id=parent,
        name=f"theme {k}",
        names={"en": f"theme {k}", "zh": f"主题 {k}"},
        keywords={"en": [(f"word{k}", 1.0)] * 5, "zh": [(f"词{k}", 1.0)] * 5},
        size=len(units),
        langs={},
        quotes=[
            {
                "unit_id": u.id,
                "record_id": u.record_id,
                "span": [u.start, u.end],
                "text": u.text,
                "lang": u.lang,
                "source": u.source,
                "created_at": u.created_at.isoformat() if u.created_at else None,
                "reason": "central",
            }
            for u in quotes
        ],
        centroid=b"",
    )


def open_in_browser(path: Path, repeats: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    overview: list[float] = []
    panel: list[float] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(path.as_uri())
            page.wait_for_selector("body[data-ready=true]")
            overview.append(page.evaluate("performance.now()"))
            started = page.evaluate("performance.now()")
            page.locator("tr.theme-row").first.click()
            page.wait_for_selector("#panel .quote")
            panel.append(page.evaluate("performance.now()") - started)
            page.close()
        browser.close()
    return {
        "overview_ms": [round(x) for x in overview],
        "overview_median_ms": round(statistics.median(overview)),
        "panel_ms": [round(x) for x in panel],
        "panel_median_ms": round(statistics.median(panel)),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--themes", type=int, default=200)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        t0 = time.perf_counter()
        build_store(store, args.themes, args.units)
        t1 = time.perf_counter()
        data = build_report(store, WS, lang="en")
        t2 = time.perf_counter()
        page = render_html(data)
        t3 = time.perf_counter()
        path = Path(tmp) / "report.html"
        path.write_text(page, encoding="utf-8")
        browser = open_in_browser(path, args.repeats)
        store.close()
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()} {platform.system()}, {os.cpu_count()} cores",
        "themes": args.themes,
        "units": args.units,
        "store_build_s": round(t1 - t0, 1),
        "build_report_s": round(t2 - t1, 2),
        "render_html_s": round(t3 - t2, 2),
        "html_mb": round(len(page.encode("utf-8")) / 1e6, 2),
        **browser,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "report.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key, value in result.items():
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
