"""Where in the user's code a graph node or an error came from."""
from __future__ import annotations

import linecache
import os
import sys
from dataclasses import dataclass

import numpy as np

__all__ = ["SourceInfo", "user_frame"]

_TRACENP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
_SKIP = (_TRACENP_DIR + os.sep, _NUMPY_DIR + os.sep, "<__array_function__")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """A file, line and function name in the user's code."""

    filename: str
    lineno: int
    function: str

    @property
    def line(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def short(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno}"

    def __str__(self) -> str:
        text = self.line
        where = f'File "{self.filename}", line {self.lineno}, in {self.function}'
        return f"{where}\n    {text}" if text else where


def user_frame(depth: int = 1) -> SourceInfo | None:
    """The innermost frame on the stack that is neither tracenp's nor NumPy's."""
    f = sys._getframe(depth)
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(_SKIP) and not fn.startswith("<frozen"):
            return SourceInfo(fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None
