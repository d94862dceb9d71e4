"""Load eTrace-style trace exports: allow-listed columns only, bad rows set aside, one transaction per file.

One module per step: `reading` (bytes, encodings), `privacy` (header and allow-list), `shifts`
(rows a missing or extra cell moved over), `checks` (row checks, one record at a time),
`columnar` (the same checks a column at a time, for plain lines), `parsing` (batches of both),
`parallel` (the parser in a second thread), `handoff` (to a worker thread), `staging` (SQLite's way in), `insert`, `aggregates`, and `load`, which runs them.
"""

from importlib.util import find_spec

if any(find_spec(name) is None for name in ("pyarrow", "adbc_driver_sqlite", "pgpq")):
    # The `traces` extra, not installed to serve (`make run`).
    raise ImportError(
        "the trace loader needs the `traces` extra (pyarrow, ADBC's SQLite driver, pgpq): run "
        "`make venv`, or `pip install -e '.[traces]'` in the checkout"
    )

from etl.traces.aggregates import AGGREGATE_DIMENSIONS, ttc_band
from etl.traces.checks import firearm_type_code, parse_date, source_category_code
from etl.traces.columns import ALLOWED_COLUMNS, REQUIRED_COLUMNS, Refused
from etl.traces.load import KIND, TraceLoadResult, load_trace_file
from etl.traces.privacy import describe_error

__all__ = [
    "AGGREGATE_DIMENSIONS",
    "ALLOWED_COLUMNS",
    "KIND",
    "REQUIRED_COLUMNS",
    "Refused",
    "TraceLoadResult",
    "describe_error",
    "firearm_type_code",
    "load_trace_file",
    "parse_date",
    "source_category_code",
    "ttc_band",
]
