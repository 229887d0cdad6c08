"""docs/rules.md is generated from the rule table; it must be current."""
from pathlib import Path

from tracenp.optimize.__main__ import rules_markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_rules_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == rules_markdown(), \
        "docs/rules.md is out of date: run `python -m tracenp.optimize > docs/rules.md`"
