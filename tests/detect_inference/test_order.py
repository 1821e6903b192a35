"""Our medians, quantiles and unique values against NumPy's, bit for bit."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import numpy.typing as npt
import pytest

from mlstix.detect.inference._order import median, quantiles, unique_ints


def _same(ours: object, numpy: object) -> bool:
    a, b = np.asarray(ours), np.asarray(numpy)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _sample(rng: np.random.Generator, kind: int, rows: int, cols: int) -> npt.NDArray[np.float64]:
    if kind == 0:
        return rng.normal(size=(rows, cols))
    if kind == 1:  # many ties
        return rng.integers(-3, 4, size=(rows, cols)).astype(np.float64)
    if kind == 2:  # zeros of both signs: which one a partition leaves at k must match
        return rng.choice([0.0, -0.0, 1.0, -1.0], size=(rows, cols))
    if kind == 3:  # heavy tails, huge values
        return rng.standard_cauchy(size=(rows, cols)) * 1e30
    out = rng.normal(size=(rows, cols))  # NaN and infinities in some columns
    out[rng.random((rows, cols)) < 0.1] = np.nan
    out[rng.random((rows, cols)) < 0.05] = np.inf
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", range(5))
def test_median_and_quantiles_are_numpys(dtype: type[np.floating], kind: int) -> None:
    rng = np.random.default_rng(kind)
    for rows in [*range(1, 12), 31, 32, 200, 201]:  # odd and even lengths, one row
        a = _sample(rng, kind, rows, 5).astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # inf - inf in NumPy's own interpolation
            pairs = [
                (median(a, axis=0), np.median(a, axis=0)),
                (median(np.abs(a - a[0]), axis=0), np.median(np.abs(a - a[0]), axis=0)),
                (median(a[:, 0]), np.median(a[:, 0])),
                (quantiles(a, [0.01, 0.99]), np.quantile(a, [0.01, 0.99], axis=0)),
                (quantiles(a, [0.0, 0.5, 1.0]), np.quantile(a, [0.0, 0.5, 1.0], axis=0)),
                (quantiles(a[:, 1], [0.25, 0.75]), np.quantile(a[:, 1], [0.25, 0.75])),
            ]
        for index, (ours, theirs) in enumerate(pairs):
            assert _same(ours, theirs), (rows, index, ours, theirs)
        assert float(median(a[:, 2])) == pytest.approx(float(np.median(a[:, 2])), nan_ok=True)


def test_median_does_not_change_its_input() -> None:
    a = np.random.default_rng(3).normal(size=(50, 4))
    copy = a.copy()
    median(a, axis=0)
    quantiles(a, [0.25, 0.75])
    assert np.array_equal(a, copy)


def test_unique_ints_is_numpys() -> None:
    rng = np.random.default_rng(5)
    for size in [0, 1, 2, 7, 300]:
        values = rng.integers(-5, 5, size=size)
        assert _same(unique_ints(values), np.unique(values))


def test_feature_spreads_do_not_import_numpy_ma() -> None:
    """The point of these: learning the endpoint's spreads leaves numpy.ma unloaded."""
    code = (
        "import sys, numpy as np\n"
        "from mlstix.detect.inference._baseline import _spread\n"
        "_spread(np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32))\n"
        "print('numpy.ma' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
