"""A table of the Costs page: its rows (the CSV download) and the chart drawn from them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe

ROWS_SHOWN = 200  # on the page; the CSV has them all


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    figure: dict | None = None
    note: str = ""
    links: list[str] = field(default_factory=list)  # per row, a page its first cell links to ("": none)

    @property
    def linked_rows(self) -> list[tuple[str, list]]:
        return [(self.links[i] if i < len(self.links) else "", row) for i, row in enumerate(self.rows)]

    @property
    def rows_html(self) -> SafeString:
        """The first ``ROWS_SHOWN`` rows as ``<tr>``s, each value as the template would show it
        (localized, escaped): written here, since a template's tags per cell cost more than the
        rest of the page when a period has hundreds of endpoints and models."""
        rows = []
        for link, row in self.linked_rows[:ROWS_SHOWN]:
            cells = [_cell(value, link if n == 0 else "") for n, value in enumerate(row)]
            rows.append(f"<tr>{''.join(cells)}</tr>")
        return mark_safe("".join(rows))  # noqa: S308 - every value is escaped by _cell

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows([_plain(v) for v in row] for row in self.rows)
        return out.getvalue()


def _cell(value, link: str) -> str:
    if link:
        return f'<td><a href="{conditional_escape(link)}">{_text(value)}</a></td>'
    if value is None:
        return '<td><span class="muted">no traffic</span></td>'
    if value == "idle":
        return '<td><span class="badge failed" data-testid="idle">idle</span></td>'
    return f"<td>{_text(value)}</td>"


def _text(value) -> str:
    return conditional_escape(localize(value))


def _plain(value):
    return "" if value is None else value


def cents(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def money(value) -> float:
    return float(round(Decimal(value or 0), 2))
