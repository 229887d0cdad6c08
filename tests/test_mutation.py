"""In-place semantics: mutated arguments, out=, NumPy's aliasing rules, views of views,
aliased and overlapping arguments, read-only arguments, and the interpreter's in-place
optimisation (used where the old buffer is dead, never where it is read later).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracenp
from tests.diffcheck import check, compare_call, rng
from tracenp.compiler import Plan
from tracenp.exec.interpreter import inplace_safe
from tracenp.graph.ops import MutateOp


def vec(seed, n=10):
    return rng(seed).normal(size=n)


def mat(seed, shape=(4, 5)):
    return rng(seed).normal(size=shape)


def plan_of(f) -> Plan:
    plans = [p for p in f.plans().values() if type(p) is Plan]
    assert len(plans) == 1
    return plans[0]


def mutation_nodes(plan: Plan) -> list[int]:
    return [i for i, n in enumerate(plan.graph.nodes) if isinstance(n.op, MutateOp)]


# ---------------------------------------------------------------------------- arguments

def test_state_update_on_argument_returns_none():
    def step(state, dt):
        state += dt * np.sin(state)
    f = check(step, [(vec(0), 0.1), (vec(1), 0.25)])
    p = plan_of(f)
    assert p.mutates_args and p.graph.writebacks


def test_state_update_loop_on_two_arguments():
    def leapfrog(x, v, dt, n):
        for _ in range(n):
            v -= 0.5 * dt * x
            x += dt * v
            v -= 0.5 * dt * x
        return x.sum() + v.sum()
    check(leapfrog, [(vec(0), vec(1), 0.01, 5), (vec(2), vec(3), 0.02, 5)])


def test_write_into_out_argument():
    def f(out, a):
        out[...] = a * 2
        out[0] += 1
    check(f, [(np.empty(10), vec(1)), (np.zeros(10), vec(3))])


def test_write_into_int_out_argument_casts():
    def f(out, a):
        out[...] = a * 10          # float into int32: truncation as in NumPy
        return out
    check(f, [(np.zeros(10, np.int32), vec(1)), (np.ones(10, np.int32), vec(3))])


def test_ufunc_out_argument_returns_the_argument():
    def f(a, b):
        r = np.add(a, b, out=a)
        s = np.multiply(r, 2.0, out=r)
        return s
    check(f, [(vec(0), vec(1)), (vec(2), vec(3))])


def test_ufunc_out_tuple_and_into_view():
    def f(a, b):
        np.subtract(a[::2], b[1::2], out=(a[1::2],))
        np.negative(a[:3], out=a[-3:])
        return a[0]
    check(f, [(vec(0), vec(1)), (vec(2), vec(3))])


def test_reduction_and_function_with_out():
    def f(m, acc, c):
        np.sum(m, axis=0, out=acc)
        np.cumsum(m[0], out=c)
        np.matmul(m, m.T, out=m[:, :4])
        return m
    check(f, [(mat(0), np.zeros(5), np.zeros(5)), (mat(1), np.ones(5), np.ones(5))])


def test_argument_not_mutated_is_not_written_back():
    def f(a):
        b = a * 2
        b += 1
        return b
    fc = check(f, [(vec(0),), (vec(1),)])
    assert not plan_of(fc).graph.writebacks


# ---------------------------------------------------------------------------- NumPy aliasing rules

def test_add_reversed_self():
    def f(x):
        x += x[::-1]
        return x
    check(f, [(vec(0),), (vec(1),)])


def test_shift_by_overlapping_slices():
    def f(x, y):
        x[1:] = x[:-1]
        y[:-1] = y[1:]
        y[::2] = y[1::2][::-1]
        return x, y
    check(f, [(vec(0), vec(1)), (vec(2), vec(3))])


def test_overlap_inside_function_array():
    def f(a):
        x = a * 1.0
        x[1:] = x[:-1]
        x += x[::-1]
        np.add(x[1:], x[:-1], out=x[:-1])
        return x
    check(f, [(vec(0),), (vec(1),)])


def test_views_of_views_then_read_all():
    def f(x):
        v = x[1:]
        w = v[::2]
        w[...] = 0
        return x.copy(), v.copy(), w.copy(), x.sum(), v * 1, w + 1
    check(f, [(vec(0),), (vec(1),)])


def test_views_of_views_in_function_array():
    def f(a):
        x = np.zeros(12)
        x[:10] = a
        v = x[1:]
        w = v[::2]
        w[...] = -1.0
        v[0] += 10.0
        u = w[1:3]
        x[3] = 7.0
        return x, v, w, u
    check(f, [(vec(0),), (vec(1),)])


def test_write_through_reshape_and_transpose():
    def f(m):
        r = m.reshape(-1)
        r[::3] = 1.0
        t = m.T
        t[0] = 5.0
        m.T[1, 2] = -3.0
        m.reshape(2, 6)[:, 0] += 100.0
        return m, r.sum(), t
    check(f, [(mat(0, (3, 4)),), (mat(1, (3, 4)),)])


def test_write_through_swapaxes_ravel_diagonal_view():
    def f(a):
        t = a * 1.0
        np.swapaxes(t, 0, 2)[0] = 0.0
        t[1].ravel()[::5] = 9.0       # ravel of a contiguous row is a view
        t[..., 0][::-1] += 1.0
        return t
    check(f, [(mat(0, (2, 3, 4)),), (mat(1, (2, 3, 4)),)])


def test_read_view_after_base_written():
    def f(x):
        v = x[2:6]
        before = v * 1
        x[3] = 100.0
        x[:] *= 2
        return before, v * 1, v
    check(f, [(vec(0),), (vec(1),)])


def test_return_view_of_unmutated_argument_aliases_it():
    def f(x):
        return x[1:3], x.T, x
    fc = check(f, [(mat(0),), (mat(1),)])
    x = mat(2)
    r, t, same = fc(x)
    assert same is x and r.base is not None and np.shares_memory(r, x) and np.shares_memory(t, x)


def test_return_view_of_mutated_argument_aliases_it():
    def f(x):
        x[0] = 1.0
        return x[1:3], x.T, x.reshape(2, 5), x
    fc = check(f, [(vec(0),), (vec(1),)])
    x = vec(2)
    r, t, q, same = fc(x)
    assert same is x
    r[0] = 42.0                      # writing the returned view writes the caller's array
    assert x[1] == 42.0
    q[1, 0] = -42.0
    assert x[5] == -42.0


def test_returned_views_of_a_function_array_alias_each_other():
    def f(a):
        y = np.zeros(10)
        v = y[2:]
        y[:] = a
        return y, v
    fc = check(f, [(vec(0),), (vec(1),)])
    y, v = fc(vec(2))
    assert np.shares_memory(y, v)


# ---------------------------------------------------------------------------- aliased arguments

def test_same_array_twice_is_part_of_the_cache_key():
    def f(a, b):
        a += 1.0
        b *= 2.0
        return a + b
    fc = tracenp.compile(f)
    x = vec(0)
    for args in [(x, x), (vec(1), vec(2)), (vec(3), vec(3).copy())]:
        compare_call(f, fc, args)
    compare_call(f, fc, (vec(4),) * 2)      # aliased again: the first plan
    compare_call(f, fc, (vec(5), vec(6)))   # unaliased: the second plan
    assert fc.trace_count == 2


def test_same_array_twice_read_only_function():
    def f(a, b):
        return a - b, a * b
    fc = tracenp.compile(f)
    x = vec(0)
    compare_call(f, fc, (x, x))
    compare_call(f, fc, (vec(1), vec(2)))
    y = vec(3)
    compare_call(f, fc, (y, y))
    assert fc.trace_count == 2


def test_same_array_in_list_and_positional():
    def f(a, items):
        items[0] += a
        return items[1] * 1
    fc = tracenp.compile(f)
    for s in (0, 1):
        x = vec(s)

        def make(x=x):
            y = x.copy()
            return (y, [y, y])
        compare_call(f, fc, make)
    assert fc.trace_count == 1


def _overlap_fn(a, b):
    a += 1.0
    b *= 2.0
    return a.sum() + b.sum()


@pytest.mark.parametrize("make", [
    lambda s: (lambda base: (base[:8], base[2:]))(vec(s)),
    lambda s: (lambda base: (base[::2], base[::3]))(vec(s, 12)),
    lambda s: (lambda base: (base[0], base[:, 1]))(mat(s)),
], ids=["shifted", "strided", "row-col"])
def test_partially_overlapping_mutated_arguments(make):
    fc = tracenp.compile(_overlap_fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        for s in (0, 1):
            ea, ca = make(s), make(s)
            expected = _overlap_fn(*ea)
            actual = fc(*ca)
            assert actual == expected
            np.testing.assert_array_equal(ca[0].base, ea[0].base)


def test_overlapping_arguments_read_only_use_the_plan():
    def f(a, b):
        return a * b
    fc = tracenp.compile(f)
    for s in (0, 1):
        compare_call(f, fc, lambda s=s: (lambda base: (base[:8], base[2:]))(vec(s)))
    assert fc.trace_count == 1


def test_argument_overlapping_global_is_seen():
    def f(a):
        a += 1.0
        return a
    base = vec(0)
    fc = tracenp.compile(f)
    out = fc(base[2:5])
    np.testing.assert_array_equal(out, vec(0)[2:5] + 1.0)
    np.testing.assert_array_equal(base[2:5], vec(0)[2:5] + 1.0)
    np.testing.assert_array_equal(base[:2], vec(0)[:2])


# ---------------------------------------------------------------------------- read-only

def test_read_only_argument_written_raises_like_numpy():
    def f(a):
        a[0] = 1.0
        return a

    def ro():
        x = vec(0)
        x.flags.writeable = False
        return (x,)
    for eager, comp in _raises_like_numpy(f, ro):
        np.testing.assert_array_equal(comp[0], eager[0])


def _raises_like_numpy(f, make_args):
    """Eager and compiled calls on fresh ``make_args()`` (read-only flags survive, unlike
    with deepcopy) raise the same ValueError, twice; yields the argument tuples."""
    fc = tracenp.compile(f)
    for _ in range(2):
        eager, comp = make_args(), make_args()
        with pytest.raises(ValueError) as e_info:
            f(*eager)
        with pytest.raises(ValueError) as c_info:
            fc(*comp)
        assert str(c_info.value) == str(e_info.value)
        yield eager, comp


def test_read_only_argument_inplace_operator_raises_like_numpy():
    def f(a, b):
        b += 1.0
        a += b
        return a

    def ro():
        x = vec(0)
        x.flags.writeable = False
        return (x, vec(1))
    for eager, comp in _raises_like_numpy(f, ro):
        # b was written before the error, in eager NumPy and in the compiled call
        np.testing.assert_array_equal(comp[1], eager[1])


def test_read_only_argument_only_read_uses_plan():
    def f(a):
        return a * 2, a[::-1]

    def ro(s):
        x = vec(s)
        x.flags.writeable = False
        return (x,)
    fc = tracenp.compile(f)
    for s in (0, 1):
        compare_call(f, fc, lambda s=s: ro(s))
    assert fc.trace_count == 1
    r = fc(*ro(2))[1]
    assert not r.flags.writeable     # a view of a read-only array is read-only, as in NumPy


# ---------------------------------------------------------------------------- stencils

def jacobi(u, steps):
    for _ in range(steps):
        new = np.zeros_like(u)
        new[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        new[0] = u[0]
        new[-1] = u[-1]
        u = new
    return u


def heat_inplace(u0, steps):
    u = np.zeros(u0.shape)
    u[:] = u0
    for _ in range(steps):
        u[1:-1] += 0.1 * (u[2:] - 2 * u[1:-1] + u[:-2])
    return u


def gauss_seidel_rows(u, steps):
    u = u.copy()
    for _ in range(steps):
        for i in range(1, u.shape[0] - 1):
            u[i, 1:-1] = 0.5 * (u[i - 1, 1:-1] + u[i + 1, 1:-1])
    return u


@pytest.mark.parametrize("fn,make", [
    (jacobi, lambda s: (mat(s, (6, 7)), 4)),
    (heat_inplace, lambda s: (vec(s, 16), 6)),
    (gauss_seidel_rows, lambda s: (mat(s, (6, 5)), 2)),
], ids=["jacobi", "heat", "gauss-seidel"])
def test_stencils_use_inplace_writes(fn, make):
    fc = check(fn, [make(0), make(1)])
    p = plan_of(fc)
    muts = mutation_nodes(p)
    assert muts
    assert p.executor.inplace_nodes, "no mutation ran in place"
    assert set(p.executor.inplace_nodes) <= set(muts)


def test_update_of_function_array_runs_in_place():
    # `s += ...` on an array the function owns: every update may overwrite the buffer.
    def f(a, dt):
        s = a.copy()
        for _ in range(4):
            s += dt * np.sin(s)
        return s
    fc = check(f, [(vec(0), 0.1), (vec(1), 0.2)])
    p = plan_of(fc)
    assert set(p.executor.inplace_nodes) == set(mutation_nodes(p)) and len(mutation_nodes(p)) == 4


def test_augmented_slice_assignment_runs_in_place():
    fc = check(heat_inplace, [(vec(0, 16), 6), (vec(1, 16), 6)])
    p = plan_of(fc)
    assert set(p.executor.inplace_nodes) == set(mutation_nodes(p))


def test_arguments_are_never_overwritten_by_the_plan():
    # Writes into arguments go to a copy that is written back at the end; an eager
    # error in the middle must leave... the plan itself never writes the input buffer.
    def f(x):
        x[1:-1] = 0.5 * (x[:-2] + x[2:])
        return x * 1
    fc = check(f, [(vec(0),), (vec(1),)])
    p = plan_of(fc)
    assert not p.executor.inplace_nodes


# ---------------------------------------------------------------------------- unsafe in-place

def test_old_value_kept_as_scalar_then_written():
    def f(a):
        y = a * 2.0
        s = y[3]                 # a NumPy scalar: a copy of the old element
        y[3] = 100.0
        return y, s, y[3]
    check(f, [(vec(0),), (vec(1),)])


def test_old_value_kept_through_copying_reshape():
    def f(a):
        y = a * 2.0
        r = y.T.reshape(-1)      # a copy (y.T is not contiguous)
        c = y.copy()
        y += 1.0
        return y, r, c
    check(f, [(mat(0),), (mat(1),)])


def test_old_view_read_after_write_sees_new_data():
    def f(a):
        y = a * 2.0
        old = y[2:5]
        s = old.sum()
        y[3] = 100.0
        return y, s, old, old.sum()
    check(f, [(vec(0),), (vec(1),)])


def test_value_read_before_and_after_write_in_loop():
    def f(a):
        y = np.ones(10)
        acc = np.zeros(10)
        for k in range(3):
            acc += y            # reads y, then y is overwritten
            y[k:] = a[k:] * k
            acc -= y[::-1]
        return acc, y
    check(f, [(vec(0),), (vec(1),)])


def test_multi_input_view_read_after_write_falls_back_correctly():
    def f(a):
        y = a * 2.0
        b = np.broadcast_arrays(y, a)[0]
        y[3] = 100.0
        return y, b * 1
    fc = tracenp.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracenp.FallbackWarning)
        for s in (0, 1):
            compare_call(f, fc, (vec(s),))


def test_inplace_safe_refuses_when_old_buffer_is_read_later():
    # Build a graph by tracing, then check the analysis on it.
    def f(a):
        y = a * 2.0
        y[0] = 1.0          # old y is dead: in place
        return y
    g = tracenp.make_graph(f)(vec(0))
    muts = [i for i, n in enumerate(g.nodes) if isinstance(n.op, MutateOp)]
    assert inplace_safe(g) == set(muts)
    # Now pretend the old buffer is also a result: it must not be overwritten.
    old_y = g.nodes[muts[0]].inputs[0]
    assert inplace_safe(g, [old_y]) == set()
    # and the interpreter then returns the old contents untouched
    from tracenp.exec.interpreter import Interpreter
    x = vec(1)
    new, old = Interpreter(g, [g.outputs[0], old_y]).run([x])
    np.testing.assert_array_equal(old, x * 2.0)
    assert new[0] == 1.0 and not np.shares_memory(new, old)


def test_inplace_safe_refuses_for_inputs_and_literals():
    G = vec(5)

    def f(a):
        a[0] = 1.0
        b = G[1:]              # a constant's view; it is never written
        return a + b[0]
    g = tracenp.make_graph(f)(vec(0))
    assert inplace_safe(g) == set()


# ---------------------------------------------------------------------------- augmented subscripts

def test_augmented_subscript_records_one_write():
    # `u[1:-1] += d` is `t = u[1:-1]; t += d; u[1:-1] = t`: the last store changes nothing.
    def f(a):
        u = a.copy()
        u[1:-1] += 1.0
        u[::2][1:] *= 2.0
        u[..., 2:4] /= 2.0
        u[3] -= 1.0              # u[3] is a NumPy scalar: a real store
        return u
    fc = check(f, [(vec(0),), (vec(1),)])
    g = plan_of(fc).graph
    assert len(mutation_nodes(plan_of(fc))) == 4, str(g)


def test_self_store_is_kept_when_the_region_differs():
    def f(a):
        u = a.copy()
        v = u[1:]
        u[:-1] = v               # not the same region: a real, overlapping store
        w = u[::2]
        u[1::2] = w
        return u
    fc = check(f, [(vec(0),), (vec(1),)])
    assert len(mutation_nodes(plan_of(fc))) == 2


def test_self_store_into_read_only_argument_raises_like_numpy():
    def f(a):
        a[1:] = a[1:]
        return a

    def ro():
        x = vec(0)
        x.flags.writeable = False
        return (x,)
    fc = tracenp.compile(f)
    with pytest.raises(ValueError, match="read-only"):
        f(*ro())
    with pytest.raises(ValueError, match="read-only"):
        fc(*ro())


def test_augmented_mask_subscript():
    def f(x):
        y = x * 1.0
        y[y > 0] *= 2.0
        y[y < -1] += 1.0
        x[x > 1] = 0.0
        return y
    fc = check(f, [(vec(0),), (vec(1),)])
    p = plan_of(fc)
    assert p.executor.inplace_nodes


@pytest.mark.parametrize("flip", [(slice(None, None, -1), slice(None, None, -1)),
                                  (slice(None, None, -1), slice(None)),
                                  (slice(None), slice(None, None, -2)),
                                  (slice(None, None, 2), slice(None, None, -1))])
def test_private_copy_of_a_written_argument_keeps_its_strides(flip):
    """The plan writes into a private copy of a mutated argument that it later reads: the
    copy keeps the caller's (negative) strides, so NumPy runs the same loop as eager
    (expm1's contiguous SIMD loop and its strided one differ in the last bit)."""
    from tracenp.graph.ops import copy_layout

    def f(a):
        a += 0.5
        return -np.expm1(a)

    for seed in range(20):
        base = mat(seed, (8, 10)) * 3
        mine, theirs = base.copy()[flip], base.copy()[flip]
        expected = f(theirs)
        got = tracenp.compile(f)(mine)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)
        assert np.array_equal(mine, theirs)
    view = mat(0, (8, 10))[flip]
    copy = copy_layout(view)
    assert np.array_equal(copy, view) and not np.shares_memory(copy, view)
    assert [s < 0 for s in copy.strides] == [s < 0 for s in view.strides]


