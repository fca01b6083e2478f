from django import template

from apps.approvals import presenters

register = template.Library()

# A glyph per verdict, beside the check's name (colour is never the only signal).
GLYPHS = {
    "passed": "\u2713",
    "warning": "!",
    "failed": "\u2717",
    "not_applicable": "\u2013",
    "error": "?",
    "pending": "\u2026",
}


@register.filter
def until(moment) -> str:
    """Time left before ``moment``: "6 days", "5 h 10 min" ("" once past)."""
    return presenters.time_left(moment)


@register.filter
def glyph(status: str) -> str:
    return GLYPHS.get(status, "")
