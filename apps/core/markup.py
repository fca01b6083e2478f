"""Markdown written by users (template descriptions, ...) rendered to HTML
that is safe to show: nh3 keeps a small allow-list of tags and drops the rest,
scripts, event handlers and ``javascript:`` links included."""

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li",
    "h2", "h3", "h4", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(text or "", extensions=["tables", "fenced_code"], output_format="html")
    clean = nh3.clean(
        html, tags=ALLOWED_TAGS, attributes={"a": {"href", "title"}}, url_schemes={"http", "https", "mailto"}
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above
