import json
from datetime import datetime, timedelta

from django import forms, template
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

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


# Units read from a key's suffix: "timeout_seconds" -> "timeout" in "s".
UNIT_SUFFIXES = {
    "_seconds": "s",
    "_secs": "s",
    "_s": "s",
    "_minutes": "min",
    "_hours": "h",
    "_ms": "ms",
    "_gb": "GB",
    "_mb": "MB",
    "_percent": "%",
    "_pct": "%",
    "_usd": "USD",
}


def _label(key: str) -> tuple[str, str]:
    key = str(key)
    unit = ""
    for suffix, found in UNIT_SUFFIXES.items():
        if key.lower().endswith(suffix) and len(key) > len(suffix):
            key, unit = key[: -len(suffix)], found
            break
    words = key.replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) if words else key, unit


def _rows(value, prefix: str = ""):
    for key, item in value.items():
        label, unit = _label(key)
        label = f"{prefix} · {label}" if prefix else label
        if isinstance(item, dict) and item:
            yield from _rows(item, label)
            continue
        if isinstance(item, list):
            item = ", ".join(json.dumps(i, ensure_ascii=False) if isinstance(i, dict | list) else str(i) for i in item)
        elif isinstance(item, dict):
            item = ""
        elif isinstance(item, bool):
            item = "yes" if item else "no"
        elif item is None:
            item = ""
        text = str(item)
        yield {
            "key": str(key),
            "name": label,
            "value": text,
            "unit": unit,
            "link": text if text.startswith(("https://", "http://")) else "",
            "reference": "${{" in text,
        }


@register.filter(name="as_fields")
def as_fields(value) -> list[dict]:
    """A JSON object as labelled rows for people: name, value, unit (nested
    objects flattened as "Hyperparameters · N estimators")."""
    if not isinstance(value, dict):
        return []
    return list(_rows(value))


@register.filter(name="elapsed")
def elapsed(start, end=None) -> str:
    """The time from ``start`` to ``end`` (or now), as ``duration`` says it."""
    if not isinstance(start, datetime):
        return ""
    return duration(((end if isinstance(end, datetime) else timezone.now()) - start).total_seconds())


def _attributes(attrs: dict) -> str:
    """``flatatt(attrs)`` (same order, same escaping) without a format_html per attribute:
    on the Models filter bar those were a twentieth of the page's time."""
    pairs = sorted((key, value) for key, value in attrs.items() if value is not None and not isinstance(value, bool))
    flags = sorted(key for key, value in attrs.items() if value is True)
    return "".join(f' {conditional_escape(key)}="{conditional_escape(value)}"' for key, value in pairs) + "".join(
        f" {conditional_escape(key)}" for key in flags
    )


@register.simple_tag
def filter_control(field):
    """One control of a filter bar (``FilterForm``), written out directly: Django's
    widget templates (an include per option, another per attribute list) cost a
    list page more than its whole table (Runs: 6.7 of 22 ms)."""
    widget = field.field.widget
    attrs = {**widget.attrs, "name": field.html_name, "id": field.auto_id}
    value = field.value()
    if isinstance(widget, forms.CheckboxInput):
        attrs.update(type="checkbox", checked=bool(value))
        return mark_safe(f"<input{_attributes(attrs)}>")  # noqa: S308 - every part escaped
    if isinstance(widget, forms.Select):
        current = "" if value is None else str(value)
        options = "".join(
            f'<option value="{conditional_escape(key)}"{" selected" if str(key) == current else ""}>'
            f"{conditional_escape(label)}</option>"
            for key, label in widget.choices
        )
        return mark_safe(f"<select{_attributes(attrs)}>{options}</select>")  # noqa: S308 - every part escaped
    attrs["type"] = widget.input_type
    if value not in (None, ""):
        attrs["value"] = str(value)
    if getattr(field.field, "max_length", None):
        attrs["maxlength"] = field.field.max_length
    return mark_safe(f"<input{_attributes(attrs)}>")  # noqa: S308 - every part escaped


@register.filter(name="stamp")
def stamp(value):
    """``<time datetime="ISO">YYYY-MM-DD HH:MM</time>`` in the current time zone, in one
    conversion: two ``date`` filters a row were a tenth of a list page's rendering."""
    if not isinstance(value, datetime):
        return ""
    local = timezone.localtime(value)
    # Digits, "-", ":", "+", "." and "T" only: nothing to escape, so no format_html per row.
    return mark_safe(f'<time datetime="{local.isoformat()}">{local.strftime("%Y-%m-%d %H:%M")}</time>')  # noqa: S308


@register.filter(name="iso")
def iso(value) -> str:
    """The ISO 8601 form of a time, in the current time zone (a tooltip's exact time)."""
    return timezone.localtime(value).isoformat() if isinstance(value, datetime) else ""
