"""Each drift statistic against values computed independently: SciPy's own functions
on the raw data, NumPy's bin edges, and PSI / KL / Hellinger / L-infinity worked by hand."""

import math

import numpy as np
import pytest
from scipy import spatial, stats

from apps.monitoring.drift import binning, statistics
from apps.monitoring.drift.empirical import Empirical

RNG = np.random.default_rng(7)


def exact(values):
    return Empirical.of(values)


def weighted(values):
    """The same values as weighted items (weight 1 each): the sketch code path."""
    values = np.sort(np.asarray(values, dtype=float))
    return Empirical(values, np.ones(values.size))


@pytest.mark.parametrize(("n", "m"), [(40, 55), (300, 300), (900, 20_000), (25_000, 30_000)])
def test_ks_matches_scipy_exact_and_asymptotic(n, m):
    a, b = RNG.normal(size=n), RNG.normal(0.1, 1.1, size=m)
    expected = stats.ks_2samp(a, b)
    d, p = statistics.ks(exact(a), exact(b))
    assert (d, p) == (pytest.approx(expected.statistic, abs=1e-12), pytest.approx(expected.pvalue, rel=1e-9))
    d, p = statistics.ks(weighted(a), weighted(b))  # a sketch's items: the gap, and the asymptotic p
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(stats.ks_2samp(a, b, method="asymp").pvalue, rel=1e-9)


def test_ks_with_ties():
    a, b = RNG.integers(0, 7, 500).astype(float), RNG.integers(1, 8, 700).astype(float)
    d, p = statistics.ks(exact(a), exact(b))
    expected = stats.ks_2samp(a, b)
    assert (d, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))


@pytest.mark.parametrize(("n", "m"), [(1, 1), (7, 3), (50, 51), (1_000, 1_000), (20_000, 13_000)])
def test_wasserstein_matches_scipy(n, m):
    a, b = RNG.lognormal(size=n), RNG.lognormal(0.2, size=m)
    expected = stats.wasserstein_distance(a, b)
    assert statistics.wasserstein(exact(a), exact(b)) == pytest.approx(expected, rel=1e-12)
    assert statistics.wasserstein(weighted(a), weighted(b)) == pytest.approx(expected, rel=1e-12)


def test_wasserstein_with_ties_and_weights():
    a, b = RNG.integers(0, 5, 333).astype(float), RNG.integers(0, 6, 71).astype(float)
    assert statistics.wasserstein(exact(a), exact(b)) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)
    values, weights = np.array([1.0, 2.0, 5.0]), np.array([3.0, 1.0, 6.0])
    other = np.array([0.0, 2.0, 4.0, 9.0])
    expected = stats.wasserstein_distance(values, other, u_weights=weights)
    assert statistics.wasserstein(Empirical(values, weights), exact(other)) == pytest.approx(expected, rel=1e-12)


def test_wasserstein_normed_by_reference_std_with_evidently_floor():
    a, b = RNG.normal(5, 2, 2_000), RNG.normal(6, 2, 2_500)
    value, p = statistics.wasserstein_normed(exact(a), exact(b), float(np.std(a)))
    assert value == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), rel=1e-12)
    assert p is None
    constant = np.full(10, 3.0)
    value, _ = statistics.wasserstein_normed(exact(constant), exact(constant + 1), 0.0)
    assert value == pytest.approx(1 / 0.001)  # Evidently floors the std at 0.001


@pytest.mark.parametrize("ties", [False, True])
def test_anderson_darling_matches_scipy(ties):
    if ties:
        a, b = RNG.integers(0, 12, 400).astype(float), RNG.integers(1, 12, 350).astype(float)
    else:
        a, b = RNG.normal(size=400), RNG.normal(0.15, size=350)
    with pytest.warns(UserWarning):  # SciPy's note on its capped p-values / on `variant`
        expected = stats.anderson_ksamp([a, b])
    statistic, p = statistics.anderson_darling(exact(a), exact(b))
    assert statistic == pytest.approx(expected.statistic, rel=1e-10)
    assert p == pytest.approx(expected.pvalue, rel=1e-10)


def test_anderson_darling_sums_in_chunks_equal_the_direct_ones(monkeypatch):
    direct = statistics._anderson_sums(50_001)
    monkeypatch.setattr(statistics, "_AD_CHUNK", 7_000)
    assert statistics._anderson_sums(50_001) == pytest.approx(direct, rel=1e-12)


