"""Run every benchmark under tests/bench/ and print its figures.

Benchmarks are not timed tests: each `bench_*.py` module has a `main()` that measures, prints a
small table (ratios against a baseline measured in the same run where there is one) and returns.
Usage: `python tests/bench/run.py [name-filter]` (or `make bench`).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    pattern = args[0] if args else ""
    sys.path.insert(0, str(HERE.parents[1]))
    for path in sorted(HERE.glob("bench_*.py")):
        if pattern not in path.stem:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n=== {path.stem} ===", flush=True)
        started = time.perf_counter()
        module.main()
        print(f"({path.stem} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
