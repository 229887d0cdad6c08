"""Draws docs/img/graph_logistic.svg, the picture on docs/graphs.md.

Run it from the repository root, with tracenp installed (``pip install -e '.[viz]'``) and
Graphviz's ``dot`` on the PATH (``apt-get install graphviz``):

    python docs/gen_graph_picture.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import tracenp

OUT = Path(__file__).resolve().parent / "img" / "graph_logistic.svg"


def logistic(X, w, b):
    z = X @ w + b
    return 1 / (1 + np.exp(-z))


def main() -> None:
    # 100,000 rows: large enough for the cost model to fuse the elementwise tail.
    graph = tracenp.make_graph(logistic)(np.zeros((100_000, 3)), np.zeros(3), 0.0)
    print(graph)
    graph.render(OUT)
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")


if __name__ == "__main__":
    main()
