"""The drift statistics, one function each, computed as Evidently 0.7.23 computes them
(``evidently/legacy/calculations/stattests``) but vectorised over sorted samples and
counts, so they run on profiles as well as on data.

* ``ks``, ``wasserstein_normed``, ``anderson_darling`` read two ``Empirical`` samples;
* ``chi_square`` and ``z_test`` read counts per category, aligned;
* ``jensen_shannon``, ``psi``, ``kl_divergence``, ``hellinger`` and ``linf`` read shares
  per category or bin, aligned (``binning`` makes them as Evidently's ``get_binned_data``).

Each returns ``(statistic, p_value)``; p_value is None for a distance.

SciPy is imported in the functions that use it: it takes about a second to import, and
every process of the portal (the gateway, each web worker, each management command)
loads this module when monitoring registers its evidence check at start-up.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from apps.monitoring.drift.empirical import Empirical

# scipy.stats.ks_2samp computes the exact distribution up to this size, the asymptotic one above
_KS_EXACT_MAX_N = 10_000
# Wasserstein on exact samples works through a column in blocks of this many values
_BLOCK = 8_192  # 64 kB arrays: below glibc's mmap threshold, so reused, not faulted in anew
# Evidently's floor on the reference's standard deviation when it norms Wasserstein
_STD_FLOOR = 0.001
# anderson_ksamp's exact normalising sums cost O(N) memory; chunked past this
_AD_CHUNK = 2_000_000


def ks(reference: Empirical, current: Empirical) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov: the largest gap between the two CDFs and its
    two-sided p-value, as ``scipy.stats.ks_2samp`` (``method="auto"``)."""
    from scipy import stats  # on first use (module doc)

    if reference.exact and current.exact and max(reference.values.size, current.values.size) <= _KS_EXACT_MAX_N:
        result = stats.ks_2samp(reference.values, current.values)  # the exact null distribution: SciPy's own
        return float(result.statistic), float(result.pvalue)
    points = np.concatenate([reference.values, current.values])
    gaps = reference.cdf(points) - current.cdf(points)
    below, above = float(np.clip(-gaps.min(), 0, 1)), float(gaps.max())
    d = below if below > above else above
    m, n = sorted([reference.total, current.total], reverse=True)
    p = float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return d, p


def wasserstein_normed(reference: Empirical, current: Empirical, reference_std: float) -> tuple[float, None]:
    """Wasserstein-1 distance between the two samples over the reference's standard
    deviation (floored at 0.001, as Evidently's ``wasserstein_stat_test``)."""
    return wasserstein(reference, current) / max(reference_std, _STD_FLOOR), None


def wasserstein(reference: Empirical, current: Empirical) -> float:
    """W1 = the area between the two quantile functions. Exact samples: the quantile
    steps of n and m values fall on multiples of 1/n and 1/m, merged in integer
    arithmetic (no search, no second sort). Weighted: the same on the cumulative weights."""
    if reference.exact and current.exact:
        return _wasserstein_exact(reference.values, current.values)
    ranks_a = reference.cumulative[1:] / reference.total
    ranks_b = current.cumulative[1:] / current.total
    breaks = np.union1d(ranks_a, ranks_b)
    index_a = np.minimum(np.searchsorted(ranks_a, breaks, "left"), ranks_a.size - 1)
    index_b = np.minimum(np.searchsorted(ranks_b, breaks, "left"), ranks_b.size - 1)
    widths = np.diff(breaks, prepend=0.0)
    return float(np.sum(np.abs(reference.values[index_a] - current.values[index_b]) * widths))


def _wasserstein_exact(a: np.ndarray, b: np.ndarray) -> float:
    """In units of 1/(n*m), a's i-th value covers the ranks up to i*m, b's j-th up to j*n.
    Every rank interval between two consecutive ends (of either side, b's first on a tie)
    holds one value of each side, found by integer arithmetic: no merge, no search."""
    n, m = a.size, b.size
    if n == m:  # equal sizes (a window as long as its reference): the i-th values pair up, each over 1/n
        return _paired_distance(a, b) / n
    return float((_wasserstein_part(a, b, n, m, strict=False) + _wasserstein_part(b, a, m, n, strict=True)) / (n * m))


