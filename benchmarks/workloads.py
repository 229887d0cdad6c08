"""The CPU benchmark workloads, each written once per implementation.

Every workload gives: the plain NumPy function (what the user wrote, compiled unchanged
by tracenp), a hand-written ``numexpr.evaluate`` string where numexpr can express it,
a numba ``@njit(parallel=True)`` kernel, a ``jax.jit`` function, an input maker, and the
bytes it must read and write (for the bandwidth floor).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

try:
    import scipy.special as _sc
    erf = _sc.erf
except ImportError:  # pragma: no cover
    erf = None


@dataclass
class Workload:
    name: str
    numpy: Callable
    make: Callable[[int], tuple]
    numexpr: str | None = None            # an expression over the inputs' names
    numexpr_names: tuple[str, ...] = ()
    numexpr_reduce: bool = False          # a full reduction: numexpr.evaluate's sum(), outermost
    numba: Callable | None = None         # built lazily (needs numba)
    jax: Callable | None = None           # built lazily (needs jax)
    dtype: Any = np.float64
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _rng(n):
    return np.random.default_rng(n)


# ------------------------------------------------------------------ NumPy versions
def logistic(x):
    return 1 / (1 + np.exp(-x))


def black_scholes(S, K, T, r, sigma):
    sqrtT = np.sqrt(T)
    d1 = (np.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * sqrtT)
    d2 = d1 - sigma * sqrtT
    cdf1 = 0.5 * (1 + erf(d1 / np.sqrt(2)))
    cdf2 = 0.5 * (1 + erf(d2 / np.sqrt(2)))
    disc = K * np.exp(-r * T)
    call = S * cdf1 - disc * cdf2
    put = call - S + disc
    return call, put


def polynomial(x):
    return 0.25 * x ** 3 + 0.75 * x ** 2 - 1.5 * x - 2


def softplus_naive(x):
    return np.log(1 + np.exp(x))


def mse(x, y):
    return np.mean((x - y) ** 2)


def gelu(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))


def great_circle(lat1, lon1, lat2, lon2):
    dlat = lat2 - lat1
    dlon = lon2 - lon1
    a = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(a))


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def softmax_rows(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def gauss_loglik(x, mu, sigma):
    z = (x - mu) / sigma
    return np.sum(-0.5 * z * z - np.log(sigma) - 0.5 * np.log(2 * np.pi))


def gray_scott(U, V, Du, Dv, F, k, dt):
    u, v = U[1:-1, 1:-1], V[1:-1, 1:-1]
    Lu = U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:] - 4 * u
    Lv = V[:-2, 1:-1] + V[2:, 1:-1] + V[1:-1, :-2] + V[1:-1, 2:] - 4 * v
    uvv = u * v * v
    Un = U.copy()
    Vn = V.copy()
    Un[1:-1, 1:-1] = u + dt * (Du * Lu - uvv + F * (1 - u))
    Vn[1:-1, 1:-1] = v + dt * (Dv * Lv + uvv - (F + k) * v)
    return Un, Vn


def _square(n):
    side = max(3, int(math.isqrt(n)))
    return side


WORKLOADS: list[Workload] = [
    Workload("logistic", logistic, lambda n: (_rng(0).standard_normal(n),),
             "1 / (1 + exp(-x))", ("x",)),
    Workload("black_scholes", black_scholes,
             lambda n: (_rng(1).uniform(50, 150, n), _rng(2).uniform(50, 150, n),
                        _rng(3).uniform(0.1, 2.0, n), 0.03, 0.2),
             None, notes="numexpr has no erf: no hand-written numexpr string"),
    Workload("polynomial", polynomial, lambda n: (_rng(4).standard_normal(n),),
             "0.25*x**3 + 0.75*x**2 - 1.5*x - 2", ("x",)),
    Workload("log1p_exp", softplus_naive, lambda n: (_rng(5).standard_normal(n),),
             "log(1 + exp(x))", ("x",)),
    Workload("mse", mse, lambda n: (_rng(6).standard_normal(n), _rng(7).standard_normal(n)),
             "sum((x - y)**2)", ("x", "y"), numexpr_reduce=True),
    Workload("gelu_f32", gelu, lambda n: (_rng(8).standard_normal(n).astype(np.float32),),
             "0.5*x*(1 + tanh(0.7978845608*(x + 0.044715*x**3)))", ("x",), dtype=np.float32),
    Workload("great_circle", great_circle,
             lambda n: tuple(_rng(9 + i).uniform(-1.5, 1.5, n) for i in range(4)),
             "2*6371.0*arcsin(sqrt(sin((b-a)/2)**2 + cos(a)*cos(b)*sin((d-c)/2)**2))",
             ("a", "c", "b", "d")),
    Workload("rosenbrock", rosenbrock, lambda n: (_rng(13).standard_normal(n),),
             None, notes="shifted slices: numexpr takes the slices as inputs"),
    Workload("softmax_rows", softmax_rows,
             lambda n: (_rng(14).standard_normal((max(1, n // 1000), 1000)),), None,
             notes="two reductions: not one numexpr expression"),
    Workload("gauss_loglik", gauss_loglik,
             lambda n: (_rng(15).standard_normal(n), 0.3, 1.7),
             "sum(-0.5*((x-m)/s)**2 - log(s) - 0.5*log(2*3.141592653589793))", ("x", "m", "s"),
             numexpr_reduce=True),
    Workload("gray_scott_step", gray_scott,
             lambda n: (_rng(16).random((_square(n), _square(n))), _rng(17).random((_square(n), _square(n))),
                        0.16, 0.08, 0.035, 0.065, 1.0), None,
             notes="a stencil with slices and writes into copies"),
]


# ------------------------------------------------------------------ peers
def numba_kernels() -> dict[str, Callable]:
    from numba import njit, prange

    @njit(parallel=True, fastmath=False)
    def logistic_nb(x):
        out = np.empty_like(x)
        for i in prange(x.size):
            out[i] = 1 / (1 + math.exp(-x[i]))
        return out

    @njit(parallel=True)
    def bs_nb(S, K, T, r, sigma):
        call = np.empty_like(S)
        put = np.empty_like(S)
        for i in prange(S.size):
            sq = math.sqrt(T[i])
            d1 = (math.log(S[i] / K[i]) + (r + 0.5 * sigma * sigma) * T[i]) / (sigma * sq)
            d2 = d1 - sigma * sq
            c1 = 0.5 * (1 + math.erf(d1 / math.sqrt(2.0)))
            c2 = 0.5 * (1 + math.erf(d2 / math.sqrt(2.0)))
            disc = K[i] * math.exp(-r * T[i])
            call[i] = S[i] * c1 - disc * c2
            put[i] = call[i] - S[i] + disc
        return call, put

    @njit(parallel=True)
    def poly_nb(x):
        out = np.empty_like(x)
        for i in prange(x.size):
            v = x[i]
            out[i] = 0.25 * v ** 3 + 0.75 * v ** 2 - 1.5 * v - 2
        return out

    @njit(parallel=True)
    def softplus_nb(x):
        out = np.empty_like(x)
        for i in prange(x.size):
            out[i] = math.log(1 + math.exp(x[i]))
        return out

    @njit(parallel=True)
    def mse_nb(x, y):
        acc = 0.0
        for i in prange(x.size):
            d = x[i] - y[i]
            acc += d * d
        return acc / x.size

    @njit(parallel=True)
    def gelu_nb(x):
        out = np.empty_like(x)
        for i in prange(x.size):
            v = x[i]
            out[i] = np.float32(0.5) * v * (np.float32(1) + math.tanh(np.float32(0.7978845608) * (v + np.float32(0.044715) * v * v * v)))
        return out

    @njit(parallel=True)
    def gc_nb(a, c, b, d):
        out = np.empty_like(a)
        for i in prange(a.size):
            s1 = math.sin((b[i] - a[i]) / 2)
            s2 = math.sin((d[i] - c[i]) / 2)
            out[i] = 2 * 6371.0 * math.asin(math.sqrt(s1 * s1 + math.cos(a[i]) * math.cos(b[i]) * s2 * s2))
        return out

    @njit(parallel=True)
    def rosen_nb(x):
        acc = 0.0
        for i in prange(x.size - 1):
            t = x[i + 1] - x[i] * x[i]
            u = 1 - x[i]
            acc += 100.0 * t * t + u * u
        return acc

    @njit(parallel=True)
    def softmax_nb(x):
        out = np.empty_like(x)
        for i in prange(x.shape[0]):
            m = x[i].max()
            s = 0.0
            for j in range(x.shape[1]):
                out[i, j] = math.exp(x[i, j] - m)
                s += out[i, j]
            for j in range(x.shape[1]):
                out[i, j] /= s
        return out

    @njit(parallel=True)
    def gauss_nb(x, mu, sigma):
        acc = 0.0
        c = math.log(sigma) + 0.5 * math.log(2 * math.pi)
        for i in prange(x.size):
            z = (x[i] - mu) / sigma
            acc += -0.5 * z * z - c
        return acc

    @njit(parallel=True)
    def gs_nb(U, V, Du, Dv, F, k, dt):
        Un = U.copy()
        Vn = V.copy()
        n, m = U.shape
        for i in prange(1, n - 1):
            for j in range(1, m - 1):
                u = U[i, j]
                v = V[i, j]
                Lu = U[i - 1, j] + U[i + 1, j] + U[i, j - 1] + U[i, j + 1] - 4 * u
                Lv = V[i - 1, j] + V[i + 1, j] + V[i, j - 1] + V[i, j + 1] - 4 * v
                uvv = u * v * v
                Un[i, j] = u + dt * (Du * Lu - uvv + F * (1 - u))
                Vn[i, j] = v + dt * (Dv * Lv + uvv - (F + k) * v)
        return Un, Vn

    return {"logistic": logistic_nb, "black_scholes": bs_nb, "polynomial": poly_nb,
            "log1p_exp": softplus_nb, "mse": mse_nb, "gelu_f32": gelu_nb,
            "great_circle": gc_nb, "rosenbrock": rosen_nb, "softmax_rows": softmax_nb,
            "gauss_loglik": gauss_nb, "gray_scott_step": gs_nb}


def jax_kernels() -> dict[str, Callable]:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import erf as jerf
    jax.config.update("jax_enable_x64", True)

    def bs(S, K, T, r, sigma):
        sqrtT = jnp.sqrt(T)
        d1 = (jnp.log(S / K) + (r + 0.5 * sigma * sigma) * T) / (sigma * sqrtT)
        d2 = d1 - sigma * sqrtT
        disc = K * jnp.exp(-r * T)
        call = S * 0.5 * (1 + jerf(d1 / jnp.sqrt(2.0))) - disc * 0.5 * (1 + jerf(d2 / jnp.sqrt(2.0)))
        return call, call - S + disc

    def gs(U, V, Du, Dv, F, k, dt):
        u, v = U[1:-1, 1:-1], V[1:-1, 1:-1]
        Lu = U[:-2, 1:-1] + U[2:, 1:-1] + U[1:-1, :-2] + U[1:-1, 2:] - 4 * u
        Lv = V[:-2, 1:-1] + V[2:, 1:-1] + V[1:-1, :-2] + V[1:-1, 2:] - 4 * v
        uvv = u * v * v
        return (U.at[1:-1, 1:-1].set(u + dt * (Du * Lu - uvv + F * (1 - u))),
                V.at[1:-1, 1:-1].set(v + dt * (Dv * Lv + uvv - (F + k) * v)))

    fns = {
        "logistic": lambda x: 1 / (1 + jnp.exp(-x)),
        "black_scholes": bs,
        "polynomial": lambda x: 0.25 * x ** 3 + 0.75 * x ** 2 - 1.5 * x - 2,
        "log1p_exp": lambda x: jnp.log(1 + jnp.exp(x)),
        "mse": lambda x, y: jnp.mean((x - y) ** 2),
        "gelu_f32": lambda x: 0.5 * x * (1 + jnp.tanh(0.7978845608 * (x + 0.044715 * x ** 3))),
        "great_circle": lambda a, c, b, d: 2 * 6371.0 * jnp.arcsin(jnp.sqrt(
            jnp.sin((b - a) / 2) ** 2 + jnp.cos(a) * jnp.cos(b) * jnp.sin((d - c) / 2) ** 2)),
        "rosenbrock": lambda x: jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
        "softmax_rows": lambda x: jax.nn.softmax(x, axis=1),
        "gauss_loglik": lambda x, mu, s: jnp.sum(-0.5 * ((x - mu) / s) ** 2 - jnp.log(s) - 0.5 * jnp.log(2 * jnp.pi)),
        "gray_scott_step": gs,
    }
    out = {}
    for name, f in fns.items():
        jf = jax.jit(f)

        def run(*args, _jf=jf):
            res = _jf(*args)
            return jax.tree_util.tree_map(np.asarray, res)   # NumPy arrays in and out
        out[name] = run
    return out
