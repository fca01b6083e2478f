"""Django's ``{# #}`` comments end on their own line: one spread over two lines is shown to
people as text (it happened on the Costs page). Longer comments use ``{% comment %}``."""

from pathlib import Path

ROOTS = [
    Path(__file__).resolve().parent.parent / "templates",
    *Path(__file__).resolve().parent.parent.glob("apps/*/templates"),
]


def test_no_template_comment_spans_lines():
    spread = [
        f"{path.relative_to(path.parents[2])}:{n}"
        for root in ROOTS
        for path in root.rglob("*.html")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert spread == []
