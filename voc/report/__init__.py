"""Reports product managers read: the HTML theme report, the monthly Markdown insight report
and CSV/JSON exports, all built from one report data dict (`voc.report.data`)."""

from voc.report.data import NeedsData, build_report, needs_data
from voc.report.html import content_security_policy, render_html

__all__ = ["NeedsData", "build_report", "content_security_policy", "needs_data", "render_html"]
