"""Indexing: reads (basic, integer-array, mixed), writes (setitem, masks) and the in-place
NumPy functions that write through an index (np.add.at, np.put, np.copyto, ...).

Every case runs twice with different data through one compiled plan and is compared
with eager NumPy: results, arguments after the call, and identity of returned arguments.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracenp
from tests.diffcheck import check, compare_call, rng


def vec(seed, n=10, dtype=float):
    return rng(seed).normal(size=n).astype(dtype)


def mat(seed, shape=(4, 5), dtype=float):
    return rng(seed).normal(size=shape).astype(dtype)


# ---------------------------------------------------------------------------- basic reads

def basic_1d(x):
    return (x[::-1], x[8:2:-2], x[-100:100], x[20:], x[::-3], x[3], x[-1],
            x[None, 2:5, None], x[-3:], x[:-3:2], x[5:5], x[7:2])


def basic_2d(m):
    return (m[..., 1], m[1, ...], m[None, ..., None], m[1:3, ::-2], m[-1, -1], m[()],
            m[..., ::-1, :], m[:, -2], m[-4], m[::-1][::2, 1:][..., None], m[1][2:])


def basic_3d(t):
    return t[1, ..., 0], t[:, None, 1:, ::2], t[-1:, :, -1], t[..., 2], t[0][1][2]


@pytest.mark.parametrize("fn,make", [
    (basic_1d, lambda s: (vec(s),)),
    (basic_2d, lambda s: (mat(s),)),
    (basic_3d, lambda s: (mat(s, (2, 3, 4)),)),
    (basic_1d, lambda s: (vec(s, dtype=np.int32),)),
    (basic_2d, lambda s: (np.asfortranarray(mat(s)),)),
], ids=["1d", "2d", "3d", "1d-int32", "2d-fortran"])
def test_basic_reads(fn, make):
    check(fn, [make(0), make(1)])


def test_scalar_element_types():
    # m[i, j] is a NumPy scalar (not a 0-d array); m[()] of a 0-d array likewise.
    def f(m, z):
        return m[1, 2], m[1, 2] * 2.0, z[()], z[...], m[0, 0] + m[1, 1]
    check(f, [(mat(0), np.array(1.5)), (mat(1), np.array(-2.5))])


def test_iteration_and_unpacking():
    def f(m):
        a, b, c, d = m
        total = sum(row * k for k, row in enumerate(m))
        return a - d, total, [r[0] for r in m[1:3]]
    check(f, [(mat(0),), (mat(1),)])


def test_out_of_range_int_index_raises_like_numpy():
    def f(x):
        return x[12]
    f_c = tracenp.compile(f)
    with pytest.raises(IndexError):
        f(vec(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        with pytest.raises(IndexError):
            f_c(vec(0))


# ---------------------------------------------------------------------------- integer arrays

def int_index(m, i):
    return (m[i], m[i, 1:], m[:, i], m[[0, 2], [1, 3]], m[i[:, None], i], m[..., i],
            m[i, -1], m[1:, i][::-1], m[i][:, None, ::2])


def test_integer_array_index_traced():
    check(int_index, [(mat(0), np.array([0, 3, 1])), (mat(1), np.array([2, -1, 0]))])


def test_integer_array_index_constant_and_nested():
    def f(x):
        a = x[np.array([1, 2, 2, 0])]
        b = x[[[0, 1], [-1, -2]]]
        c = x[np.arange(0, 10, 3)]
        return a, b, c, x[[3]], x[np.array([], dtype=np.intp)]
    check(f, [(vec(0),), (vec(1),)])


def test_index_array_computed_in_function():
    def f(x, k):
        order = np.argsort(x)
        idx = (k * 2) % 10
        return x[order], x[idx], np.take(x, order[::-1]), np.take_along_axis(x, order, 0)
    check(f, [(vec(0), np.array([1, 7, 3])), (vec(1), np.array([4, 4, 0]))])


def test_mixed_advanced_indices_separated_by_slice():
    # NumPy moves the broadcast advanced dimension to the front in this case.
    def f(t, i, j):
        return t[i, :, j], t[:, i, j], t[i, 1:3, j][::-1], t[i][:, j]
    t0, t1 = mat(0, (3, 4, 5)), mat(1, (3, 4, 5))
    check(f, [(t0, np.array([0, 2]), np.array([3, 1])), (t1, np.array([1, 1]), np.array([0, -1]))])


def test_out_of_range_index_array_at_replay_matches_numpy():
    # The first call traces fine; a later call with a bad index must raise IndexError
    # like NumPy does (whether by replay or by falling back).
    def f(x, i):
        return x[i] * 2.0
    f_c = tracenp.compile(f)
    compare_call(f, f_c, (vec(0), np.array([1, 2])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        with pytest.raises(IndexError):
            f_c(vec(1), np.array([1, 12]))
    # and the function still works afterwards
    compare_call(f, f_c, (vec(2), np.array([0, 9])))


# ---------------------------------------------------------------------------- boolean masks

def test_mask_assignment_scalar():
    def f(x):
        b = x.copy()
        b[b < 0] = 0
        return b
    check(f, [(vec(0),), (vec(1),)])


def test_mask_assignment_on_argument_returns_none():
    def f(x, y):
        mask = y > x
        x[mask] = 0.5
        x[~mask & (x > 1)] = -1
    check(f, [(vec(0), vec(1)), (vec(2), vec(3))])


def test_mask_assignment_broadcast_row():
    def f(m, v):
        m = m.copy()
        m[m[:, 0] > 0] = v            # 1-d mask over rows, a row broadcast to each selected row
        m[:, m[0] > 0] = 7            # mask along axis 1
        m[np.isnan(m)] = 0.0
        return m
    check(f, [(mat(0), vec(1, 5)), (mat(2), vec(3, 5))])


def test_mask_assignment_2d_mask_with_column_index():
    def f(m):
        out = np.zeros_like(m)
        out[m > 0.5] = 1.0
        out[:, 1][m[:, 1] < -0.5] = -1.0   # a mask write into a view
        return out
    check(f, [(mat(0),), (mat(1),)])


def test_mask_assignment_casts_like_numpy():
    def f(a, x):
        a[x > 0] = 2.9          # float into int: truncates
        a[x < -1] = -3.7
        return a
    check(f, [(np.arange(10), vec(0)), (np.arange(10) * 3, vec(1))])


def test_mask_read_falls_back_with_data_dependent_shape():
    def f(x):
        return x[x > 0].max()        # (.sum()/.mean() of a selection are traced)
    f_c = tracenp.compile(f)
    with pytest.warns(tracenp.FallbackWarning, match="DataDependentShapeError"):
        compare_call(f, f_c, (vec(0),))
    compare_call(f, f_c, (vec(1),))          # the eager plan keeps being right
    with pytest.raises(tracenp.DataDependentShapeError):
        tracenp.compile(f, strict=True)(vec(0))


def test_mask_assign_from_masked_read():
    # y[mask] has a data-dependent length, but assigned back with the same mask it is
    # np.copyto(x, y, where=mask): no fallback.
    def f(x, y):
        mask = y > x
        x[mask] = y[mask]
        return x
    fc = check(f, [(vec(0), vec(1)), (vec(2), vec(3))])
    text = str(next(iter(fc.plans().values())).graph)
    assert "copyto" in text and "getitem" not in text


def test_mask_assign_from_elementwise_expression_of_selections():
    def f(m, y, s):
        rows = m[:, 0] > 0
        m[rows] = y[rows] * 2 + np.sin(y[rows]) - s
        z = m.copy()
        z[z > 1] = np.maximum(z[z > 1], y[z > 1] * 0.5) ** 2    # the mask computed thrice
        return m, z
    check(f, [(mat(0), mat(1), 0.5), (mat(2), mat(3), -1.5)])


def test_augmented_mask_assignment():
    def f(x, a):
        x[x > 0] *= 2.0
        x[x < -1] += 1.0
        a[x > 0.5] -= 3             # int array, int value
        return x, a
    check(f, [(vec(0), np.arange(10)), (vec(1), np.arange(10) * 2)])


def test_mask_selection_casting_matches_numpy():
    def inplace(a, x):
        a[x > 0] += 1.5          # float into int selection: UFuncTypeError, as in NumPy
        return a

    def assign(a, x):
        a[x > 0] = x[x > 0] * 10  # setitem casts unsafely: truncation
        return a
    from tests.diffcheck import check_raises_like
    err = check_raises_like(inplace, tracenp.compile(inplace), (np.arange(10), vec(0)))
    assert type(err).__name__ == "UFuncTypeError"
    check(assign, [(np.arange(10), vec(0)), (np.arange(10) * 3, vec(1))])


def test_mask_selection_other_uses_fall_back_at_their_line():
    def reduce_(x):
        s = x[x > 0]
        return s.max()                               # <selection-sum>

    def other_mask(x, y):
        y[x > 0] = x[y > 0]                          # <selection-other-mask>
        return y

    def after_write(x, y):
        s = x[y > 0]
        x[0] = 100.0
        y[y > 0] = s                                 # <selection-stale>
        return y
    for fn, marker in ((reduce_, "<selection-sum>"), (other_mask, "<selection-other-mask>"),
                       (after_write, "<selection-stale>")):
        with pytest.raises(tracenp.DataDependentShapeError) as info:
            tracenp.compile(fn, strict=True)(*[vec(k) for k in range(fn.__code__.co_argcount)])
        assert info.value.source.lineno == _line_of(marker), fn.__name__
        fc = tracenp.compile(fn)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tracenp.FallbackWarning)
            for s in (0, 1):
                args = tuple(vec(s + 2 * k) for k in range(fn.__code__.co_argcount))
                if fn is other_mask:
                    args = (np.abs(args[0]), np.abs(args[1]))   # same count: eager works
                compare_call(fn, fc, args)


def _line_of(marker):
    with open(__file__) as fh:
        hits = [i for i, line in enumerate(fh, 1) if f"# {marker}" in line]
    assert len(hits) == 1
    return hits[0]


def test_constant_boolean_index_is_fine():
    # A *constant* mask (not traced) has a known number of elements.
    keep = np.array([True, False, True, True, False, False, True, False, True, True])

    def f(x):
        y = x.copy()
        y[keep] = -y[keep]
        return x[keep], y, x[np.array([True, False] * 5)]
    check(f, [(vec(0),), (vec(1),)])


def test_np_where_instead_of_mask():
    def f(x):
        return np.where(x > 0, x, 0.0), np.sum(x, where=x > 0)
    check(f, [(vec(0),), (vec(1),)])


# ---------------------------------------------------------------------------- setitem

def test_setitem_broadcasting_and_casting():
    def f(a, v):
        a[1:3] = v               # a float row into an int matrix: truncation
        a[0] = 2.7
        a[:, 0] = [1.5, 2.5, 3.5, 4.5]
        a[-1, ::2] = v[:3] * 10
        a[..., -1] = 9.99
        return a
    ai = np.arange(20).reshape(4, 5)
    check(f, [(ai.copy(), np.array([1.9, -2.9, 3, 4, 5])),
              (ai * 2, np.array([0.1, 7.9, 3.2, 4.8, -5.5]))])


def test_setitem_column_vector_broadcast():
    def f(m, c):
        m[:, 1:4] = c[:, None]
        m[2:, :] = m[0]
        return m.sum(axis=0)
    check(f, [(mat(0), vec(1, 4)), (mat(2), vec(3, 4))])


def test_setitem_integer_arrays_and_duplicates():
    def f(x, i, v):
        x[i] = v                  # with duplicate indices the last write wins, as in NumPy
        x[[0, -1]] = x[[-1, 0]]
        return x
    check(f, [(vec(0), np.array([1, 3, 3]), np.array([10., 20., 30.])),
              (vec(1), np.array([5, 5, 2]), np.array([-1., -2., -3.]))])


def test_setitem_2d_integer_arrays():
    def f(m, i, j, v):
        m[i, j] = v
        m[i[:, None], [0, 1]] = 0.0
        m[1:, j] += 1.0
        return m
    check(f, [(mat(0), np.array([0, 2]), np.array([1, 4]), 5.0),
              (mat(1), np.array([3, 1]), np.array([0, 0]), -5.0)])


def test_setitem_scalar_and_dtype_edge_values():
    def f(a, b, w):
        a[0] = np.int64(-1)      # a NumPy int into uint8 wraps like NumPy
        a[1] = w                 # an int64 array element: wraps
        a[2] = 7.9
        b[0] = 1e40              # float64 into float32 -> inf
        b[1] = True
        return a, b
    with np.errstate(over="ignore"):
        check(f, [(np.arange(4, dtype=np.uint8), np.zeros(3, np.float32), np.array(300)),
                  (np.arange(4, 8, dtype=np.uint8), np.ones(3, np.float32), np.array(-2))])


def test_setitem_python_int_out_of_bounds_raises_like_numpy():
    def f(a):
        a[0] = -1                # NumPy 2: OverflowError for a Python int out of range
        return a
    from tests.diffcheck import check_raises_like
    f_c = tracenp.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        err = check_raises_like(f, f_c, (np.arange(4, dtype=np.uint8),))
    assert isinstance(err, OverflowError)


def test_setitem_value_shape_mismatch_raises_like_numpy():
    def f(m, v):
        m[0] = v
        return m
    from tests.diffcheck import check_raises_like
    f_c = tracenp.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        err = check_raises_like(f, f_c, (mat(0), vec(1, 3)))
    assert isinstance(err, ValueError)


def test_setitem_complex_into_float_warns_like_numpy():
    def f(m, z):
        m[0] = z
        return m
    f_c = tracenp.compile(f)
    for s in (0, 1):
        args = (mat(s), vec(s + 1, 5) * 1j + 2.0)
        with pytest.warns(np.exceptions.ComplexWarning):
            compare_call(f, f_c, args)
    assert f_c.trace_count == 1


def test_augmented_assignment_on_index():
    def f(x, i):
        x[2:5] += 1.0
        x[i] *= 2.0
        x[::2] -= x[1::2]
        x[-1] /= 4.0
        return x
    check(f, [(vec(0), np.array([0, 9])), (vec(1), np.array([4, 5]))])


# ---------------------------------------------------------------------------- in-place functions

def test_ufunc_at_accumulates_duplicates():
    def f(a, i, v):
        np.add.at(a, i, v)
        np.multiply.at(a, [0, 0], 2.0)
        return a
    check(f, [(vec(0), np.array([0, 0, 1, 3]), 1.0), (vec(1), np.array([2, 2, 2, 9]), 2.0)])


def test_ufunc_at_on_view_with_array_values():
    def f(m, i, v):
        np.add.at(m[1], i, v)
        np.subtract.at(m, (i, i), 1.0)
        np.maximum.at(m[:, 0], [0, 1, 1], v[:3])
        return m
    check(f, [(mat(0), np.array([0, 0, 3]), vec(1, 3)), (mat(2), np.array([3, 1, 1]), vec(3, 3))])


def test_np_put_and_copyto():
    def f(a, i, v):
        np.put(a, i, v)
        np.copyto(a[:3], v[:3])
        np.copyto(a[5:], 7.5)
        return a.sum()
    check(f, [(vec(0), np.array([0, 5]), vec(1)), (vec(2), np.array([1, -2]), vec(3))])


def test_copyto_where_and_casting():
    def f(dst, src):
        np.copyto(dst, src, where=src > 0, casting="unsafe")
        return dst
    check(f, [(np.zeros(10, np.int32), vec(1) * 10), (np.ones(10, np.int32), vec(2) * 10)])


def test_copyto_same_kind_refusal_matches_numpy():
    def f(dst, src):
        np.copyto(dst, src)
        return dst
    from tests.diffcheck import check_raises_like
    f_c = tracenp.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        err = check_raises_like(f, f_c, (np.zeros(10, np.int32), vec(1)))
    assert "casting" in str(err).lower() or "cast" in str(err).lower()


def test_put_modes_and_putmask():
    def f(a, v):
        np.put(a, [0, 12, -13], v[:3], mode="wrap")
        np.put(a, [3, 40], v[3:5], mode="clip")
        np.putmask(a, a > 1, 0.25)
        return a
    check(f, [(vec(0), vec(1)), (vec(2), vec(3))])


def test_fill_diagonal_fill_and_sort():
    def f(m):
        np.fill_diagonal(m, 0.0)
        m[0].fill(3.0)
        m[1].sort()
        m.sort(axis=0)
        return m
    check(f, [(mat(0),), (mat(1),)])


def test_fill_diagonal_wrap_and_array_values():
    def f(m, d):
        np.fill_diagonal(m, d, wrap=True)
        return m
    check(f, [(mat(0, (7, 3)), vec(1, 3)), (mat(2, (7, 3)), vec(3, 3))])


def test_fill_with_traced_scalar_and_sort_kinds():
    def f(x, y, s):
        y.fill(s)
        x.sort(kind="stable")
        x[::-1].sort()            # sorts a reversed view: x ends up descending
        return y.sum() + x[0]
    check(f, [(vec(0), vec(1), 0.5), (vec(2), vec(3), -2.5)])


def test_sort_2d_last_axis_and_none_returned():
    def f(m):
        m.sort()
        m.T.sort(axis=1)
    check(f, [(mat(0),), (mat(1),)])
