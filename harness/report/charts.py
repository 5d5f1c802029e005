"""SVG charts for report.html, drawn by pygal (a maintained, pure-Python SVG charting library).

Every chart is an inline <svg> with its CSS inside it: no JavaScript from the network (pygal's default
tooltip script is a URL, so `js=[]`), no web fonts, no XML declaration (it sits inside the HTML page).
Points are drawn as dots, so a reader (and the browser test) can count what was plotted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pygal
from pygal.style import Style

STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#333",
    foreground_strong="#111",
    foreground_subtle="#888",
    opacity=".9",
    opacity_hover="1",
    colors=("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
    font_family="system-ui, -apple-system, 'Segoe UI', sans-serif",
)

Point = tuple[float, float]
# pygal writes its tooltip configuration as an inline <script> even without the script that reads it: data
# nobody uses, which a Content-Security-Policy of `default-src 'none'` would report as blocked
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)


@dataclass(slots=True)
class Series:
    title: str
    points: list[Point]


def _config(title: str, x_title: str, y_title: str) -> dict:
    return {
        "title": title,
        "x_title": x_title,
        "y_title": y_title,
        "js": [],  # pygal's default is a script URL: a self-contained report loads nothing
        "disable_xml_declaration": True,
        "style": STYLE,
        "show_dots": True,
        "dots_size": 2.5,
        "width": 760,
        "height": 320,
        "explicit_size": True,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "print_values": False,
        "include_x_axis": True,
    }


MAX_POINTS = 240  # per series: a long nightly run is thinned to this many (first and last always kept)


def thin(points: Sequence[Point], limit: int = MAX_POINTS) -> list[Point]:
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def line_chart(title: str, x_title: str, y_title: str, series: Sequence[Series]) -> str | None:
    """An XY line chart as inline SVG; None when no series has a point (the report says so instead)."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return None
    chart = pygal.XY(**_config(title, x_title, y_title))
    for s in drawn:
        chart.add(s.title, [(float(x), float(y)) for x, y in thin(s.points)])
    return _SCRIPT.sub("", chart.render(is_unicode=True))


def labelled_line_chart(title: str, y_title: str, labels: Sequence[str], series: Sequence[Series]) -> str | None:
    """A line chart over categorical x labels (one per run of a trend); None without points."""
    drawn = [s for s in series if any(y is not None for _, y in s.points)]
    if not drawn or not labels:
        return None
    chart = pygal.Line(**_config(title, "", y_title), x_label_rotation=30, show_minor_x_labels=len(labels) <= 20)
    chart.x_labels = list(labels)
    for s in drawn:
        chart.add(s.title, [y for _, y in s.points])
    return _SCRIPT.sub("", chart.render(is_unicode=True))
