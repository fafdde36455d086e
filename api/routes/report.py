"""The theme report as a web page: the same self-contained HTML `voc report` writes, built on
request from the current run, with a Content-Security-Policy that lets only its own scripts
run (voc.report.html)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import ReadWorkspace, StoreDep
from api.schemas import PROBLEM_RESPONSES
from voc.report import build_report, content_security_policy, render_html

router = APIRouter(prefix="/v1/workspaces/{ws}", tags=["report"], responses=PROBLEM_RESPONSES)

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""Customer text is in the page: no cache keeps it, and no link leaks the URL."""


@router.get(
    "/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The report page."}},
)
def report(
    ws: ReadWorkspace,
    store: StoreDep,
    since: Annotated[date | None, Query(description="Only units written on or after.")] = None,
    lang: Annotated[
        Literal["zh", "en"], Query(description="Interface language it opens in.")
    ] = "zh",
) -> HTMLResponse:
    """The theme report (volume, alerts, themes with quotes and lineage) as one HTML page
    that works offline once saved."""
    page = render_html(build_report(store, ws, since, lang=lang))
    return HTMLResponse(
        page, headers={"Content-Security-Policy": content_security_policy(), **HEADERS}
    )
