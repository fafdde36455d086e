"""The `voc` command: ingest files, list rejects, run the demo. Long steps show progress."""

from __future__ import annotations

import csv
import logging
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from voc.errors import VocError
from voc.types import SOURCES, Run, Theme

# Everything else is imported inside the commands that use it: voc.pipeline pulls in spaCy,
# torch and scipy, and the store and settings SQLAlchemy, Alembic and pydantic, which made
# `voc --help` take seconds (tests/test_cli.py keeps them out of `import voc.cli`).
if TYPE_CHECKING:
    from voc.engine import StepCallback
    from voc.ingest import Mapping
    from voc.pipeline import Ingestor, IngestSummary
    from voc.settings import VocSettings
    from voc.store import Store

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


def _settings() -> VocSettings:
    """The VOC_* settings (voc.settings.get_settings, cached there), imported on first use.

    Also pins the numeric libraries' thread pools to VOC_THREADS. Commands call this before
    they import anything numeric, because a pool's size is read when its library loads.
    """
    from voc.settings import apply_thread_limits, get_settings

    settings = get_settings()
    apply_thread_limits(settings.threads)
    return settings


def _open(settings: VocSettings) -> Store:
    from voc.settings import apply_thread_limits
    from voc.store import Store

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
    settings = _settings()
    from voc.ingest import load_mapping
    from voc.pipeline import Ingestor

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
    settings = _settings()
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
    serve: Annotated[
        bool, typer.Option(help="Then serve it on 127.0.0.1:8000 with a printed demo key.")
    ] = False,
) -> None:
    """Ingest the shipped bilingual demo corpus into a fresh demo database and summarise it."""
    from voc.settings import CORPORA_DIR, VocSettings, apply_thread_limits

    settings = VocSettings(data_dir=data_dir, workspace="demo")
    apply_thread_limits(settings.threads)
    from voc.pipeline import Ingestor

    corpus = CORPORA_DIR / "demo"
    if data_dir.exists():
        shutil.rmtree(data_dir)
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
    try:
        run, themes = _recluster_with_progress(store, settings, "demo", None, 0)
    except VocError as exc:
        raise _fail(exc) from exc
    print_themes(run, themes, top=15)
    console.print(f"Demo database: [bold]{settings.resolved_database_url}[/]")
    report_path = data_dir / "report.html"
    write_report(store, "demo", report_path, "html", "zh")
    console.print(f"Demo report: [bold]{report_path.resolve()}[/]")
    if serve:
        _serve_demo(store, settings, themes[0].theme_id if themes else "T-0001")


def _serve_demo(store: Store, settings: VocSettings, theme_id: str) -> None:
    """Serve the demo workspace with a fresh admin key and curl lines to try."""
    import uvicorn

    from api.main import create_app
    from voc.keys import create_key

    _, token = create_key(store, "demo", ["admin"], "demo")
    base = "http://127.0.0.1:8000/v1/workspaces/demo"
    auth = f'-H "Authorization: Bearer {token}"'
    body = '{"records": [{"source": "ticket", "text": "提现三天了还没到账，客服电话打不通。"}]}'
    console.print(f"Demo API key (admin): [bold]{token}[/]")
    typer.echo(
        "\n".join(
            [
                "Try:",
                f'  curl -s "{base}/themes?limit=5" {auth}',
                f"  curl -s {base}/themes/{theme_id} {auth}",
                f'  curl -s "{base}/units?q=退款" {auth}',
                f"  curl -s -X POST {base}/feedback {auth} -H 'Content-Type: application/json' "
                f"-d '{body}'",
                "  open http://127.0.0.1:8000/docs",
            ]
        )
    )
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=8000,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_s)),
        **server_stack(),
    )


