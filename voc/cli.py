"""The `voc` command: ingest files, list rejects, run the demo. Long steps show progress."""

from __future__ import annotations

import logging
import shutil
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from voc.errors import VocError
from voc.ingest import Mapping, load_mapping
from voc.pipeline import Ingestor, IngestSummary, expand_paths
from voc.settings import CORPORA_DIR, VocSettings, apply_thread_limits, get_settings
from voc.store import Store
from voc.types import SOURCES

app = typer.Typer(
    help="voc: voice-of-customer text mining for Chinese and English feedback.",
    no_args_is_help=True,
    add_completion=False,
)
# Piped output (CI logs, `make demo | tee`) gets no terminal width; do not squeeze tables to 80.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

DEMO_SOURCES = {
    "tickets": "ticket",
    "calls": "call",
    "reviews": "review",
    "interviews": "interview",
}


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )


def _open(settings: VocSettings) -> Store:
    apply_thread_limits(settings.threads)
    return Store.open(settings.resolved_database_url)


def _fail(exc: VocError) -> typer.Exit:
    err_console.print(f"[bold red]error[/] ({exc.code}): {exc.message}")
    return typer.Exit(code=2)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to ingest.")],
    source: Annotated[str, typer.Option(help="ticket | call | review | interview")],
    mapping: Annotated[
        Path | None, typer.Option(help="TOML field mapping for exports with other names.")
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="One field mapping, field=Column (repeatable)."),
    ] = None,
    workspace: Annotated[
        str | None, typer.Option(help="Workspace (default: VOC_WORKSPACE).")
    ] = None,
) -> None:
    """Ingest customer feedback files; prints accepted, duplicate and rejected by reason."""
    settings = get_settings()
    try:
        field_mapping = load_mapping(mapping, map_ or ())
        store = _open(settings)
        summary = _ingest_with_progress(
            Ingestor(store, settings), paths, source, workspace, field_mapping
        )
    except VocError as exc:
        raise _fail(exc) from exc
    print_summary([summary])
    if summary.rejected:
        console.print("List every reject with: [bold]voc rejects --ingest " + summary.ingest_id)


@app.command()
def rejects(
    workspace: Annotated[
        str | None, typer.Option(help="Workspace (default: VOC_WORKSPACE).")
    ] = None,
    ingest_id: Annotated[str | None, typer.Option("--ingest", help="Only this ingestion.")] = None,
) -> None:
    """List rejected input items with file, line and reason."""
    settings = get_settings()
    store = _open(settings)
    rows = store.list_rejects(workspace or settings.workspace, ingest_id)
    table = Table("file", "line", "code", "reason", title=f"{len(rows)} rejected items")
    for r in rows:
        table.add_row(r.file or "", str(r.line or ""), r.code, r.reason)
    console.print(table)


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="Where the demo database goes.")] = Path(
        ".voc/demo"
    ),
) -> None:
    """Ingest the shipped bilingual demo corpus into a fresh demo database and summarise it."""
    corpus = CORPORA_DIR / "demo"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    settings = VocSettings(data_dir=data_dir, workspace="demo")
    store = _open(settings)
    ingestor = Ingestor(store, settings)
    summaries = []
    try:
        for folder, source in DEMO_SOURCES.items():
            summaries.append(
                _ingest_with_progress(ingestor, [corpus / folder], source, "demo", None)
            )
    except VocError as exc:
        raise _fail(exc) from exc
    print_summary(summaries)
    print_units_overview(store, "demo")
    console.print(f"Demo database: [bold]{settings.resolved_database_url}[/]")


def _ingest_with_progress(
    ingestor: Ingestor,
    paths: list[Path],
    source: str,
    workspace: str | None,
    mapping: Mapping | None,
) -> IngestSummary:
    if source not in SOURCES:
        raise typer.BadParameter(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    files = expand_paths(paths)
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[records]:,} records"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"ingest {source}", total=None, records=0)

        def progress(_file: str, records: int) -> None:
            bar.update(task, records=records)

        return ingestor.ingest_paths(files, source, workspace, mapping, progress)


def print_units_overview(store: Store, workspace: str) -> None:
    """Feedback units by source and language, and by week: what the next stages will analyse."""
    counts = store.unit_counts(workspace, ("source", "lang"))
    langs = sorted({lang for _, lang in counts})
    table = Table("source", *langs, "total", box=box.SIMPLE, title="Feedback units")
    for source in sorted({source for source, _ in counts}):
        row = [counts.get((source, lang), 0) for lang in langs]
        table.add_row(source, *(f"{n:,}" for n in row), f"{sum(row):,}")
    console.print(table)
    weeks = Counter(
        d.date() - timedelta(days=d.weekday()) for d in store.unit_dates(workspace) if d
    )
    if weeks:
        peak = max(weeks.values())
        weekly = Table("week of", "units", "", box=box.SIMPLE, title="Units per week")
        for week, n in sorted(weeks.items()):
            weekly.add_row(week.isoformat(), f"{n:,}", "█" * round(30 * n / peak))
        console.print(weekly)


def print_summary(summaries: list[IngestSummary]) -> None:
    """Accepted, duplicate and rejected per source; they always add up to what was read."""
    columns = ("read", "accepted", "duplicate", "rejected", "units", "near_duplicates", "warnings")
    table = Table("source", *(c.replace("_duplicates", "-dup") for c in columns), box=box.SIMPLE)
    table.title = "Ingestion summary"
    for s in summaries:
        table.add_row(s.source, *(f"{getattr(s, c):,}" for c in columns))
    if len(summaries) > 1:
        table.add_row(
            "total", *(f"{sum(getattr(s, c) for s in summaries):,}" for c in columns), style="bold"
        )
    files = sum(len(s.files) for s in summaries)
    seconds = sum(s.seconds for s in summaries)
    read = sum(s.read for s in summaries)
    table.caption = f"{files:,} files in {seconds:.1f} s ({read / max(seconds, 1e-9):,.0f} items/s)"
    console.print(table)
    codes = sum((s.reject_codes for s in summaries), start=type(summaries[0].reject_codes)())
    if codes:
        reasons = Table("code", "count", "example", title="Rejected, by reason")
        examples = {r.code: r.reason for s in summaries for r in reversed(s.rejects)}
        for code, count in codes.most_common():
            reasons.add_row(code, f"{count:,}", examples.get(code, ""))
        console.print(reasons)
    shown = [w for s in summaries for w in s.warning_messages][:10]
    for warning in shown:
        console.print(f"[yellow]warning[/] {warning}")
    for s in summaries:
        if not s.balanced:
            err_console.print(
                f"[bold red]accounting error[/] in ingest {s.ingest_id}: {s.counts()}"
            )
