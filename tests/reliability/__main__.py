"""`make fuzz`: every reliability campaign at its long scale, one table row each; exit 1 on any failure."""

from __future__ import annotations

import importlib
import sys
import time

from . import Outcome

# Each module exposes `run(scale) -> Outcome`; the tests in this package run the same code at "ci".
CAMPAIGNS = ("concurrency", "kill", "loader", "web")


def main() -> int:
    rows: list[tuple[Outcome, float]] = []
    for name in CAMPAIGNS:
        module = importlib.import_module(f"{__package__}.{name}")
        started = time.monotonic()
        outcome = module.run("long")
        rows.append((outcome, time.monotonic() - started))
        print(f"# {outcome.campaign}: {outcome.detail}", file=sys.stderr, flush=True)
    print("| campaign | tried | crashed | clean | lost | canary hits | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for outcome, seconds in rows:
        print(
            f"| {outcome.campaign} | {outcome.tried:,} | {outcome.crashed} | {outcome.clean:,} "
            f"| {outcome.lost} | {outcome.canary_hits} | {seconds:.0f} |"
        )
    return 0 if all(outcome.passed for outcome, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
