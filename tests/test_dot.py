"""Pictures of graphs (tracenp.graph.dot): DOT text, SVG drawn by Graphviz, Jupyter's repr.

The DOT tests need nothing but tracenp.  The SVG tests run Graphviz's ``dot`` through the
graphviz package, and skip (saying which) where either is missing.
"""
from __future__ import annotations

import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tracenp
from tracenp.graph.dot import LONG_EDGE, REPR_MAX_NODES, quote, to_dot
from tracenp.graph.ir import Graph, GraphInput, Literal, Node, Var
from tracenp.graph.ops import Op
from tracenp.graph.source import SourceInfo
from tracenp.graph.types import abstractify
from tracenp.optimize.fusion import FUSED, Region

N = 1 << 17          # large enough for the cost model to fuse (config.min_fuse_work)
SVG = "{http://www.w3.org/2000/svg}"


def logistic(x, w):
    z = x * w + 0.5
    return 1 / (1 + np.exp(-z))          # stable_sigmoid rewrites this line


LINE_Z = logistic.__code__.co_firstlineno + 1
LINE_SIGMOID = LINE_Z + 1


def needs_graphviz():
    try:
        import graphviz  # noqa: F401
    except ImportError:
        pytest.skip("the graphviz Python package is not installed (pip install graphviz)")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (apt-get install graphviz)")


@pytest.fixture(scope="module")
def graph():
    g = tracenp.make_graph(logistic)(np.zeros(N), np.ones(N))
    # What the picture tests rely on: a rule fired and fusion made a region.
    assert [n.op.name for n in g.nodes] == ["fused"], str(g)
    assert any(n.rule == "stable_sigmoid" for n in g.nodes[0].params.nodes), str(g)
    return g


def svg_tree(svg: str) -> ET.Element:
    root = ET.fromstring(svg)          # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return root


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == cls]


def texts(el: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in el.iter(f"{SVG}text")]


def fills(el: ET.Element) -> set[str | None]:
    return {s.get("fill") for s in el.iter() if s.tag in (f"{SVG}path", f"{SVG}polygon")}


def cluster_block(dot: str, name: str) -> str:
    """The DOT text between ``subgraph <name> {`` and its closing brace."""
    start = dot.index(f"subgraph {name} {{")
    indent = dot[dot.rindex("\n", 0, start) + 1:start]
    return dot[start:dot.index(f"\n{indent}}}", start)]


# ----------------------------------------------------------------------------- DOT text
def test_dot_text_of_an_optimized_graph(graph):
    dot = graph.to_dot()
    assert dot.startswith('digraph "logistic" {') and dot.rstrip().endswith("}")
    body = cluster_block(dot, "cluster_0")
    assert "fused[131072]" in body
    for op in ("multiply", "add", "absolute", "negative", "exp", "greater_equal", "where",
               "divide"):
        assert re.search(rf"= {op}\(", body), op
    assert f"test_dot.py:{LINE_SIGMOID}" in body and f"test_dot.py:{LINE_Z}" in body
    assert "rule: stable_sigmoid" in body
    assert "f64[131072]" in body and "bool[131072]" in body
    # inputs and the output, outside the cluster
    assert 'label="a:f64[131072]\\ninput"' in dot and 'label="b:f64[131072]\\ninput"' in dot
    assert re.search(r'out\d+ \[label="output\\n\w+:f64\[131072\]"', dot)
    # the constants are written inline, as in the text listing
    assert "add(t0, 0.5)" in body and "where(t6, 1, t4)" in body


def test_names_match_the_text_listing(graph):
    """The fused region's result has the listing's name; its body's values are t0, t1, ..."""
    listing = str(graph)
    out_name = re.search(r"^\s+(\w+):f64\[131072\] = fused", listing, re.M).group(1)
    assert f"{out_name}:f64[131072] = divide(t7, t5)" in graph.to_dot()
    assert "t0:f64[131072] = multiply(a, b)" in graph.to_dot()


def test_unoptimized_graph_has_no_cluster_and_no_rule():
    g = tracenp.make_graph(logistic, optimize=False)(np.zeros(3), np.ones(3))
    dot = g.to_dot()
    assert "cluster" not in dot and "rule:" not in dot
    assert "e:f64[3] = negative(d)" in dot


W = np.arange(10.0)


