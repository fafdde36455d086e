"""A real workspace for the report tests, and a real headless Chromium to open reports in.

The workspace (SQLite) holds the demo interviews (Chinese and English) and the demo English
app-store reviews, plus six tickets whose text carries markup (`<script>alert(1)</script>`)
and one whose text starts like a spreadsheet formula. It is clustered once with the real
default embedder; the markup tickets are then split off into a theme of their own, named with
markup too, the way a product manager would curate them, so every quote of that theme carries
the markup.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test`), driven by Playwright;
Playwright's own browser download is never used. Screenshots go to artifacts/report/.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.backends import Backend
from voc.embed import Embedder, load_embedder
from voc.pipeline import Ingestor, curate, recluster
from voc.settings import CORPORA_DIR, VocSettings
from voc.store import Store

WS = "shop"
XSS = "<script>alert(1)</script>"
XSS_NAME = "<img src=x onerror=alert(2)>"
FORMULA = '=HYPERLINK("http://example.invalid","refund")'
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "report"


@dataclass
class Workspace:
    store: Store
    settings: VocSettings
    embedder: Embedder
    xss_theme: str
    """The split-off theme whose units (and name) carry markup."""


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Workspace]:
    settings = backend.settings(tmp_path_factory.mktemp("report"))
    store = Store.open(settings.resolved_database_url)
    ingestor = Ingestor(store, settings)
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "interviews"], "interview", WS)
    ingestor.ingest_paths([CORPORA_DIR / "demo" / "reviews" / "app_store_en.csv"], "review", WS)
    tickets: list[dict[str, Any]] = [
        {
            "source": "ticket",
            "external_id": f"XSS-{i}",
            "text": f"The receipt page shows {XSS} instead of my order number {1000 + i}.",
            "created_at": f"2026-09-{10 + i}T10:00:00+00:00",
        }
        for i in range(6)
    ]
    tickets.append(
        {
            "source": "ticket",
            "external_id": "FORMULA-1",
            "text": FORMULA,
            "created_at": "2026-09-12T10:00:00+00:00",
        }
    )
    ingestor.submit(tickets, WS)
    embedder = load_embedder()
    run, _ = recluster(store, settings, WS, embedder)
    marked = {u.id for u in store.iter_units(WS) if XSS in u.text}
    themes = store.unit_assignments(run.run_id)
    home, _ = Counter(themes[u][0] for u in marked).most_common(1)[0]
    units = sorted(u for u in marked if themes[u][0] == home)
    split, _ = curate(store, settings, WS, "split_off", home, "test", XSS_NAME, unit_ids=units)
    yield Workspace(store, settings, embedder, split.theme_id)
    store.close()


@dataclass
class Page:
    """A browser page that records what would make a report broken or unsafe."""

    page: Any
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [m for m in self.console if m.startswith(("error", "pageerror"))]

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API keeps an event loop running in the main thread
    while it is open, and other modules' tests run their own loop there (asyncio.run)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    recorded = Page(tab)
    tab.on("console", lambda m: recorded.console.append(f"{m.type}: {m.text}"))
    tab.on("pageerror", lambda e: recorded.console.append(f"pageerror: {e}"))

    def on_dialog(dialog: Any) -> None:
        recorded.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield recorded
    context.close()
