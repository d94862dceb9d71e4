"""The `ironriver` command's entry point: a load's first pass begins before the CLI's imports."""

from __future__ import annotations

import gc
import sys

from etl import first_pass


def main() -> None:
    """Run the command line. For `etl load-traces FILE...`, the checksum passes over the files
    begin first, in a thread, and run while the CLI and the loader take their half second of
    imports (issue 13); any other command starts as it would without this."""
    begun = first_pass.begin_for(sys.argv)
    if begun is not None:
        # Nothing the imports make is garbage, and the cyclic collector's passes over it cost a
        # load ~0.1 s of CPU before its first row: collected from the load on (`etl_load_traces`).
        gc.disable()
    from etl.cli import main as run_cli  # after the pass began: these are the imports it overlaps

    run_cli(begun)


if __name__ == "__main__":
    main()