def step(state, x):
    state += x * W
    return state.sum(), None, x


def test_globals_outputs_and_writebacks():
    g = tracenp.make_graph(step)(np.zeros(10), np.ones(10))
    dot = g.to_dot()
    assert "global W" in dot
    assert "add!(" in dot
    assert re.search(r'out\d+ \[label="output 1\\nNone"', dot)
    assert re.search(r'wb\d+ \[label="writes back arg0\\n\w+:f64\[10\]"', dot)
    assert "rank=source" in dot and "rank=sink" in dot


def _hand_graph(params: str, *, name: str = "g", rule: str | None = None,
                literal: Literal | None = None) -> Graph:
    class Shown(Op):
        def __init__(self):
            self.name = "shown"

        def format(self, params, names):
            return params

    a = Var(abstractify(np.zeros(3)))
    b = Var(abstractify(np.zeros(3)))
    inputs = (a,) if literal is None else (a, literal)
    node = Node(Shown(), inputs, (b,), params, SourceInfo("/x/model.py", 7, "f"), rule=rule)
    return Graph([a], [GraphInput("arg", 0)], [node], [b], name=name)


def test_quote_escapes_what_dot_reads():
    assert quote('say "hi"') == '"say \\"hi\\""'
    assert quote("back\\slash \\N") == '"back\\\\slash \\\\N"'
    assert quote("two\nlines") == '"two\\nlines"'
    assert quote("a < b & {c} | d") == '"a < b &amp; {c} | d"'
    assert quote("nul\x00") == '"nul\\\\x00"'


NASTY = '"]; x -> y [label="pwned"]; {<b>|} \\N \\" \\\\ &lt; &'


def test_labels_cannot_inject_dot():
    g = _hand_graph(NASTY, name='g" { evil }', rule='r"]\\')
    dot = g.to_dot()
    assert dot.count("digraph") == 1
    assert "pwned" in dot and 'label="pwned"' not in dot
    # every quote inside a label is escaped: the unescaped ones delimit strings in pairs
    for line in dot.splitlines():
        assert len(re.findall(r'(?<!\\)(?:\\\\)*"', line)) % 2 == 0, line


def test_escaped_labels_render_as_written():
    needs_graphviz()
    g = _hand_graph(NASTY, name='g" { evil }', rule='r"]\\')
    root = svg_tree(g.to_svg())
    nodes = groups(root, "node")
    assert len(nodes) == 3, "input, op and output: no node was injected"
    shown = [t for n in nodes for t in texts(n)]
    assert f"b:f64[3] = {NASTY}" in shown
    assert 'rule: r"]\\' in shown
    assert 'g" { evil }' in texts(root)


def test_large_literals_are_constant_nodes_small_ones_inline():
    big = Literal(np.arange(10.0))
    dot = _hand_graph("shown(a, big)", literal=big).to_dot()
    assert re.search(r'k\d+ \[label="<f64\[10\]>\\nconstant"', dot)
    small = Literal(np.float64(2.0))
    dot = _hand_graph("shown(a, 2.0)", literal=small).to_dot()
    assert "constant" not in dot


def _chain(n: int, fused_from: int | None = None) -> Graph:
    """``n`` unary nodes in a chain; from ``fused_from`` on, inside one fused region."""
    class Neg(Op):
        name = "neg"

    op = Neg()
    src = SourceInfo("/x/chain.py", 3, "f")
    x = first = Var(abstractify(np.zeros(4)))
    nodes = []
    for _ in range(n):
        y = Var(x.aval)
        nodes.append(Node(op, (x,), (y,), None, src))
        x = y
    if fused_from is not None:
        body = nodes[fused_from:]
        region = Region(body, [body[0].inputs[0]], [x], (4,))
        nodes = nodes[:fused_from] + [Node(FUSED, tuple(region.inputs), (x,), region, src)]
    return Graph([first], [GraphInput("arg", 0)], nodes, [x], name="chain")


def test_20k_node_chain_is_iterative_and_quick():
    g = _chain(20_000, fused_from=10_000)
    depth = 0
    frame = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 60)     # a recursive walk would need 10k frames more
    try:
        t = time.perf_counter()
        dot = to_dot(g)
        seconds = time.perf_counter() - t
    finally:
        sys.setrecursionlimit(old)
    assert seconds < 10, f"to_dot took {seconds:.1f} s for 20k nodes"
    assert dot.count(" -> ") == 20_001 and dot.count("subgraph cluster_") == 1
    assert len(cluster_block(dot, "cluster_0").splitlines()) == 10_000 + 2


