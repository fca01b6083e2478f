"""What moved, in words a person reads on a report: "mean moved from 3.1 to 4.0
(+0.9σ)", "share of 'A' from 40% to 62%", with missing values and new categories
when they changed."""

from __future__ import annotations

import math

import numpy as np

from apps.monitoring.drift.sides import CategoricalSide, NumericSide, aligned_counts

# a change in spread or missing share worth a mention next to the headline
_STD_CHANGE = 0.10
_MISSING_CHANGE = 0.01


def numeric_effect(reference: NumericSide, current: NumericSide) -> str:
    ref, cur = reference.profile, current.profile
    parts = []
    if ref.std > 0:
        parts.append(
            f"mean moved from {number(ref.mean)} to {number(cur.mean)} ({(cur.mean - ref.mean) / ref.std:+.2g}σ)"
        )
    else:
        parts.append(f"mean moved from {number(ref.mean)} to {number(cur.mean)}")
    if ref.std > 0 and abs(cur.std / ref.std - 1) > _STD_CHANGE:
        parts.append(f"std from {number(ref.std)} to {number(cur.std)}")
    return "; ".join(parts)


def categorical_effect(reference: CategoricalSide, current: CategoricalSide, new: list) -> str:
    keys, ref, cur = aligned_counts(reference, current)
    if not keys:
        return ""
    ref_share, cur_share = ref / reference.n, cur / current.n
    top = int(np.argmax(np.abs(cur_share - ref_share)))
    text = f"share of {label(keys[top])} from {share(ref_share[top])} to {share(cur_share[top])}"
    if new:
        shown = ", ".join(label(key) for key in new[:3])
        more = f" and {len(new) - 3} more" if len(new) > 3 else ""
        text += f"; {len(new)} new {'category' if len(new) == 1 else 'categories'} ({shown}{more})"
    return text


def missing_effect(reference_share: float, current_share: float) -> str:
    if abs(current_share - reference_share) < _MISSING_CHANGE:
        return ""
    return f"missing from {share(reference_share)} to {share(current_share)}"


def number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def share(value: float) -> str:
    if value and abs(value) < 0.1:
        return f"{100 * value:.1f}%"
    return f"{100 * value:.0f}%"


def label(key) -> str:
    return repr(key) if isinstance(key, str) else str(key)
