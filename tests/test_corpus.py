"""The corpus in tests/programs: compiled against eager NumPy, program by program."""
from __future__ import annotations

import copy
import importlib
import pkgutil
import warnings

import numpy as np
import pytest

import tracenp
from tests import programs
from tests.oracle import assert_same

NAMES = sorted(m.name for m in pkgutil.iter_modules(programs.__path__))


def _load(name):
    return importlib.import_module(f"tests.programs.{name}")


@pytest.mark.parametrize("name", NAMES)
def test_program_matches_numpy(name):
    mod = _load(name)
    rtol = getattr(mod, "RTOL", 1e-9)
    f = tracenp.compile(mod.program, static_argnums=getattr(mod, "STATIC_ARGNUMS", ()))
    untraceable = getattr(mod, "UNTRACEABLE", False)
    traces_after_first = None
    for seed in (0, 1):
        args = mod.make_args(np.random.default_rng(seed))
        eager_args, comp_args = copy.deepcopy(args), copy.deepcopy(args)
        expected = mod.program(*eager_args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", tracenp.FallbackWarning)
            actual = f(*comp_args)
        fallbacks = [w for w in caught if issubclass(w.category, tracenp.FallbackWarning)]
        if untraceable:
            assert fallbacks or seed == 1, "an untraceable program must warn"
        else:
            assert not fallbacks, str(fallbacks[0].message)
        assert_same(actual, expected, rtol=rtol, atol=1e-12 if rtol else 0, where=name)
        assert_same(list(comp_args), list(eager_args), rtol=rtol, where=f"{name} args")
        if traces_after_first is None:
            traces_after_first = f.trace_count
    if not untraceable:
        assert f.trace_count == traces_after_first, "the second call must reuse the plan"
