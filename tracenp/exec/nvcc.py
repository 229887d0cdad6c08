"""Compile CUDA translation units with ``nvcc`` on a machine without a GPU.

The CuPy backend's kernels are compiled by CuPy (NVRTC) on the device at their first
launch.  Where there is no device, the tests still compile each generated unit, exactly as
CuPy writes it (tracenp.exec.cuda_kernel.translation_unit), with ``nvcc`` and the headers
the cupy wheel ships, and with the options CuPy adds (``assemble_cupy_compiler_options``:
the bundled CCCL, ``--std=c++17``, the include folders) plus the kernel's own.

Each unit that compiled is remembered by a hash of its text, the options and the nvcc
version, as an empty file under ``$TRACENP_CACHE_DIR/nvcc`` (default
``~/.cache/tracenp/nvcc``), so a later run compiles only what changed.  Units are
compiled many per nvcc call (their helper preamble is guarded and CuPy's headers are
``#pragma once``); a call that fails is split until the failing units are found.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

__all__ = ["nvcc_path", "nvcc_version", "compile_options", "check_units", "cache_dir"]

ARCH = "sm_80"
_GLUE = "\n#undef REDUCE\n#undef POST_MAP\n#undef _REDUCE\n"
_state: dict = {}


def nvcc_path() -> str | None:
    """The ``nvcc`` on PATH (or under ``$CUDA_PATH/bin``), or None."""
    found = shutil.which("nvcc")
    if found is None:
        home = os.environ.get("CUDA_PATH") or os.environ.get("CUDA_HOME")
        cand = os.path.join(home, "bin", "nvcc") if home else None
        found = cand if cand and os.path.exists(cand) else None
    return found


def nvcc_version() -> str:
    v = _state.get("version")
    if v is None:
        out = subprocess.run([nvcc_path(), "--version"], capture_output=True, text=True,
                             timeout=60).stdout
        m = re.search(r"release [\d.]+, V[\d.]+", out)
        v = _state["version"] = m.group(0) if m else out.strip().splitlines()[-1]
    return v


def _cuda_include() -> str | None:
    nvcc = nvcc_path()
    if nvcc is None:
        return None
    root = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    inc = os.path.join(root, "include")
    if os.path.isdir(inc):
        return inc
    # /usr/local/bin/nvcc may be a wrapper script: read the real path from it
    try:
        with open(nvcc, encoding="utf-8", errors="replace") as f:
            m = re.search(r"(/\S+)/bin/nvcc", f.read(4096))
        if m and os.path.isdir(os.path.join(m.group(1), "include")):
            return os.path.join(m.group(1), "include")
    except OSError:
        pass
    return None


def compile_options(extra: Iterable[str] = ()) -> list[str]:
    """CuPy's compiler options for a kernel with options ``extra`` (its own function when
    it runs without a device, else the same list built here)."""
    extra = tuple(extra)
    try:
        from cupy._core import core
        opts = list(core.assemble_cupy_compiler_options(extra))
    except Exception:
        from cupy._core import core
        inc = core._get_header_dir_path()
        opts = [f"-I{inc}/cupy/_cccl/cub", f"-I{inc}/cupy/_cccl/thrust",
                f"-I{inc}/cupy/_cccl/libcudacxx", *extra]
        if not any("-std=" in o for o in extra):
            opts.append("--std=c++17")
        opts.append(f"-I{inc}")
    cuda_inc = _cuda_include()
    if cuda_inc and not any(o == f"-I{cuda_inc}" for o in opts):
        opts.append(f"-I{cuda_inc}")
    return opts


def cache_dir() -> str | None:
    from ..config import cache_subdir
    return cache_subdir("nvcc")


def _key(source: str, options: list[str]) -> str:
    import cupy
    text = "\0".join([source, " ".join(options), ARCH, nvcc_version(), cupy.__version__])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _typedefs(source: str) -> tuple:
    return tuple(sorted(set(re.findall(r"^\s*typedef [^;]*;", source, re.M))))


def _kernel_names(source: str) -> set[str]:
    return set(re.findall(r'extern "C" __global__ void (\w+)\(', source))


def _nvcc(units: list[str], options: list[str], workdir: str) -> tuple[bool, str]:
    text = _GLUE.join(units)
    h = hashlib.sha256(text.encode()).hexdigest()[:16]
    src = os.path.join(workdir, f"batch_{h}.cu")
    with open(src, "w", encoding="utf-8") as f:
        f.write(text)
    cmd = [nvcc_path(), "--cubin", f"-arch={ARCH}", *options, "-o",
           os.path.join(workdir, f"batch_{h}.cubin"), src]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return False, "nvcc timed out"
    return r.returncode == 0, (r.stdout + r.stderr)[-4000:]


def check_units(units: dict[str, tuple[str, tuple]], batch: int = 128,
                workers: int = 2) -> tuple[dict[str, str], dict]:
    """Compile translation units with nvcc: ``units`` maps a label to ``(source, kernel
    options)``.  Returns ``(failures, stats)``: label -> nvcc's message for each unit
    that does not compile, and counts (``units``, ``cached``, ``compiled``,
    ``nvcc_calls``)."""
    cdir = cache_dir()
    todo: dict[str, list] = {}                 # options key -> [(label, source, key)]
    stats = {"units": len(units), "cached": 0, "compiled": 0, "nvcc_calls": 0}
    seen: set[str] = set()
    for label, (source, kopts) in units.items():
        options = compile_options(kopts)
        key = _key(source, options)
        if key in seen or (cdir and os.path.exists(os.path.join(cdir, key + ".ok"))):
            stats["cached"] += 1
            continue
        seen.add(key)
        todo.setdefault("\0".join(options), []).append((label, source, key))
    jobs = []
    for okey, items in todo.items():
        groups: dict[tuple, list] = {}
        for it in items:
            groups.setdefault(_typedefs(it[1]), []).append(it)
        for group in groups.values():
            batches: list[tuple[list, set]] = []
            for it in group:
                names = _kernel_names(it[1])
                for b, taken in batches:
                    if len(b) < batch and not names & taken:
                        b.append(it)
                        taken |= names
                        break
                else:
                    batches.append(([it], set(names)))
            jobs += [(okey.split("\0"), b) for b, _ in batches]
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="tracenp-nvcc-") as work:
        def run(job: tuple) -> tuple[list, dict, int]:
            options, items = job
            calls = 0
            bad: dict[str, str] = {}
            good: list = []
            pending = [items]
            while pending:
                part = pending.pop()
                ok, msg = _nvcc([s for _, s, _ in part], options, work)
                calls += 1
                if ok:
                    good += part
                elif len(part) == 1:
                    bad[part[0][0]] = msg
                else:
                    half = len(part) // 2
                    pending += [part[:half], part[half:]]
            return good, bad, calls

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for good, bad, calls in pool.map(run, jobs):
                stats["nvcc_calls"] += calls
                stats["compiled"] += len(good)
                failures.update(bad)
                if cdir:
                    for _, _, key in good:
                        try:
                            open(os.path.join(cdir, key + ".ok"), "w").close()
                        except OSError:
                            pass
    return failures, stats