def _paired_distance(a: np.ndarray, b: np.ndarray) -> float:
    """sum |a_i - b_i| of two sorted samples of one size, in blocks into one small buffer
    (no temporary of a column's size: its page faults would cost more than the arithmetic)."""
    gap = np.empty(min(_BLOCK, a.size))
    total = 0.0
    for first in range(0, a.size, _BLOCK):  # blocks of a column, not rows
        block = gap[: min(_BLOCK, a.size - first)]
        np.subtract(a[first : first + block.size], b[first : first + block.size], out=block)
        np.abs(block, out=block)
        total += float(block.sum())
    return total


def _wasserstein_part(own: np.ndarray, other: np.ndarray, size: int, other_size: int, *, strict: bool) -> float:
    """The intervals ending at ``own``'s ends: each pairs own's value with ``other``'s
    ceil(end / size)-th, from the later of own's previous end and other's last end
    before it (at or before it for a's ends, strictly before for b's: ties put b first).
    Ends are integers below 2**53, so a float quotient is exact where it is an integer
    and far from one elsewhere: its floor and ceil are the integer ones.

    In blocks of ``_BLOCK`` ends: the temporaries stay small and reuse the same memory
    (fresh arrays of a column's size cost more in page faults than in arithmetic)."""
    total = 0.0
    for first in range(0, size, _BLOCK):  # blocks of a column, not rows
        count = min(_BLOCK, size - first)
        ends = np.arange(first + 1, first + count + 1, dtype=np.float64)
        ends *= other_size
        quotient = ends / size
        upper = np.ceil(quotient)  # other's value on the interval: its upper-th
        start = upper - 1 if strict else np.floor(quotient, out=quotient)
        start *= size
        np.maximum(start, ends - other_size, out=start)
        np.subtract(ends, start, out=ends)  # now the widths
        index = upper.astype(np.intp)
        index -= 1
        gap = other[index]
        np.subtract(own[first : first + count], gap, out=gap)
        np.abs(gap, out=gap)
        gap *= ends  # not `gap @ ends`: BLAS's threads spin, doubling the CPU time of a report
        total += float(gap.sum())
    return total


def anderson_darling(reference: Empirical, current: Empirical) -> tuple[float, float]:
    """k-sample Anderson-Darling (Scholz & Stephens, midrank version, as
    ``scipy.stats.anderson_ksamp`` by default): the standardized statistic and its
    p-value, interpolated in their table and capped to [0.001, 0.25] as SciPy does."""
    support = np.union1d(reference.values, current.values)
    counts = [side.point_counts(support) for side in (reference, current)]
    sizes = np.array([reference.total, current.total])
    total = sizes.sum()
    ties = counts[0] + counts[1]
    before = np.cumsum(ties) - ties  # pooled values below each support point
    b = before + ties / 2.0
    a2 = 0.0
    for count, size in zip(counts, sizes, strict=True):  # the two samples, not rows
        m = np.cumsum(count) - count / 2.0
        inner = ties / total * (total * m - b * size) ** 2 / (b * (total - b) - total * ties / 4.0)
        a2 += inner.sum() / size
    a2 *= (total - 1.0) / total
    return _anderson_standardized(a2, sizes, int(round(total)))


def _anderson_standardized(a2kn: float, sizes: np.ndarray, total: int) -> tuple[float, float]:
    k = 2
    h_sum = (1.0 / sizes).sum()
    h, g = _anderson_sums(total)
    a = (4 * g - 6) * (k - 1) + (10 - 6 * g) * h_sum
    b = (2 * g - 4) * k**2 + 8 * h * k + (2 * g - 14 * h - 4) * h_sum - 8 * h + 4 * g - 6
    c = (6 * h + 2 * g - 2) * k**2 + (4 * h - 4 * g + 6) * k + (2 * h - 6) * h_sum + 4 * h
    d = (2 * h + 6) * k**2 - 4 * h * k
    n = float(total)
    sigmasq = (a * n**3 + b * n**2 + c * n + d) / ((n - 1.0) * (n - 2.0) * (n - 3.0))
    m = k - 1
    statistic = (a2kn - m) / math.sqrt(sigmasq)
    # Scholz & Stephens' Table 2 interpolation, as scipy.stats.anderson_ksamp
    b0 = np.array([0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085])
    b1 = np.array([-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615])
    b2 = np.array([-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154])
    critical = b0 + b1 / math.sqrt(m) + b2 / m
    significance = np.array([0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001])
    if statistic < critical.min():
        p = significance.max()
    elif statistic > critical.max():
        p = significance.min()
    else:
        p = math.exp(np.polyval(np.polyfit(critical, np.log(significance), 2), statistic))
    return float(statistic), float(p)


