"""Plotly figure builders. Views pass the figure (a plain dict) to the
template with ``json_script``; static/js/charts.js draws every
``[data-chart]`` element with plotly.js served from the plotly package."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

SINGLE_POINT_SPAN = timedelta(hours=1)
LAYOUT = {
    "margin": {"l": 50, "r": 20, "t": 30, "b": 40},
    "height": 300,
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"size": 12},
}


def _figure(data: list[dict], **layout) -> dict:
    # Plain dicts in plotly.js's own schema: plotly's graph_objects would
    # validate every point on every request (slow on a model with 1,000 versions).
    return {"data": data, "layout": {**LAYOUT, **layout}}


def _date_axis(x: Sequence, x_range: tuple | None) -> dict:
    """A date axis over ``x_range`` when given; else Plotly's own fit, except for a single
    instant, which Plotly spreads over a millisecond: an hour each side instead."""
    if x_range is None and len(set(x)) == 1 and isinstance(x[0], datetime):
        x_range = (x[0] - SINGLE_POINT_SPAN, x[0] + SINGLE_POINT_SPAN)
    return {"type": "date", **({"range": [str(t) for t in x_range]} if x_range else {})}


def line_chart(*, x: Sequence, y: Sequence, title: str, x_title: str, y_title: str, labels: Sequence = ()) -> dict:
    """One series over categories (e.g. a metric over model versions)."""
    trace = {"type": "scatter", "x": list(x), "y": list(y), "mode": "lines+markers"}
    if labels:
        trace.update(text=list(labels), hovertemplate="%{text}: %{y}<extra></extra>")
    return _figure(
        [trace],
        title={"text": title},
        xaxis={"title": {"text": x_title}, "type": "category"},
        yaxis={"title": {"text": y_title}},
    )


def grouped_bar_chart(*, categories: Sequence[str], series: dict[str, Sequence[float | None]], title: str) -> dict:
    """One mark per series (e.g. a version) in each category (e.g. a metric),
    side by side. Marks, not bars: bars must start at 0, which hides the
    difference between 0.95 and 0.96; the y-axis fits the data instead."""
    traces = [
        {
            "type": "scatter",
            "mode": "markers",
            "marker": {"size": 12},
            "name": name,
            "x": list(categories),
            "y": list(values),
        }
        for name, values in series.items()
    ]
    return _figure(
        traces,
        title={"text": title},
        scattermode="group",
        yaxis={"autorange": True, "rangemode": "normal", "zeroline": False},
    )


def time_chart(
    *, series: dict[str, tuple[Sequence, Sequence]], title: str, y_title: str, x_range: tuple | None = None
) -> dict:
    """One line per series (e.g. an endpoint's variants) over time. ``x_range`` (start, end)
    fixes the axis to the window shown: without it, one point alone gets an axis of a
    fraction of a second around it."""
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": name, "x": [str(t) for t in x], "y": list(y)}
        for name, (x, y) in series.items()
    ]
    return _figure(
        traces,
        title={"text": title},
        xaxis=_date_axis([t for x, _ in series.values() for t in x], x_range),
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        legend={"orientation": "h"},
    )


def horizontal_bar_chart(*, labels: Sequence[str], values: Sequence[float], title: str, x_title: str) -> dict:
    """One bar per label, the first at the top (e.g. features by importance, largest first)."""
    trace = {"type": "bar", "orientation": "h", "x": list(values)[::-1], "y": list(labels)[::-1]}
    return _figure(
        [trace],
        title={"text": title},
        xaxis={"title": {"text": x_title}, "rangemode": "tozero"},
        yaxis={"automargin": True, "type": "category"},
        height=max(LAYOUT["height"], 60 + 26 * len(labels)),
    )


def bar_chart(
    *, categories: Sequence, series: dict[str, Sequence[float | None]], title: str, y_title: str, stacked: bool = False
) -> dict:
    """Bars per series over categories (dates or names), stacked or side by side (e.g. spend by team)."""
    traces = [
        {"type": "bar", "name": name, "x": [str(c) for c in categories], "y": list(values)}
        for name, values in series.items()
    ]
    return _figure(
        traces,
        title={"text": title},
        barmode="stack" if stacked else "group",
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        legend={"orientation": "h"},
    )


def threshold_chart(*, x: Sequence, y: Sequence, threshold: float, title: str, y_title: str) -> dict:
    """One series over time with its threshold as a dashed line across the axis (e.g. a
    feature's drift statistic)."""
    axis = _date_axis(list(x), None)
    ends = axis.get("range") or ([str(x[0]), str(x[-1])] if x else [])
    traces = [
        {"type": "scatter", "mode": "lines+markers", "name": y_title, "x": [str(t) for t in x], "y": list(y)},
        {
            "type": "scatter",
            "mode": "lines",
            "name": "threshold",
            "x": ends,
            "y": [threshold, threshold] if ends else [],
            "line": {"dash": "dash", "color": "#b91c1c"},
        },
    ]
    return _figure(
        traces,
        title={"text": f"{title}, dashed: threshold"},
        xaxis=axis,
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        showlegend=False,
        height=240,
    )


def overlay_chart(*, x: Sequence, series: dict[str, Sequence[float]], title: str, numeric: bool) -> dict:
    """Two distributions over the same bins or categories, overlaid (e.g. reference vs current)."""
    traces = [
        {"type": "bar", "name": name, "x": list(x), "y": list(values), "opacity": 0.6}
        for name, values in series.items()
    ]
    return _figure(
        traces,
        title={"text": title},
        barmode="overlay" if numeric else "group",
        xaxis={"type": "linear" if numeric else "category"},
        yaxis={"title": {"text": "share of rows"}, "rangemode": "tozero", "tickformat": ".0%"},
        legend={"orientation": "h"},
    )
