"""Side-by-side comparison of 2-5 versions of one model: each metric and
param, with every version's metric marked better or worse than the first
(the baseline) by the metric's direction."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import ModelVersion, RegisteredModel
from .sync import metric_direction

MIN_COMPARE, MAX_COMPARE = 2, 5


@dataclass(frozen=True)
class Cell:
    value: object = None
    mark: str = ""  # "better" | "worse" | "same" | "" (the baseline, or no value)
    best: bool = False


@dataclass(frozen=True)
class Row:
    name: str
    cells: list[Cell]
    direction: str = ""  # metrics only: "max" | "min"
    differs: bool = False


@dataclass(frozen=True)
class Comparison:
    versions: list[ModelVersion]
    metrics: list[Row] = field(default_factory=list)
    params: list[Row] = field(default_factory=list)


def _direction(model: RegisteredModel, name: str) -> str:
    if name == model.primary_metric:
        return model.primary_direction
    return metric_direction(name)


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def metric_row(name: str, values: list, direction: str) -> Row:
    numbers = [_number(v) for v in values]
    present = [n for n in numbers if n is not None]
    best = (max(present) if direction == "max" else min(present)) if present else None
    baseline = numbers[0]
    cells = []
    for index, number in enumerate(numbers):
        mark = ""
        if index and number is not None and baseline is not None:
            if number == baseline:
                mark = "same"
            else:
                mark = "better" if (number > baseline) == (direction == "max") else "worse"
        cells.append(Cell(value=number, mark=mark, best=number is not None and number == best and len(present) > 1))
    return Row(name=name, cells=cells, direction=direction, differs=len(set(present)) > 1)


def versions_compare(*, model: RegisteredModel, versions: list[ModelVersion]) -> Comparison:
    metric_names = sorted({name for v in versions for name in v.metrics})
    if model.primary_metric in metric_names:  # the primary metric first
        metric_names.remove(model.primary_metric)
        metric_names.insert(0, model.primary_metric)
    metrics = [
        metric_row(name, [v.metrics.get(name) for v in versions], _direction(model, name)) for name in metric_names
    ]
    params = []
    for name in sorted({name for v in versions for name in v.params}):
        values = [v.params.get(name) for v in versions]
        params.append(Row(name=name, cells=[Cell(value=value) for value in values], differs=len(set(values)) > 1))
    return Comparison(versions=versions, metrics=metrics, params=params)
