"""Per instance-hour prices for estimates (bills come from Cost Explorer, see
``costs.py``): the approximate us-east-1 list prices in ``prices.json``, or a
JSON file of the same shape that the connection's ``price_table_path`` names."""

from __future__ import annotations

import json
from pathlib import Path

PRICE_TABLE = Path(__file__).with_name("prices.json")


def load_prices(path: str | Path | None = None) -> dict:
    return json.loads(Path(path or PRICE_TABLE).read_text())


def price_per_hour(instance_type: str, *, use: str = "training", table_path: str | None = None) -> float | None:
    """The price of an hour of ``instance_type`` for ``use`` ("training" or "hosting"), or None if unknown."""
    return load_prices(table_path).get(use, {}).get(instance_type)


def currency(table_path: str | None = None) -> str:
    return load_prices(table_path).get("currency", "USD")