def test_long_edges_become_stub_nodes():
    """A value used far below where it is made gets a small named stub next to its user,
    instead of an edge across the picture (those make dot's layout very slow)."""
    x = Var(abstractify(np.zeros(4)))
    s = Var(abstractify(1.5))

    class Mul(Op):
        name = "mul"

    nodes, v = [], x
    for _ in range(LONG_EDGE + 5):
        y = Var(x.aval)
        nodes.append(Node(Mul(), (v, s), (y,)))
        v = y
    g = Graph([x, s], [GraphInput("arg", 0), GraphInput("arg", 1)], nodes, [v])
    dot = g.to_dot()
    assert re.search(r'r\d+ \[label="b:float~"', dot)
    assert dot.count("in1 -> ") == LONG_EDGE


# ----------------------------------------------------------------------------- SVG
def test_svg_of_an_optimized_graph(graph):
    needs_graphviz()
    root = svg_tree(graph.to_svg())
    all_text = texts(root)
    clusters = groups(root, "cluster")
    assert len(clusters) == 1
    (cluster,) = clusters
    from tracenp.exec.kernels import choose_kernel
    kind = choose_kernel(graph.nodes[0].params)
    assert f"fused[131072] \u00b7 {kind} kernel \u00b7 test_dot.py:{LINE_SIGMOID}" in texts(cluster)

    nodes = groups(root, "node")
    labels = {}
    for n in nodes:
        labels[tuple(texts(n))] = n
    ops = [t[0] for t in labels]
    for op in ("multiply", "add", "exp", "where", "divide"):
        assert any(re.search(rf"= {op}\(", line) for line in ops), op
    assert any(t[0].startswith("a:f64[131072]") and t[1] == "input" for t in labels)
    assert any(t[0] == "output" and t[1].endswith(":f64[131072]") for t in labels)
    assert any("bool[131072]" in line for line in ops)
    assert f"test_dot.py:{LINE_Z}" in all_text and f"test_dot.py:{LINE_SIGMOID}" in all_text

    # The nodes made by the rule: filled amber, the rule's name on their last line.
    ruled = [n for t, n in labels.items() if t[-1] == "rule: stable_sigmoid"]
    assert len(ruled) == sum(1 for n in graph.nodes[0].params.nodes if n.rule)
    for n in ruled:
        assert "#ffd966" in fills(n)
        assert texts(n)[1] == f"test_dot.py:{LINE_SIGMOID}"
    plain = [n for t, n in labels.items() if t[0].startswith("t0:")]
    assert plain and "#ffd966" not in fills(plain[0])


def test_render_svg_png_and_dot(graph, tmp_path):
    p = graph.render(tmp_path / "g.dot")
    assert open(p, encoding="utf-8").read() == graph.to_dot()
    needs_graphviz()
    svg = graph.render(tmp_path / "g.svg")
    svg_tree(open(svg, encoding="utf-8").read())
    png = graph.render(tmp_path / "picture", format="png")
    assert png == str(tmp_path / "picture.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="format"):
        graph.render(tmp_path / "g.jpg", format="jpeg")


def test_repr_svg_for_jupyter(graph):
    needs_graphviz()
    svg = graph._repr_svg_()
    assert isinstance(svg, str)
    svg_tree(svg)
    big = _chain(REPR_MAX_NODES + 1)
    assert big._repr_svg_() is None       # too large to lay out quickly: the text repr


# ----------------------------------------------------------------------------- missing Graphviz
def test_missing_dot_program(graph, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(tracenp.MissingDependencyError) as err:
        graph.to_svg()
    message = str(err.value)
    assert "`dot` program" in message and "apt-get install graphviz" in message
    assert "docs/errors.md#missingdependencyerror" in message
    assert graph._repr_svg_() is None
    assert graph.render(tmp_path / "g.dot")           # DOT text needs no Graphviz


def test_missing_graphviz_package(graph, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)     # import graphviz raises ImportError
    with pytest.raises(tracenp.MissingDependencyError, match="pip install graphviz"):
        graph.render("never-written.png")
    assert graph._repr_svg_() is None
    assert graph.to_dot()
