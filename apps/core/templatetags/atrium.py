import json

from django import template

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
