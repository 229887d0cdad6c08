"""``python -m tracenp --version``."""
from __future__ import annotations

import argparse

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tracenp",
                                     description="tracenp: compile plain NumPy code.")
    parser.add_argument("--version", action="version", version=f"tracenp {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
