"""np.ndarray(shape, dtype) inside a traced function, and isinstance checks on traced values."""
from __future__ import annotations

import threading

import numpy as np

import tracenp
from tests.oracle import assert_same


def energy_history(pos, n):
    ke = np.ndarray(n + 1, dtype=np.float32)
    pe = np.ndarray((n + 1,), np.float32)
    for i in range(n + 1):
        ke[i], pe[i] = np.sum(pos * pos) * (i + 1), np.sum(pos) / (i + 1)
    col = np.ndarray(shape=(2, 3), dtype=pos.dtype, order="F")
    col[...] = pos[:6].reshape(2, 3)
    return ke, pe, col


def test_ndarray_constructor_is_traced():
    f = tracenp.compile(energy_history, static_argnums=1)
    for seed in (0, 1):
        pos = np.random.default_rng(seed).standard_normal(8)
        assert_same(f(pos, 3), energy_history(pos, 3))
    assert f.trace_count == 1


def test_isinstance_sees_traced_arrays_as_ndarrays():
    def f(x):
        # (issubclass(type(x), np.ndarray) is False while tracing: see docs/tracing.md)
        return (isinstance(x, np.ndarray), isinstance(x.sum(), np.ndarray),
                isinstance(np.zeros(2), np.ndarray))
    x = np.arange(3.0)
    assert tracenp.compile(f)(x) == f(x)


def test_np_ndarray_is_the_real_class_outside_traces():
    assert np.ndarray is type(np.zeros(1))
    seen = []
    started, release = threading.Event(), threading.Event()

    def slow(x):
        started.set()
        release.wait(5)
        return x + 1

    t = threading.Thread(target=lambda: tracenp.compile(slow)(np.ones(2)))
    t.start()
    started.wait(5)
    # another thread during the trace: np.ndarray behaves like the real class
    seen.append(isinstance(np.ones(2), np.ndarray))
    seen.append(type(np.ndarray(3)) is type(np.zeros(1)))
    release.set()
    t.join()
    assert seen == [True, True]
    assert np.ndarray is type(np.zeros(1))
