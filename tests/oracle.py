"""Comparison helpers: eager NumPy is the oracle."""
from __future__ import annotations

from typing import Any

import numpy as np

from tracenp.graph.pytree import flatten


def assert_same(actual: Any, expected: Any, rtol: float = 0.0, atol: float = 0.0,
                where: str = "") -> None:
    """Same structure, type kind, dtype, shape and values (NaN where NaN, exact by default)."""
    a_leaves, a_tree = flatten(actual)
    e_leaves, e_tree = flatten(expected)
    assert a_tree == e_tree, f"{where}: structure {a_tree} != {e_tree}"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        tag = f"{where} leaf {i}"
        if isinstance(e, (np.ndarray, np.generic)):
            assert type(a) is type(e), f"{tag}: type {type(a).__name__} != {type(e).__name__}"
            assert a.dtype == e.dtype, f"{tag}: dtype {a.dtype} != {e.dtype}"
            assert a.shape == e.shape, f"{tag}: shape {a.shape} != {e.shape}"
            if rtol == 0 and atol == 0:
                np.testing.assert_array_equal(a, e, err_msg=tag, strict=True)
            else:
                np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=tag)
        elif isinstance(e, (float, complex)):
            assert type(a) is type(e), f"{tag}: type {type(a).__name__} != {type(e).__name__}"
            if rtol == 0 and atol == 0:
                same = [(x == y) or (x != x and y != y) for x, y in
                        ((a.real, e.real), (a.imag, e.imag))]   # NaN where NaN
                assert all(same), f"{tag}: {a} != {e}"
            else:
                np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=tag)
        else:
            assert type(a) is type(e) and a == e, f"{tag}: {a!r} != {e!r}"
