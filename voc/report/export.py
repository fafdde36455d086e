"""CSV and JSON exports of a workspace's themes and of its unit assignments (`voc export`).

Columns are listed in `THEME_COLUMNS` and `ASSIGNMENT_COLUMNS` and documented in
docs/formats.md. CSV is written for spreadsheets: UTF-8 with a byte-order mark (so Excel reads
Chinese correctly), and any text cell starting with `=`, `+`, `-`, `@` (or their full-width
forms), a tab or a carriage return gets a leading apostrophe, because customer text such as
`=HYPERLINK(...)` would otherwise run as a formula in the reader's spreadsheet (CSV
injection). JSON keeps values as they are: it is read by programs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from voc.report.data import build_report
from voc.store import Store

ExportFormat = Literal["csv", "json"]
THEME_COLUMNS = (
    "theme_id",
    "level",
    "parent_id",
    "name",
    "name_zh",
    "name_en",
    "size",
    "units_zh",
    "units_en",
    "growth",
    "keywords_zh",
    "keywords_en",
    "born",
    "quote",
    "run_id",
)
ASSIGNMENT_COLUMNS = (
    "unit_id",
    "record_id",
    "theme_id",
    "theme_name",
    "score",
    "provisional",
    "source",
    "lang",
    "created_at",
    "span_start",
    "span_end",
    "text",
)
# Full-width signs too: spreadsheets in Chinese and Japanese locales read `＝SUM(...)` as a
# formula, and Chinese customers type full-width punctuation.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def theme_rows(store: Store, workspace_id: str) -> list[dict[str, Any]]:
    """One row per theme of the current run (parents included), largest first, with the same
    sizes and growth as the report."""
    report = build_report(store, workspace_id)
    run_id = report["run"]["run_id"] if report["run"] else None
    rows = []
    for theme in sorted(report["themes"], key=lambda t: (t["level"], -t["size"], t["id"])):
        langs = _units_by_lang(theme["cells"])
        born = next((e["at"] for e in theme["history"] if e["kind"] in ("born", "split")), None)
        rows.append(
            {
                "theme_id": theme["id"],
                "level": theme["level"],
                "parent_id": theme["parent"],
                "name": theme["name"],
                "name_zh": theme["names"].get("zh"),
                "name_en": theme["names"].get("en"),
                "size": theme["size"],
                "units_zh": langs.get("zh", 0) + _undated(theme, "zh"),
                "units_en": langs.get("en", 0) + _undated(theme, "en"),
                "growth": theme["growth"],
                "keywords_zh": theme["keywords"].get("zh", []),
                "keywords_en": theme["keywords"].get("en", []),
                "born": born,
                "quote": theme["quotes"][0]["text"] if theme["quotes"] else None,
                "run_id": run_id,
            }
        )
    return rows


def _units_by_lang(cells: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """Units per language from report cells keyed `source|lang`."""
    out: dict[str, int] = {}
    for key, counts in cells.items():
        lang = key.split("|")[1]
        out[lang] = out.get(lang, 0) + sum(counts)
    return out


def _undated(theme: Mapping[str, Any], lang: str) -> int:
    return sum(n for key, n in theme["undated"].items() if key.split("|")[1] == lang)


def assignment_rows(store: Store, workspace_id: str) -> Iterator[dict[str, Any]]:
    """Every unit of the workspace with its theme in the current run (empty when unassigned,
    hidden themes included so nothing is lost), in record order."""
    run = store.current_run(workspace_id)
    names = {t.theme_id: t.name for t in store.list_themes(run.run_id)} if run else {}
    for hit in store.iter_unit_themes(workspace_id, run.run_id if run else None):
        unit = hit.unit
        yield {
            "unit_id": unit.id,
            "record_id": unit.record_id,
            "theme_id": hit.theme_id,
            "theme_name": names.get(hit.theme_id) if hit.theme_id else None,
            "score": round(hit.score, 4) if hit.score is not None else None,
            "provisional": hit.provisional,
            "source": unit.source,
            "lang": unit.lang,
            "created_at": unit.created_at.isoformat() if unit.created_at else None,
            "span_start": unit.start,
            "span_end": unit.end,
            "text": unit.text,
        }


def spreadsheet_safe(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: lists joined with `; `, and a leading
    apostrophe on anything that would start a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def write_rows(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], path: Path, fmt: ExportFormat
) -> int:
    """Write rows as CSV or as a JSON array (one object per line); returns how many."""
    n = 0
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for row in rows:
                writer.writerow([spreadsheet_safe(row.get(c)) for c in columns])
                n += 1
        return n
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for row in rows:
            f.write(",\n" if n else "\n")
            f.write(json.dumps({c: row.get(c) for c in columns}, ensure_ascii=False))
            n += 1
        f.write("\n]\n")
    return n
