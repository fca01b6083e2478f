"""A table of the Costs page: its rows (the CSV download) and the chart drawn from them."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal


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

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        writer.writerows([_plain(v) for v in row] for row in self.rows)
        return out.getvalue()


def _plain(value):
    return "" if value is None else value


def cents(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def money(value) -> float:
    return float(round(Decimal(value or 0), 2))