def _mask_from_reversed(x):
    x[x > 0] = x[::-1]
    return x


def _mask_from_reversed_ravel(x):
    y = x.reshape(2, 2)
    y[y > 0] = x[::-1]            # a 1-d view of y's memory, in another order
    return y


def _list_mask_from_reversed(x):
    y = x.reshape(2, 2)
    y[[[True, True], [False, True]]] = x[:3][::-1]     # a mask given as nested lists
    return y


@pytest.mark.parametrize("f", [_mask_from_reversed, _mask_from_reversed_ravel,
                               _list_mask_from_reversed])
@pytest.mark.parametrize("dtype", [np.float64, np.complex64, np.int32])
def test_mask_write_from_a_view_of_its_target_falls_back(f, dtype):
    """``x[mask] = x[::-1]``: NumPy copies the values one by one and reads some it has
    already overwritten ([1.5, 2, 3, 4] -> [4, 3, 3, 4]); tracenp does not replay that, so it
    falls back to NumPy with a warning naming the line (found by the long fuzz: the plan
    gave the copy-first result, [4, 3, 2, 1.5])."""
    x = np.array([1.5, 2.0, 3.0, 4.0]).astype(dtype)
    expected = f(x.copy())
    assert not np.array_equal(expected.ravel(), x[::-1])      # the order matters here
    c = tracenp.compile(f)
    with pytest.warns(tracenp.FallbackWarning, match="already overwritten"):
        got = c(x.copy())
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(tracenp.TraceError, match="already overwritten") as info:
        tracenp.compile(f, strict=True)(x.copy())
    assert "test_mutation.py" in str(info.value) and "copy()" in str(info.value)


