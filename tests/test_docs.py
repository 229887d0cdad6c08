"""The documentation is executable, and what it says is checked.

* Every ```python block of docs/index.md, docs/tracing.md and docs/errors.md runs, in
  order, in one namespace per page.  Blocks are compiled under the page's path
  (``docs/index.md``) with the page's own line numbers, so the ``# index.md:41`` comments
  of a graph listing, warnings and error messages point at lines of the page.
* A ```text block right after a python block (only blank lines between) is what the
  block prints: stdout, stderr and warnings (as Python shows them) together.  ``...``
  stands for any text (like doctest's ELLIPSIS).  A python block without a text block
  must print nothing.
* ``<!-- raises ClassName -->`` on the line before a python block: the block must raise
  that tracenp error (its traceback is the block's output).  ``<!-- warns ClassName -->``:
  the block must emit that warning.  Only blocks that are meant to fail are marked.
* docs/errors.md has a section (heading = class name) for every public error and warning
  class, and every ``See docs/errors.md#anchor`` in tracenp's messages resolves.

Run ``python tests/test_docs.py --update`` to rewrite text blocks (those whose only ``...``
is an abridged traceback) from what the code prints now; read the diff before keeping it.
"""
from __future__ import annotations

import builtins
import contextlib
import io
import linecache
import re
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import tracenp

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RUN_PAGES = ["index.md", "tracing.md", "errors.md", "autodiff.md"]
PRINT_DEFAULTS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False,
                      nanstr="nan", infstr="inf", sign="-", floatmode="maxprec", legacy=False)
SENTINEL = re.compile(r"^<!--\s*(raises|warns)\s+([A-Za-z_][\w.]*)\s*-->$")


# ----------------------------------------------------------------------------- parsing
@dataclass
class Block:
    lang: str
    code: str
    first: int                 # 1-based line number of the block's first code line
    sentinel: tuple[str, str] | None = None
    want: str | None = None    # the text block that follows, if any
    want_first: int = 0        # its first line number
    want_last: int = 0         # the line number of its closing fence


