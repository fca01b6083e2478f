import json
from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from apps.core.markup import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str):
    """Sanitised HTML from Markdown: ``{{ template.description|markdown }}``."""
    return render_markdown(text)


@register.filter(name="as_json")
def as_json(value) -> str:
    """Indented JSON for showing a value (escaped by autoescape like any string)."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _seconds(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@register.filter(name="duration")
def duration(value) -> str:
    """A length of time as people say it: "11 s", "4 min 12 s", "2 h 5 min", "3 days"."""
    seconds = _seconds(value)
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


@register.filter(name="ago")
def ago(value, now=None) -> str:
    """How long ago: "just now" under 10 s, else "11 s ago", "2 min ago", "3 h ago"."""
    if not isinstance(value, datetime):
        return ""
    seconds = ((now or timezone.now()) - value).total_seconds()
    if seconds < 10:
        return "just now"
    return f"{duration(seconds)} ago"
