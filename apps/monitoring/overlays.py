"""A column's reference-vs-current overlay, read from its two profiles (never the data):
shares per bin on common edges for a numeric column (from the exact sample, or the KLL
sketch's PMF past the exact bound), shares per category for a categorical one (the most
frequent, the rest as "other"). Stored with the column's result, so a page only reads."""

from __future__ import annotations

import math

import numpy as np

from apps.backends.jobs.profiles import CategoricalProfile, NumericProfile

BINS = 20
TOP_CATEGORIES = 20
OTHER_LABEL = "(other)"


def overlay(reference, current) -> dict:
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        return _numeric(reference, current)
    if isinstance(reference, CategoricalProfile) and isinstance(current, CategoricalProfile):
        return _categorical(reference, current)
    return {}


def _edges(reference: NumericProfile, current: NumericProfile) -> np.ndarray | None:
    low, high = min(reference.min, current.min), max(reference.max, current.max)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, BINS + 1)


def _shares(profile: NumericProfile, edges: np.ndarray) -> list[float]:
    if not profile.n:
        return [0.0] * (len(edges) - 1)
    if profile.sample is not None:
        counts, _ = np.histogram(profile.sample, bins=edges)
        return (counts / max(counts.sum(), 1)).round(6).tolist()
    # P(x < inner edge) pieces; the outer edges are the data's min and max
    pmf = np.asarray(profile.kll().get_pmf(edges[1:-1].tolist()), dtype=float)
    return pmf.clip(0.0, 1.0).round(6).tolist()


def _numeric(reference: NumericProfile, current: NumericProfile) -> dict:
    edges = _edges(reference, current)
    if edges is None:
        return {}
    centres = ((edges[:-1] + edges[1:]) / 2).round(6).tolist()
    return {
        "kind": "numeric",
        "x": centres,
        "width": float(edges[1] - edges[0]),
        "reference": _shares(reference, edges),
        "current": _shares(current, edges),
    }


def _categorical(reference: CategoricalProfile, current: CategoricalProfile) -> dict:
    ref_total, cur_total = max(reference.n, 1), max(current.n, 1)
    keys = set(reference.counts) | set(current.counts)
    weight = {key: reference.counts.get(key, 0) / ref_total + current.counts.get(key, 0) / cur_total for key in keys}
    top = sorted(keys, key=lambda key: (-weight[key], str(key)))[:TOP_CATEGORIES]
    ref = [reference.counts.get(key, 0) / ref_total for key in top]
    cur = [current.counts.get(key, 0) / cur_total for key in top]
    labels = [str(key) for key in top]
    if len(keys) > len(top) or reference.other or current.other:
        labels.append(OTHER_LABEL)
        ref.append(max(0.0, 1.0 - sum(ref)))
        cur.append(max(0.0, 1.0 - sum(cur)))
    return {
        "kind": "categorical",
        "x": labels,
        "reference": [round(v, 6) for v in ref],
        "current": [round(v, 6) for v in cur],
    }