def parse(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown page, with sentinels and expected outputs attached."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    gap_ok: list[bool] = []    # only blank lines between this block and the previous one
    i, last_close = 0, -10
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        if j == len(lines):
            raise AssertionError(f"{path.name}:{start + 1}: unclosed code fence")
        prev = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        s = SENTINEL.match(prev)
        blocks.append(Block(m.group(1), "\n".join(lines[start + 1:j]) + "\n", start + 2,
                            (s.group(1), s.group(2)) if s else None))
        blocks[-1].want_last = j + 1
        gap_ok.append(all(not lines[k].strip() for k in range(last_close + 1, start)))
        last_close = j
        i = j + 1
    out: list[Block] = []
    for k, b in enumerate(blocks):
        if b.lang == "text" and out and out[-1].lang == "python" and out[-1].want is None \
                and gap_ok[k] and blocks[k - 1] is out[-1]:
            out[-1].want = b.code
            out[-1].want_first = b.first
            out[-1].want_last = b.want_last
        elif b.lang == "python":
            out.append(b)
    return out


# ----------------------------------------------------------------------------- running
def matches(want: str, got: str) -> bool:
    """``got == want`` line by line (trailing spaces ignored), ``...`` matching any text."""
    norm = lambda s: "\n".join(line.rstrip() for line in s.strip("\n").splitlines())
    want, got = norm(want), norm(got)
    parts = want.split("...")
    if len(parts) == 1:
        return want == got
    if not got.startswith(parts[0]):
        return False
    pos = len(parts[0])
    for part in parts[1:-1]:
        k = got.find(part, pos)
        if k < 0:
            return False
        pos = k + len(part)
    return got.endswith(parts[-1]) and len(got) - len(parts[-1]) >= pos


def _error_class(name: str) -> type:
    """A class named in a sentinel: tracenp's, or a builtin exception."""
    return getattr(tracenp, name, None) or getattr(builtins, name)


@dataclass
class Result:
    block: Block
    got: str
    problem: str | None


def run_page(page: str) -> list[Result]:
    """Run the python blocks of ``docs/<page>`` in order in one namespace."""
    path = DOCS / page
    filename = f"docs/{page}"
    text = path.read_text(encoding="utf-8")
    # Let tracebacks, warnings and tracenp's source lines show the page's lines.
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    ns: dict = {"__name__": f"docs_{page[:-3]}"}
    results = []
    rng_state = np.random.get_state()
    try:
        for block in parse(path):
            results.append(_run_block(block, filename, ns))
    finally:
        np.random.set_state(rng_state)
    return results


def _run_block(block: Block, filename: str, ns: dict) -> Result:
    code = compile("\n" * (block.first - 1) + block.code, filename, "exec")
    buf = io.StringIO()
    caught: list[type] = []
    problem = None

    def show(message, category, fname, lineno, file=None, line=None):
        caught.append(category)
        buf.write(warnings.formatwarning(message, category, fname, lineno, line))

    with warnings.catch_warnings(), np.printoptions(**PRINT_DEFAULTS):
        warnings.simplefilter("default")   # what a user sees by default (Python's filters)
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                         ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = show
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            try:
                exec(code, ns)
            except Exception as exc:
                buf.write("".join(traceback.format_exception(exc)))
                if block.sentinel is None or block.sentinel[0] != "raises":
                    problem = f"raised {type(exc).__name__} (no `raises` sentinel)"
                elif not isinstance(exc, _error_class(block.sentinel[1])):
                    problem = f"raised {type(exc).__name__}, the page says {block.sentinel[1]}"
            else:
                if block.sentinel and block.sentinel[0] == "raises":
                    problem = f"did not raise {block.sentinel[1]}"
    if problem is None and block.sentinel and block.sentinel[0] == "warns":
        cls = _error_class(block.sentinel[1])
        if not any(issubclass(c, cls) for c in caught):
            problem = f"did not warn {block.sentinel[1]}"
    got = buf.getvalue()
    if problem is None:
        if block.want is None and got.strip():
            problem = "printed output but the page shows no ```text block after it"
        elif block.want is not None and not matches(block.want, got):
            problem = "printed something else than the page says"
    return Result(block, got, problem)


def _report(page: str, results: list[Result]) -> str:
    out = []
    for r in results:
        if r.problem:
            out.append(f"docs/{page}:{r.block.first - 1}: {r.problem}\n"
                       f"--- the page says:\n{r.block.want or ''}"
                       f"--- it printed:\n{r.got}")
    return "\n".join(out)


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("page", RUN_PAGES)
def test_page_examples_run_and_print_what_the_page_says(page):
    results = run_page(page)
    assert results, f"no python blocks in docs/{page}"
    failures = _report(page, results)
    assert not failures, failures


@pytest.mark.parametrize("page", RUN_PAGES)
def test_prose_quotes_real_source_comments(page):
    """A `# page.md:N` quoted in the prose is one that an output block of the page shows."""
    text = (DOCS / page).read_text(encoding="utf-8")
    outputs = "".join(b.want or "" for b in parse(DOCS / page))
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for quoted in re.findall(r"`(# \w+\.md:\d+)`", prose):
        assert quoted in outputs, f"docs/{page} quotes {quoted!r}, which no example prints"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, in_code = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            anchors.add(_slug(line.lstrip("#")))
    return anchors


def _headings(path: Path, level: str = "## ") -> list[str]:
    return [line[len(level):].strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith(level)]


PUBLIC_CLASSES = sorted(name for name in tracenp.__all__
                        if isinstance(getattr(tracenp, name), type)
                        and issubclass(getattr(tracenp, name), (Exception, Warning)))


def test_every_public_error_and_warning_has_a_section():
    assert {"TracenpError", "FallbackWarning"} <= set(PUBLIC_CLASSES)
    headings = _headings(DOCS / "errors.md")
    missing = [name for name in PUBLIC_CLASSES if name not in headings]
    assert not missing, f"docs/errors.md lacks a '## <Class>' section for {missing}"
    stray = [h for h in headings if h not in PUBLIC_CLASSES]
    assert not stray, f"docs/errors.md has sections for no public class: {stray}"


def test_class_hierarchy_in_errors_md_is_true():
    """The tree at the top of docs/errors.md matches the classes."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    start = text.index("```text\nTracenpError") + len("```text\n")
    tree = text[start:].split("```")[0]
    parents: list[tuple[int, type]] = []
    seen = set()
    for line in tree.strip().splitlines():
        m = re.match(r"^([\s│├└─]*)(\w+)\s*(?:\((?:also an? )?(\w+)\))?", line)
        depth, name, builtin = len(m.group(1)), m.group(2), m.group(3)
        cls = getattr(tracenp, name)
        seen.add(name)
        while parents and parents[-1][0] >= depth:
            parents.pop()
        if parents:
            assert cls.__bases__[0] is parents[-1][1], f"{name} is not a {parents[-1][1].__name__}"
        if builtin:
            assert issubclass(cls, getattr(builtins, builtin)), f"{name} is not a {builtin}"
        parents.append((depth, cls))
    assert seen == set(PUBLIC_CLASSES)


def test_every_section_has_an_example_that_shows_its_class():
    """Each class's section has an example whose (checked) output or sentinel names it."""
    path = DOCS / "errors.md"
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = {line[3:].strip(): i + 1 for i, line in enumerate(lines) if line.startswith("## ")}
    bounds = sorted(starts.values()) + [len(lines) + 1]
    blocks = parse(path)
    missing = []
    for name in PUBLIC_CLASSES:
        if name == "TracenpError":      # the base class: shown by catching a subclass
            continue
        lo = starts[name]
        hi = next(b for b in bounds if b > lo)
        shown = [b for b in blocks if lo < b.first < hi and (
            (b.sentinel and b.sentinel[1] == name) or (b.want and name in b.want))]
        if not shown:
            missing.append(name)
    assert not missing, f"no example in the docs/errors.md section of {missing} shows it"


def test_error_message_anchors_exist():
    anchors = _anchors(DOCS / "errors.md")
    for name in PUBLIC_CLASSES:
        cls = getattr(tracenp, name)
        if issubclass(cls, tracenp.TracenpError):
            message = str(cls("example"))
            found = re.findall(r"See docs/errors\.md#([\w-]+)", message)
            assert found, f"{name}'s message does not point at docs/errors.md: {message!r}"
            assert all(a in anchors for a in found), f"{name}: #{found} not in docs/errors.md"
    # Anchors written out literally anywhere in the package.
    for py in (ROOT / "tracenp").rglob("*.py"):
        for anchor in re.findall(r"docs/errors\.md#([\w-]+)", py.read_text(encoding="utf-8")):
            assert anchor in anchors, f"{py.relative_to(ROOT)} links docs/errors.md#{anchor}"


def test_links_between_pages_resolve():
    for page in RUN_PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = (DOCS / file).resolve() if file else DOCS / page
            assert dest.exists(), f"docs/{page} links {target}: no such file"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest), f"docs/{page} links {target}: no such heading"


