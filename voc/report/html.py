"""The HTML report: one self-contained file (data, chart library, script and style inline)
that opens offline and is also what the API serves.

Customer text travels only inside the JSON data block, with `<`, `>` and `&` escaped as
`\\u003c`, `\\u003e`, `\\u0026`, so no feedback text can close the block or start markup; the
page's script puts it into the DOM as text. Both inline scripts are fixed for a given voc
version, so the Content-Security-Policy allows exactly them by SHA-256 hash: the same policy
goes into the file's `<meta>` tag and into the API's response header, and nothing else can
run, not even an injected inline script. The JSON block is data (`application/json`), which a
policy does not need to allow.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CHART_JS = "echarts.common.min.js"
_JSON_ESCAPES = {
    ord("<"): "\\u003c",
    ord(">"): "\\u003e",
    ord("&"): "\\u0026",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )


@functools.cache
def _assets() -> dict[str, str]:
    """The vendored chart library and the page's own script and style, read once."""
    return {
        "echarts_js": (STATIC / CHART_JS).read_text(encoding="utf-8"),
        "app_js": (STATIC / "report.js").read_text(encoding="utf-8"),
        "css": (STATIC / "report.css").read_text(encoding="utf-8"),
    }


def _sha256(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@functools.cache
def content_security_policy(header: bool = True) -> str:
    """The page's policy: nothing but its own two scripts (by hash) and inline style.

    `header=False` gives the `<meta>` form, which browsers refuse `frame-ancestors` in.
    Inline style must be allowed: the chart library sets style attributes on what it draws.
    """
    assets = _assets()
    scripts = " ".join(_sha256(assets[k]) for k in ("echarts_js", "app_js"))
    parts = [
        "default-src 'none'",
        f"script-src {scripts}",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    if header:
        parts.append("frame-ancestors 'none'")
    return "; ".join(parts)


def report_json(data: dict[str, Any]) -> str:
    """`data` as JSON that is safe inside a `<script type="application/json">` element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.translate(_JSON_ESCAPES)


def render_html(data: dict[str, Any]) -> str:
    """The report page for report data from `voc.report.data.build_report`."""
    assets = _assets()
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang=data.get("lang", "zh"),
        title=f"voc \u00b7 {data['workspace']}",
        csp=content_security_policy(header=False),
        css=Markup(assets["css"]),
        data_json=Markup(report_json(data)),
        echarts_js=Markup(assets["echarts_js"]),
        app_js=Markup(assets["app_js"]),
    )