def test_chi_square_against_scipy_on_counts():
    reference, current = np.array([30.0, 50.0, 20.0]), np.array([80.0, 90.0, 30.0])
    statistic, p = statistics.chi_square(reference, current)
    expected = stats.chisquare(current, reference * current.sum() / reference.sum())
    assert (statistic, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))
    # by hand: expected counts 60, 100, 40
    assert statistic == pytest.approx(20**2 / 60 + 10**2 / 100 + 10**2 / 40)


def test_chi_square_new_category_is_certain_drift():
    statistic, p = statistics.chi_square(np.array([10.0, 0.0]), np.array([8.0, 2.0]))
    assert math.isinf(statistic) and p == 0.0


def test_z_test_by_hand():
    # reference 40 of 100 are not the first category, current 62 of 200
    z, p = statistics.z_test(np.array([60.0, 40.0]), np.array([138.0, 62.0]))
    pooled = (40 + 62) / 300
    expected = (0.40 - 0.31) / math.sqrt(pooled * (1 - pooled) * (1 / 100 + 1 / 200))
    assert z == pytest.approx(expected)
    assert p == pytest.approx(2 * (1 - stats.norm.cdf(abs(expected))))
    assert statistics.z_test(np.array([5.0, 0.0]), np.array([9.0, 0.0])) == (0.0, 1.0)


P, Q = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])


def test_jensen_shannon_matches_scipy():
    assert statistics.jensen_shannon(P, Q)[0] == pytest.approx(spatial.distance.jensenshannon(P, Q))
    m = (P + Q) / 2
    by_hand = math.sqrt((np.sum(P * np.log(P / m)) + np.sum(Q * np.log(Q / m))) / 2)
    assert statistics.jensen_shannon(P, Q)[0] == pytest.approx(by_hand)


def test_psi_by_hand():
    # (0.5-0.4) ln(0.5/0.4) + (0.3-0.4) ln(0.3/0.4) + 0
    assert statistics.psi(P, Q)[0] == pytest.approx(0.1 * math.log(1.25) + 0.1 * math.log(4 / 3))
    assert statistics.psi(P, Q)[0] == pytest.approx(0.0510826, abs=1e-7)


def test_kl_by_hand():
    # 0.5 ln(0.5/0.4) + 0.3 ln(0.3/0.4) + 0.2 ln(1)
    assert statistics.kl_divergence(P, Q)[0] == pytest.approx(0.5 * math.log(1.25) + 0.3 * math.log(0.75))
    assert statistics.kl_divergence(P, Q)[0] == pytest.approx(0.0252671, abs=1e-7)


def test_hellinger_and_linf_by_hand():
    overlap = math.sqrt(0.2) + math.sqrt(0.12) + 0.2
    assert statistics.hellinger(P, Q)[0] == pytest.approx(math.sqrt(1 - overlap))
    assert statistics.linf(P, Q)[0] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "values",
    [
        RNG.normal(size=1234),
        RNG.integers(-50, 50, 999),
        RNG.integers(0, 3, 5000),
        np.array([4.0, 4.0, 4.0]),
        np.array([7, 7]),
        RNG.exponential(size=77) * 1e6,
    ],
)
def test_sturges_edges_are_numpys(values):
    integer = np.issubdtype(values.dtype, np.integer)
    edges = binning.sturges_edges(values.min(), values.max(), values.size, integer)
    assert np.array_equal(edges, np.histogram_bin_edges(values, bins="sturges"))


def test_evidently_epsilon_for_zero_shares():
    assert binning.fill_zeroes(np.array([0.5, 0.0, 0.5])).tolist() == [0.5, 0.0001, 0.5]
    tiny = np.array([0.99995, 0.00005, 0.0])
    assert binning.fill_zeroes(tiny)[2] == pytest.approx(0.00005 / 10**6)
    assert binning.fill_zeroes(P) is P


def test_bin_counts_are_numpys_histogram():
    values = RNG.normal(size=3_000)
    edges = np.linspace(-2, 2, 9)
    inside = values[(values >= -2) & (values <= 2)]
    assert exact(values).bin_counts(edges).tolist() == np.histogram(inside, edges)[0].tolist()