def test_readme_has_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "python -m pip install -e '.[test]' && python examples/demo.py" in readme
    assert "python -m pip install -e '.[test]' && python -m pytest -m \"not slow\" -q" in readme
    assert (ROOT / "examples" / "demo.py").exists()


# ----------------------------------------------------------------------------- update
TRACEBACK = "Traceback (most recent call last):"


def abridge(text: str) -> str:
    """Replace the frames of each traceback in ``text`` by one ``...`` line."""
    out, skipping = [], False
    for line in text.splitlines():
        if line == TRACEBACK:
            out += [line, "..."]
            skipping = True
        elif skipping and line.startswith(" "):
            continue
        else:
            skipping = False
            out.append(line)
    return "\n".join(out) + "\n"


def _update(page: str) -> int:
    """Rewrite the text blocks of ``page`` that no longer match (and have no ``...``)."""
    path = DOCS / page
    results = run_page(page)
    lines = path.read_text(encoding="utf-8").splitlines()
    edits, left = [], 0
    for r in results:
        if not r.problem:
            continue
        b = r.block
        if r.problem.startswith("printed something else") and \
                "..." not in b.want.replace(f"{TRACEBACK}\n...\n", ""):
            edits.append((b.want_first - 1, b.want_last - 1, abridge(r.got).splitlines()))
        else:
            left += 1
            print(_report(page, [r]))
    for lo, hi, new in sorted(edits, reverse=True):
        lines[lo:hi] = [line.rstrip() for line in new]
    if edits:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"docs/{page}: rewrote {len(edits)} output block(s)")
    return len(edits)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--update"]:
        sys.exit("usage: python tests/test_docs.py --update [page.md ...]")
    for page in sys.argv[2:] or RUN_PAGES:
        for _ in range(3):   # line numbers move when an output block changes length
            if not _update(page):
                break
            print("  (ran again: rewritten blocks may have moved line numbers)")
