"""Helpers that generated numba kernels import (this module imports numba).

``fe_clear()`` / ``fe_test()``: the C library's ``feclearexcept`` / ``fetestexcept`` on the
calling thread's floating-point status flags, so a kernel reports the IEEE exceptions its
own arithmetic raised (NumPy's ufunc loops read the same flags to warn or raise).
``probe``: checks once that the flags are read (a kernel runs only if they are).
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["fe_clear", "fe_test", "probe"]

FE_ALL = 0x3F      # every flag bit on x86-64 and AArch64 (and then some): cleared/tested


def _libc_call(name: str):
    @intrinsic
    def call(typingctx):
        sig = types.int32()

        def codegen(context, builder, signature, args):
            i32 = ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i32, [i32]), name)
            return builder.call(fn, [ir.Constant(i32, FE_ALL)])
        return sig, codegen
    return call


fe_clear = _libc_call("feclearexcept")
fe_test = _libc_call("fetestexcept")


@numba.njit(nogil=True, error_model="numpy")
def probe(x):
    """1 / x[0] with the flags cleared first: the flags the C library reports after it."""
    fe_clear()
    x[1] = 1.0 / x[0]
    return fe_test()
