"""Atrium's results against Evidently 0.7.23's own, computed once with its stattests
(``evidently.legacy.calculations.stattests``: ``get_stattest`` for the default, each
registered test by name otherwise) on the deterministic frames below, so the engine is
held to Evidently's numbers without Evidently installed. bench/drift.py checks the same
on 25 columns at 1,000 to 200,000 rows, against a live Evidently."""

import numpy as np
import pandas as pd
import pytest

from apps.monitoring.drift import drift_report


def frames(rows_reference: int, rows_current: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    i, j = np.arange(rows_reference), np.arange(rows_current)
    reference = pd.DataFrame(
        {
            "wave": np.sin(i * 0.37) * 3 + (i % 11) * 0.1,
            "ramp": (i * 7919 % 1000) / 37.0,
            "grade": ["abcde"[k] for k in (i * 31 % 17) % 5],
            "flag": ["no" if k % 3 else "yes" for k in i],
        }
    )
    current = pd.DataFrame(
        {
            "wave": np.sin(j * 0.41) * 3.3 + (j % 13) * 0.1 + 0.4,
            "ramp": (j * 7919 % 1000) / 33.0,
            "grade": ["abcdef"[k] for k in (j * 29 % 19) % 6],  # "f" is new
            "flag": ["no" if k % 4 else "yes" for k in j],
        }
    )
    return reference, current


SIZES = {600: (600, 900), 3000: (3000, 2500)}  # a small reference (tests), a large one (distances)
# (reference rows, column, method, Evidently's default choice?, its drift score, its verdict)
EVIDENTLY = [
    (600, "wave", "ks", True, 1.1603796427236845e-08, True),
    (600, "wave", "psi", False, 0.6363569470815993, True),
    (600, "wave", "kl_div", False, 0.1389765889205239, True),
    (600, "wave", "hellinger", False, 0.23370304451974383, True),
    (600, "wave", "jensenshannon", False, 0.20697021206116586, True),
    (600, "wave", "wasserstein", False, 0.23084129634000267, True),
    (600, "wave", "anderson", False, 0.001, True),
    (600, "ramp", "ks", True, 0.00030891345446403364, True),
    (600, "ramp", "psi", False, 0.5765487750073264, True),
    (600, "ramp", "kl_div", False, 0.0909680858557192, False),
    (600, "ramp", "hellinger", False, 0.20919248448653696, True),
    (600, "ramp", "jensenshannon", False, 0.1759963905319412, True),
    (600, "ramp", "wasserstein", False, 0.20581718948008795, True),
    (600, "ramp", "anderson", False, 0.001, True),
    (600, "grade", "chisquare", True, 0.0, True),
    (600, "grade", "psi", False, 1.2008446669316268, True),
    (600, "grade", "kl_div", False, 0.17789643755267132, True),
    (600, "grade", "hellinger", False, 0.2895575954675674, True),
    (600, "grade", "jensenshannon", False, 0.24417916683252697, True),
    (600, "flag", "z", True, 0.00045007922634066055, True),
    (600, "flag", "psi", False, 0.033788759009013694, False),
    (600, "flag", "kl_div", False, 0.017372000379671293, False),
    (600, "flag", "hellinger", False, 0.06494677989430701, False),
    (600, "flag", "jensenshannon", False, 0.0649045071124932, False),
    (600, "flag", "chisquare", False, 1.1372725656979661e-07, True),
    (3000, "wave", "wasserstein", True, 0.2312132778981912, True),
    (3000, "wave", "psi", False, 0.578252888108971, True),
    (3000, "wave", "kl_div", False, 0.13903608495113357, True),
    (3000, "wave", "hellinger", False, 0.22986774478759425, True),
    (3000, "wave", "jensenshannon", False, 0.20663893029413313, True),
    (3000, "wave", "ks", False, 3.469265535837853e-30, True),
    (3000, "wave", "anderson", False, 0.001, True),
    (3000, "ramp", "wasserstein", True, 0.21052019469150193, True),
    (3000, "ramp", "psi", False, 0.5013747988501556, True),
    (3000, "ramp", "kl_div", False, 0.08566209900162669, False),
    (3000, "ramp", "hellinger", False, 0.209647823979005, True),
    (3000, "ramp", "jensenshannon", False, 0.16940329146083316, True),
    (3000, "ramp", "ks", False, 2.1153764865761623e-14, True),
    (3000, "ramp", "anderson", False, 0.001, True),
    (3000, "grade", "jensenshannon", True, 0.2443531143652695, True),
    (3000, "grade", "psi", False, 1.2027673068655982, True),
    (3000, "grade", "kl_div", False, 0.1781521590809353, True),
    (3000, "grade", "hellinger", False, 0.2897631687247149, True),
    (3000, "grade", "chisquare", False, 0.0, True),
    (3000, "flag", "jensenshannon", True, 0.0649045071124932, False),
    (3000, "flag", "psi", False, 0.033788759009013694, False),
    (3000, "flag", "kl_div", False, 0.017372000379671293, False),
    (3000, "flag", "hellinger", False, 0.06494677989430701, False),
    (3000, "flag", "chisquare", False, 9.672204131876269e-19, True),
]


@pytest.mark.parametrize(("rows", "column", "method", "default", "score", "drifted"), EVIDENTLY)
def test_same_method_score_and_verdict_as_evidently(rows, column, method, default, score, drifted):
    reference, current = frames(*SIZES[rows])
    result = drift_report(reference, current, columns={column: {} if default else {"method": method}})
    ours = result.columns[column]
    assert ours.method == method
    # Evidently's score is the p-value of a test, the statistic of a distance
    assert (ours.p_value if ours.p_value is not None else ours.statistic) == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert ours.drifted == drifted
