"""``python -m bench [name ...] [--quick] [--tasks N] [--out PATH] [--load auto|wrk|python]``.

With no names every measurement runs and the report goes to ``docs/benchmarks.md``; with names
only those run and the markdown is printed (and written to ``--out`` when given).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from .config import BenchConfig, quick
from .load import REPO_ROOT
from .runner import MEASUREMENTS, run

DEFAULT_OUT = REPO_ROOT / "docs" / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="name",
        help="measurements to run: " + ", ".join(MEASUREMENTS) + " (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 s runs (smoke test)")
    parser.add_argument(
        "--out", type=Path, help=f"write the markdown here (default for a full run: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--load",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (auto: wrk when installed, else the Python fallback)",
    )
    parser.add_argument("--tasks", type=int, help="tasks of the queried account (default 100,000)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in MEASUREMENTS]
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}; choose from {', '.join(MEASUREMENTS)}")
    names = args.names or list(MEASUREMENTS)
    config = replace(BenchConfig(), load_tool=args.load)
    if args.quick:
        config = quick(config)
    if args.tasks:
        config = replace(config, tasks=args.tasks)
    result = run(names, config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    out = args.out or (DEFAULT_OUT if not args.names else None)
    text = result.markdown()
    if out is None:
        print(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"bench: wrote {out} ({result.seconds:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
