"""A Costs table's rows are written in Python (not per cell by the template): each value must
read exactly as the template showed it, escaped, and only the first rows are on the page."""

from datetime import date
from decimal import Decimal

from django.template import engines

from apps.costs.tables import ROWS_SHOWN, Table

# What the template wrote per cell before (kept here as the reference the rows are held to).
TEMPLATE_ROWS = engines["django"].from_string(
    '{% for link, row in table.linked_rows|slice:":200" %}<tr>{% for value in row %}<td>'
    '{% if forloop.first and link %}<a href="{{ link }}">{{ value }}</a>'
    '{% elif value is None %}<span class="muted">no traffic</span>'
    '{% elif value == "idle" %}<span class="badge failed" data-testid="idle">idle</span>'
    "{% else %}{{ value }}{% endif %}</td>{% endfor %}</tr>{% endfor %}"
)


def test_rows_read_as_the_template_wrote_them_escaped():
    table = Table(
        "per-prediction",
        "Cost per 1,000 predictions",
        ["endpoint", "day", "cost", "per 1,000", "idle"],
        [
            ["<script>alert(1)</script>", date(2026, 11, 3), Decimal("12.50"), None, "idle"],
            ["churn & co", date(2026, 11, 4), Decimal("0.0042"), 1.5, ""],
        ],
        links=['/models/a"b/?x=1&y=2', ""],
    )
    html = str(table.rows_html)
    assert html == TEMPLATE_ROWS.render({"table": table})
    assert "<script>" not in html and "&lt;script&gt;" in html and 'href="/models/a&quot;b/?x=1&amp;y=2"' in html
    assert "no traffic" in html and 'data-testid="idle"' in html


def test_only_the_first_rows_are_on_the_page():
    table = Table("spend", "Spend", ["model", "cost"], [[f"m-{n}", Decimal(n)] for n in range(ROWS_SHOWN + 50)])
    assert str(table.rows_html).count("<tr>") == ROWS_SHOWN
    assert table.csv().count("\n") == ROWS_SHOWN + 51  # the CSV has them all, with its header