def _same_view(x):
    x[x > 0] = x
    return x


def _same_view_t(x):
    x[x > 0] = x.T
    return x


def _same_elements_1d(x):
    y = x.reshape(2, 2)
    y[y > 0] = x                  # y's elements in C order: each value stays in place
    return y


def _one_element(x):
    x[x > 0] = x[2:3]
    return x


def _index_array(x):
    x[[0, 2, 3]] = x[::-1][:3]    # index arrays: NumPy copies overlapping values first
    return x


def _mask_then_ellipsis(x):
    x[x > 0, ...] = x[::-1]       # (NumPy turns this mask into index arrays)
    return x


def _row_mask(x):
    y = x.reshape(2, 2)
    y[np.array([True, True])] = y[::-1]
    return y


def _from_copy(x):
    x[x > 0] = x[::-1].copy()
    return x


def _basic_overlap(x):
    x[1:] = x[:-1]                # basic slices: NumPy copies overlapping data safely
    return x


@pytest.mark.parametrize("f", [_same_view, _same_view_t, _same_elements_1d, _one_element,
                               _index_array, _mask_then_ellipsis, _row_mask, _from_copy,
                               _basic_overlap])
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_writes_that_read_no_overwritten_value_are_traced(f, dtype):
    x = np.array([1.5, 2.0, 3.0, 4.0]).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tracenp.FallbackWarning)
        c = tracenp.compile(f)
        for data in (x, x[::-1], x * 3):
            np.testing.assert_array_equal(c(data.copy()), f(data.copy()))
    assert c.trace_count == 1