def server_stack() -> dict[str, str]:
    """uvicorn's HTTP parser and event loop: httptools and uvloop (dependencies, both C),
    which serve a small request with several times less CPU than the pure-Python h11 parser
    and asyncio's own loop. A platform without them (uvloop has no Windows build) falls back
    to those, saying so once on stderr rather than refusing to serve."""
    import importlib.util

    stack = {"http": "httptools", "loop": "uvloop"}
    fallback = {"http": "h11", "loop": "asyncio"}
    missing = [name for name in stack.values() if importlib.util.find_spec(name) is None]
    for key, module in list(stack.items()):
        if module in missing:
            stack[key] = fallback[key]
    if missing:
        err_console.print(
            f"[yellow]warning[/]: {' and '.join(missing)} not installed; serving with "
            f"{stack['http']} and {stack['loop']} (slower). Install the package's dependencies."
        )
    return stack


@app.command()
def recluster(
    workspace: Annotated[
        str | None, typer.Option(help="Workspace (default: VOC_WORKSPACE).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Name in models/manifest.toml or a local sentence-transformers path."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and data, same themes.")] = 0,
    top: Annotated[int, typer.Option(help="How many themes to print.")] = 20,
    engine: Annotated[
        Literal["local", "ray"] | None,
        typer.Option(help="Where units are embedded and assigned (default: VOC_ENGINE)."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster for --engine ray: auto, ray://HOST:10001, HOST:6379."),
    ] = None,
) -> None:
    """Cluster the stored units of a workspace into a new run of themes and print the top ones.

    Refused while another run of the workspace is queued or running anywhere (the API, the
    weekly worker, another `voc recluster`); runs left behind by a process that died are
    marked failed first. SIGTERM or Ctrl-C fails the run with a reason and keeps the previous
    one current.
    """
    settings = _settings()
    # voc.pipeline (and the embedder, engine and store it imports) is loaded before SIGTERM
    # is taken over, as when it was imported with this module: a stop while loading ends the
    # process as it always did, and one after that fails the run with a reason.
    from voc.jobs import stop_on_sigterm
    from voc.pipeline import run_summary

    overrides = {"engine": engine, "ray_address": address}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    stop_on_sigterm()
    try:
        store = _open(settings)
        report_recovered(store, settings)
        run, themes = _recluster_with_progress(
            store, settings, workspace or settings.workspace, model, seed
        )
        summary = run_summary(store, run)
    except VocError as exc:
        raise _fail(exc) from exc
    print_themes(run, themes, top)
    for line in summary.lines():
        console.print(line, highlight=False, markup=False)


def report_recovered(store: Store, settings: VocSettings) -> None:
    """Fail runs whose process died (voc.jobs) and say so: their workspaces were not
    re-clustered, and the user may be waiting on one of them."""
    from voc.jobs import recover_interrupted

    recovery = recover_interrupted(store, settings.run_stale_after_s, ["run"])
    for run_id in recovery.runs:
        err_console.print(
            f"[yellow]note[/]: run {run_id} was interrupted (the process running it stopped); "
            "marked failed, the previous run stays current.",
            highlight=False,
        )


@app.command()
def cluster(
    input_csv: Annotated[Path, typer.Argument(help="CSV in any encoding voc reads.")],
    text_column: Annotated[str, typer.Option(help="Column holding the text.")] = "text",
    id_column: Annotated[str | None, typer.Option(help="Column copied to the output.")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Name in models/manifest.toml or a local sentence-transformers path."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[Path, typer.Option(help="Where to write the assignments CSV.")] = Path(
        "assignments.csv"
    ),
) -> None:
    """Cluster the rows of any CSV into themes, statelessly: one output row per input row with
    row, theme_id (-1 unassigned), theme_label, confidence, and the row's intent, journey stage
    and sentiment (voc.needs)."""
    settings = _settings()
    from voc.embed import load_embedder
    from voc.pipeline import cluster_csv

    try:
        embedder = load_embedder(model, threads=settings.threads)
        with _step_progress() as progress:
            rows = cluster_csv(
                input_csv, text_column, embedder, settings, id_column, seed, progress
            )
    except VocError as exc:
        raise _fail(exc) from exc
    fields = ["row", *(["id"] if id_column else []), "theme_id", "theme_label", "confidence"]
    fields += ["intent", "stage", "sentiment"]
    with out.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in rows:
            writer.writerow(
                [r.row, *([r.id] if id_column else []), r.theme_id, r.theme_label, r.confidence]
                + [r.intent, r.stage, r.sentiment]
            )
    themes = len({r.theme_id for r in rows} - {-1})
    unassigned = sum(r.theme_id == -1 for r in rows)
    console.print(
        f"{len(rows):,} rows, {themes} themes, {unassigned:,} unassigned; wrote [bold]{out}[/]"
    )


themes_app = typer.Typer(
    help="Curate themes: rename, merge, split off, pin, hide; list curations and undo one. "
    "Applies to the current run at once and after every re-cluster."
)
app.add_typer(themes_app, name="themes")

WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", help="Workspace (default: VOC_WORKSPACE).")
]


def _curate(
    workspace: str | None,
    kind: str,
    theme_id: str,
    name: str | None = None,
    target_id: str | None = None,
    unit_ids: list[str] | None = None,
) -> None:
    settings = _settings()
    from voc.pipeline import curate

    try:
        store = _open(settings)
        cur, themes = curate(
            store,
            settings,
            workspace or settings.workspace,
            kind,
            theme_id,
            "cli",
            name,
            target_id,
            unit_ids or [],
        )
    except VocError as exc:
        raise _fail(exc) from exc
    shown = {t.theme_id: t for t in themes}
    what = {
        "rename": f"{cur.theme_id} is now shown as {cur.name!r}",
        "merge": f"{cur.theme_id} is merged into {cur.target_id}",
        "split_off": f"{len(cur.unit_ids)} units split off into {cur.theme_id} {cur.name!r}",
        "pin": f"{cur.theme_id} is pinned"
        + (f" as {shown[cur.theme_id].name!r}" if cur.theme_id in shown else ""),
        "hide": f"{cur.theme_id} is hidden",
    }[cur.kind]
    console.print(f"curation {cur.id}: {what}; {sum(t.level == 0 for t in themes)} themes served")


@themes_app.command("rename")
def themes_rename(theme_id: str, name: str, workspace: WorkspaceOption = None) -> None:
    """Show THEME_ID as NAME from now on."""
    _curate(workspace, "rename", theme_id, name=name)


@themes_app.command("merge")
def themes_merge(theme_id: str, target_id: str, workspace: WorkspaceOption = None) -> None:
    """Serve THEME_ID's units as TARGET_ID from now on."""
    _curate(workspace, "merge", theme_id, target_id=target_id)


@themes_app.command("split-off")
def themes_split_off(
    theme_id: str,
    name: str,
    unit_ids: Annotated[list[str], typer.Argument(help="Units of THEME_ID to move.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Move UNIT_IDS of THEME_ID into a new theme named NAME (its id is printed)."""
    _curate(workspace, "split_off", theme_id, name=name, unit_ids=unit_ids)


@themes_app.command("pin")
def themes_pin(
    theme_id: str,
    name: Annotated[str | None, typer.Option(help="Freeze the name to this.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Keep THEME_ID's id and name through re-clusters."""
    _curate(workspace, "pin", theme_id, name=name)


@themes_app.command("hide")
def themes_hide(theme_id: str, workspace: WorkspaceOption = None) -> None:
    """Leave THEME_ID out of theme lists and alerts."""
    _curate(workspace, "hide", theme_id)


@themes_app.command("curations")
def themes_curations(workspace: WorkspaceOption = None) -> None:
    """List the workspace's curations in the order they apply, undone ones included."""
    settings = _settings()
    try:
        rows = _open(settings).list_curations(workspace or settings.workspace, active_only=False)
    except VocError as exc:
        raise _fail(exc) from exc
    table = Table(
        "id", "kind", "theme", "name", "target", "units", "by", "created", "active", box=box.SIMPLE
    )
    for c in rows:
        table.add_row(
            str(c.id),
            c.kind,
            c.theme_id,
            c.name or "",
            c.target_id or "",
            str(len(c.unit_ids)) if c.unit_ids else "",
            c.created_by,
            f"{c.created_at:%Y-%m-%d %H:%M}",
            "yes" if c.active else "undone",
        )
    console.print(table)


@themes_app.command("undo")
def themes_undo(curation_id: int, workspace: WorkspaceOption = None) -> None:
    """Stop applying CURATION_ID; the current run's themes are served without it at once."""
    settings = _settings()
    from voc.pipeline import undo_curation

    try:
        store = _open(settings)
        cur, themes = undo_curation(
            store, settings, workspace or settings.workspace, curation_id, "cli"
        )
    except VocError as exc:
        raise _fail(exc) from exc
    console.print(
        f"curation {cur.id} ({cur.kind} of {cur.theme_id}) undone; "
        f"{sum(t.level == 0 for t in themes)} themes served"
    )


keys_app = typer.Typer(help="API keys of the HTTP service: create, list, revoke.")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option(help="The workspace the key reads and writes.")],
    scope: Annotated[
        list[str], typer.Option(help="read | submit | admin (repeatable; admin implies all).")
    ],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. zendesk-sync.")] = "",
) -> None:
    """Create a key and print its token once; only a hash of it is stored."""
    settings = _settings()
    from voc.keys import create_key

    try:
        key, token = create_key(_open(settings), workspace, scope, name)
    except VocError as exc:
        raise _fail(exc) from exc
    console.print(f"key [bold]{key.id}[/] for workspace {workspace} ({', '.join(key.scopes)})")
    console.print("Token (shown once, store it now):")
    typer.echo(token)


@keys_app.command("list")
def keys_list(
    workspace: Annotated[str | None, typer.Option(help="Only this workspace.")] = None,
) -> None:
    """Keys with their workspace, scopes and whether they are revoked; never the secrets."""
    keys = _open(_settings()).list_api_keys(workspace)
    table = Table("key", "workspace", "name", "scopes", "created", "revoked", box=box.SIMPLE)
    for key in keys:
        table.add_row(
            key.id,
            key.workspace_id,
            key.name,
            ", ".join(key.scopes),
            key.created_at.strftime("%Y-%m-%d %H:%M"),
            key.revoked_at.strftime("%Y-%m-%d %H:%M") if key.revoked_at else "",
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from `voc keys list`.")],
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    try:
        key = _open(_settings()).revoke_api_key(key_id)
    except VocError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked key [bold]{key.id}[/] of workspace {key.workspace_id}")


ReportFormat = Literal["html", "md"]
ExportWhat = Literal["themes", "assignments"]


@app.command()
def report(
    workspace: WorkspaceOption = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Only feedback written on or after this day."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: report.html or report.md).")
    ] = None,
    format_: Annotated[
        ReportFormat,
        typer.Option("--format", help="html: the theme report; md: the monthly insight report."),
    ] = "html",
    lang: Annotated[
        Literal["zh", "en"],
        typer.Option(help="Language the page opens in (html) or is written in (md)."),
    ] = "zh",
) -> None:
    """Write the theme report: one HTML file that works offline, or the monthly Markdown
    insight report (summary, top needs, changes, alerts, follow-ups with quotes)."""
    settings = _settings()
    ws = workspace or settings.workspace
    day = since.date() if since else None
    target = out or Path(f"report.{format_}")
    try:
        store = _open(settings)
        write_report(store, ws, target, format_, lang, day)
    except VocError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote [bold]{target}[/] ({target.stat().st_size / 1e6:.1f} MB)")


def write_report(
    store: Store, workspace: str, out: Path, format_: str, lang: str, since: date | None = None
) -> None:
    """Build and write one report; the Markdown report is built over all dates, so it can
    compare the period from `since` with the one before it."""
    from voc.report import build_report, render_html
    from voc.report.markdown import render_markdown

    out.parent.mkdir(parents=True, exist_ok=True)
    if format_ == "md":
        data = build_report(store, workspace, lang=lang)
        out.write_text(render_markdown(data, lang, since), encoding="utf-8")
    else:
        out.write_text(render_html(build_report(store, workspace, since, lang=lang)), "utf-8")


@app.command()
def export(
    what: Annotated[ExportWhat, typer.Argument(help="themes or assignments (one row per unit).")],
    workspace: WorkspaceOption = None,
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: WHAT.csv or WHAT.json).")
    ] = None,
    format_: Annotated[
        Literal["csv", "json"], typer.Option("--format", help="csv (for spreadsheets) or json.")
    ] = "csv",
) -> None:
    """Export the current run's themes, or every unit with its theme, as CSV or JSON; columns
    are documented in docs/formats.md."""
    settings = _settings()
    from voc.report.export import (
        ASSIGNMENT_COLUMNS,
        THEME_COLUMNS,
        assignment_rows,
        theme_rows,
        write_rows,
    )

    ws = workspace or settings.workspace
    target = out or Path(f"{what}.{format_}")
    try:
        store = _open(settings)
        if what == "themes":
            n = write_rows(theme_rows(store, ws), THEME_COLUMNS, target, format_)
        else:
            n = write_rows(assignment_rows(store, ws), ASSIGNMENT_COLUMNS, target, format_)
    except VocError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {n:,} {what} rows to [bold]{target}[/]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes, each loading the model.")] = 1,
) -> None:
    """Serve the HTTP API (settings from VOC_* variables); docs at /docs.

    Access logs stay off: their query strings carry customer text (`/units?q=...`).
    """
    import uvicorn

    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        timeout_graceful_shutdown=max(1, round(_settings().shutdown_grace_s)),
        **server_stack(),
    )


@contextmanager
def _step_progress() -> Iterator[StepCallback]:
    """A progress bar per step (embed, cluster) for callbacks of voc.pipeline."""
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        yield progress


def _recluster_with_progress(
    store: Store, settings: VocSettings, workspace: str, model: str | None, seed: int
) -> tuple[Run, list[Theme]]:
    from voc.embed import load_embedder
    from voc.engine import make_engine
    from voc.pipeline import recluster as recluster_workspace

    embedder = load_embedder(model or settings.model, threads=settings.threads)
    engine = make_engine(settings, model)
    with _step_progress() as progress:
        return recluster_workspace(
            store, settings, workspace, embedder, seed, None, progress, engine=engine
        )


def print_themes(run: Run, themes: list[Theme], top: int) -> None:
    """The largest themes with their languages and two customer quotes each."""
    children = [t for t in themes if t.level == 0]
    names = {t.theme_id: t.name for t in themes}
    table = Table(
        "theme",
        "name",
        "size",
        "zh/en",
        "parent",
        "priority",
        "need",
        "quotes",
        box=box.SIMPLE,
        show_lines=True,
    )
    table.title = f"Top themes of run {run.run_id[:8]} ({run.model_id})"
    for theme in children[:top]:
        quotes = "\n".join(f"“{q['text'][:70]}”" for q in theme.quotes[:2])
        needs = theme.needs or {}
        flags = " [unstated need]" if needs.get("unstated") else ""
        table.add_row(
            theme.theme_id,
            theme.name,
            f"{theme.size:,}",
            f"{theme.langs.get('zh', 0)}/{theme.langs.get('en', 0)}",
            names.get(theme.parent_id or "", ""),
            f"{needs['priority']:.0f}" if needs else "",
            "\n".join(needs.get("need_statement", {}).values()) + flags,
            quotes,
        )
    console.print(table)
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in run.timings.items())
    console.print(
        f"{run.n_themes} themes from {run.n_units:,} units, {run.unassigned:,} unassigned "
        f"({run.unassigned / max(run.n_units, 1):.1%}); {timings}"
    )


def _ingest_with_progress(
    ingestor: Ingestor,
    paths: list[Path],
    source: str,
    workspace: str | None,
    mapping: Mapping | None,
) -> IngestSummary:
    from voc.pipeline import expand_paths

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