def _anderson_sums(total: int) -> tuple[float, float]:
    """h = sum 1/i (i < N) and g = sum_i sum_j>i 1/((N-i) j), exactly as anderson_ksamp
    computes them; past ``_AD_CHUNK`` the same sums in chunks (bounded memory)."""
    if total <= _AD_CHUNK:
        tail = (1.0 / np.arange(total - 1, 1, -1)).cumsum()
        return float(tail[-1] + 1), float((tail / np.arange(2, total)).sum())
    carry, g = 0.0, 0.0
    for start in range(total - 1, 1, -_AD_CHUNK):  # chunks of a sum, not rows
        stop = max(start - _AD_CHUNK, 1)
        tail = carry + (1.0 / np.arange(start, stop, -1)).cumsum()
        position = np.arange(total - start + 1, total - stop + 1)
        g += float((tail / position).sum())
        carry = float(tail[-1])
    return carry + 1, g


def chi_square(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Pearson's chi-squared of the current counts against the reference's scaled to the
    current size (Evidently's ``chisquare`` test). A category the reference never had
    makes it infinite, p = 0."""
    from scipy import stats  # on first use (module doc)

    expected = reference_counts * (current_counts.sum() / reference_counts.sum())
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.chisquare(current_counts, expected)
    return float(result.statistic), float(result.pvalue)


def z_test(reference_counts: np.ndarray, current_counts: np.ndarray) -> tuple[float, float]:
    """Two-proportion Z-test (Evidently's ``z``): the share of every category but the
    first (categories sorted) on each side, pooled standard error, two-sided p."""
    from scipy import stats  # on first use (module doc)

    present_ref, present_cur = np.flatnonzero(reference_counts), np.flatnonzero(current_counts)
    if present_ref.size == 1 and present_cur.size == 1 and present_ref[0] == present_cur[0]:
        return 0.0, 1.0
    n1, n2 = float(reference_counts.sum()), float(current_counts.sum())
    p1 = float(n1 - reference_counts[0]) / n1
    p2 = float(n2 - current_counts[0]) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(z), float(2 * (1 - stats.norm.cdf(np.abs(z))))


def jensen_shannon(reference_shares: np.ndarray, current_shares: np.ndarray) -> tuple[float, None]:
    """Jensen-Shannon distance, natural log (``scipy.spatial.distance.jensenshannon``)."""
    from scipy import spatial  # on first use (module doc)

    return float(spatial.distance.jensenshannon(reference_shares, current_shares)), None


def psi(reference_shares: np.ndarray, current_shares: np.ndarray) -> tuple[float, None]:
    """Population stability index: sum of (ref - cur) * ln(ref / cur); the shares come
    with Evidently's epsilon in place of zeros (``binning.fill_zeroes``)."""
    return float(np.sum((reference_shares - current_shares) * np.log(reference_shares / current_shares))), None


def kl_divergence(reference_shares: np.ndarray, current_shares: np.ndarray) -> tuple[float, None]:
    """Kullback-Leibler divergence of current from reference, natural log, both
    renormalised to 1 (``scipy.stats.entropy``), zeros filled as for PSI."""
    from scipy import stats  # on first use (module doc)

    return float(stats.entropy(reference_shares, current_shares)), None


def hellinger(reference_shares: np.ndarray, current_shares: np.ndarray) -> tuple[float, None]:
    """Hellinger distance sqrt(1 - sum sqrt(p q)), the sum clipped to [0, 1]. For numeric
    columns the shares are Evidently's densities times its bin width."""
    overlap = float(np.clip(np.sum(np.sqrt(reference_shares * current_shares)), 0, 1))
    return math.sqrt(1 - overlap), None


def linf(reference_shares: np.ndarray, current_shares: np.ndarray) -> tuple[float, None]:
    """L-infinity distance: the largest change in any category's (or bin's) share, as
    SageMaker Model Monitor and TFDV compare categorical distributions (Evidently has
    no such test)."""
    return float(np.max(np.abs(reference_shares - current_shares))), None
