"""Loader fuzz campaign: seeded malformed trace files, every bad row in the ledger, no good row lost, no canary anywhere."""

from __future__ import annotations

import gzip
import io
import logging
import os
import random
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, text

from db.engine import make_engine
from db.migrate import upgrade
from db.models import RunStatus
from etl.traces import load_trace_file

from . import Outcome, Scale, root_logging_to

CANARY_SERIAL = "CANARY-SN-5F3K8W"
CANARY_NAME = "Philomena Canarybuyer"
CANARY_ADDRESS = "77 Canary Row Hiddenfield"
CANARIES = (CANARY_SERIAL, CANARY_NAME, CANARY_ADDRESS)

# Malformed rows per scale; each file holds as many good rows again, interleaved.
BAD_ROWS: dict[str, int] = {"ci": 10_500, "long": 100_000}
SEED = 20261129

# The format's columns in its documented order, and the sensitive columns a real export carries.
ALLOWED = (
    "trace_number",
    "recovery_date",
    "recovery_country",
    "recovery_state",
    "recovery_city",
    "firearm_type",
    "manufacturer",
    "caliber",
    "country_of_manufacture",
    "source_category",
    "source_state",
    "purchase_date",
    "time_to_crime_days",
)
CHECKED = (
    "recovery_date",
    "recovery_state",
    "firearm_type",
    "source_category",
    "source_state",
    "purchase_date",
    "time_to_crime_days",
)
FREE_TEXT = ("trace_number", "recovery_city", "manufacturer", "caliber", "country_of_manufacture")
SENSITIVE = {
    "serial_number": CANARY_SERIAL,
    "purchaser_name": CANARY_NAME,
    "purchaser_address": CANARY_ADDRESS,
}
STATES = ("Sonora", "Michoacán", "Ciudad de México", "Jalisco", "28", "2", "Edo. de México")
CITIES = ("Nogales", "Apatzingán", "Mérida", "=1+2", "@SUM(A1)", "Ciudad Juárez", "")

# How a bad row is spoiled: each class of issue 8 and of the format's rules.
BAD_CLASSES: tuple[str, ...] = (
    "impossible_date",
    "date_before_1900",
    "future_date",
    "unknown_state",
    "state_not_a_name",
    "huge_number_state",
    "unknown_type",
    "unknown_category",
    "negative_ttc",
    "ttc_not_a_number",
    "ttc_4300_digits",
    "ttc_before_1900",
    "source_state_for_non_us",
    "unknown_source_state",
    "purchase_after_recovery",
    "purchase_before_1900",
    "unbalanced_quote",
    "missing_cell_trailing_comma",
    "too_few_cells",
    "too_many_cells",
    "blank_trace_number",
    "duplicate_in_file",
    "text_too_long",
    "nul_byte",
    "header_again",
    "oversized_field",
    "invalid_utf8",
)
OVERSIZED_PER_FILE = 3  # each is 140 kB: a few per file prove the point


@dataclass
class Planned:
    """One generated input and what a correct loader must do with it."""

    path: Path
    refused: str | None = None  # expected start of the refusal message
    good: set[str] = field(default_factory=set)
    bad_lines: dict[int, str] = field(default_factory=dict)  # line -> bad class
    duplicates: int = 0
    records: int = 0


@dataclass
class Layout:
    """A file's header: allowed columns in some order, each sensitive one after a checked one."""

    columns: list[str]

    @classmethod
    def pick(cls, rng: random.Random) -> Layout:
        allowed = list(ALLOWED)
        if rng.random() < 0.5:
            rng.shuffle(allowed)
        columns = list(allowed)
        for name in SENSITIVE:
            # A cell missing to the left shifts the sensitive value into a checked column, where
            # it fails. The free-text case (a free-text column up to two cells to the left, whose
            # rows ending blank the loader rejects as possibly shifted) has tests of its own in
            # tests/test_traces.py: here the column before the checked one is not free text.
            shielded = [
                at
                for at, column in enumerate(columns)
                if column in CHECKED and (at == 0 or columns[at - 1] not in FREE_TEXT)
            ]
            columns.insert(rng.choice(shielded) + 1, name)
        return cls(columns)


class RowMaker:
    """Good rows and rows spoiled one class at a time, as cell lists in a layout's order."""

    def __init__(self, rng: random.Random, prefix: str) -> None:
        self.rng = rng
        self.prefix = prefix
        self.count = 0
        self.last_good = ""

    def good(self) -> dict[str, str]:
        rng = self.rng
        self.count += 1
        us = rng.random() < 0.6
        year = rng.randint(2005, 2023)
        cells = {
            "trace_number": f"{self.prefix}-{self.count:07d}",
            "recovery_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "recovery_country": rng.choice(("MX", "", "mx")),
            "recovery_state": rng.choice(STATES),
            "recovery_city": rng.choice(CITIES),
            "firearm_type": rng.choice(("pistol", "RIFLE", "revólver", "escopeta")),
            "manufacturer": rng.choice(("Demo Firearms", "Example, Works", 'Say "Cheese" Co')),
            "caliber": rng.choice(("9mm", ".223", "7.62x39")),
            "country_of_manufacture": rng.choice(("US", "AT", "")),
            "source_category": "us_manufactured" if us else rng.choice(("non_us", "undetermined")),
            "source_state": rng.choice(("TX", "az", "")) if us else "",
            "purchase_date": f"{year - 1}-06-15" if us and rng.random() < 0.5 else "",
            "time_to_crime_days": "",
            **SENSITIVE,
        }
        return cells

    def bad(self, kind: str) -> tuple[dict[str, str] | None, str | None]:
        """A spoiled row as cells, or as a raw line when cells cannot express it."""
        rng = self.rng
        cells = self.good()
        if kind == "impossible_date":
            cells["recovery_date"] = rng.choice(("2019-02-30", "31/02/2018", "yesterday"))
        elif kind == "date_before_1900":
            cells["recovery_date"] = rng.choice(("0001-01-01", "1899-12-31", "01/01/1066"))
        elif kind == "future_date":
            cells["recovery_date"] = "9999-12-31"
        elif kind == "unknown_state":
            cells["recovery_state"] = rng.choice(("Atlantis", "Texas", "99"))
        elif kind == "state_not_a_name":
            cells["recovery_state"] = rng.choice(("-5", "+7", "Jalisco!!", "１４"))
        elif kind == "huge_number_state":
            cells["recovery_state"] = "0" * 4400 + "1"
        elif kind == "unknown_type":
            cells["firearm_type"] = rng.choice(("laser", "crossbow", ""))
        elif kind == "unknown_category":
            cells["source_category"] = "domestic"
        elif kind == "negative_ttc":
            cells["time_to_crime_days"] = f"-{rng.randint(1, 999)}"
        elif kind == "ttc_not_a_number":
            cells["time_to_crime_days"] = rng.choice(("ten", "1.5", "1e3"))
        elif kind == "ttc_4300_digits":
            cells["time_to_crime_days"] = "9" * 4400
        elif kind == "ttc_before_1900":
            cells["time_to_crime_days"] = "60000"
        elif kind == "source_state_for_non_us":
            cells["source_category"], cells["source_state"] = "non_us", "TX"
        elif kind == "unknown_source_state":
            cells["source_category"], cells["source_state"] = "us_imported", "ZZ"
        elif kind == "purchase_after_recovery":
            cells["recovery_date"], cells["purchase_date"] = "2015-06-01", "2016-01-01"
        elif kind == "purchase_before_1900":
            cells["source_category"], cells["purchase_date"] = "us_manufactured", "1888-01-01"
        elif kind == "blank_trace_number":
            cells["trace_number"] = " "
        elif kind == "duplicate_in_file":
            cells["trace_number"] = self.last_good
        elif kind == "text_too_long":
            cells["manufacturer"] = "M" * 500
        elif kind == "oversized_field":
            cells["recovery_city"] = "x" * 140_000
        else:
            return cells, kind  # spoiled at the line level by the writer
        return cells, None


def csv_line(values: list[str]) -> str:
    out = []
    for value in values:
        if any(ch in value for ch in ',"\r\n'):
            value = '"' + value.replace('"', '""') + '"'
        out.append(value)
    return ",".join(out)


def spoil_line(values: list[str], columns: list[str], kind: str, rng: random.Random) -> str:
    """A raw line for the classes that break the CSV itself."""
    if kind == "unbalanced_quote":
        at = columns.index(rng.choice(("manufacturer", "recovery_city", "caliber")))
        values = list(values)
        values[at] = '"' + values[at].replace('"', "")
        return ",".join(v.replace('"', "") if i != at else v for i, v in enumerate(values))
    if kind == "missing_cell_trailing_comma":
        # A cell left of a sensitive column goes missing: the sensitive value shifts into the
        # checked column before it (Layout), the case the loader must keep out of every table.
        # A shift that moves only non-sensitive cells can make a plausible row that no loader
        # can tell from a good one; it is not generated as "malformed".
        exposed = [
            at
            for at, name in enumerate(columns)
            if name in SENSITIVE and at > 0 and columns[at - 1] in CHECKED
        ]
        at = rng.randrange(rng.choice(exposed))
        return csv_line(values[:at] + values[at + 1 :]) + ","
    if kind == "too_few_cells":
        return csv_line(values[: rng.randrange(2, len(values) - 1)])
    if kind == "too_many_cells":
        return csv_line([*values, CANARY_SERIAL])
    if kind == "nul_byte":
        at = columns.index("recovery_city")
        values = list(values)
        values[at] = "Nog\x00ales"
        return csv_line(values)
    if kind == "header_again":
        return csv_line(columns)
    raise ValueError(kind)


LINE_ENDINGS = {"lf": ["\n"], "crlf": ["\r\n"], "cr": ["\r"], "mixed": ["\n", "\r\n", "\r"]}


def write_trace_file(
    directory: Path,
    index: int,
    bad_rows: int,
    rng: random.Random,
    *,
    encoding: str,
    endings: str,
) -> Planned:
    """A file of `bad_rows` malformed rows, each followed by a good row, in one encoding."""
    path = directory / f"fuzz-{index:02d}-{encoding}-{endings}.csv"
    layout = Layout.pick(rng)
    maker = RowMaker(rng, f"F{index:02d}")
    planned = Planned(path)
    classes = [
        kind for kind in BAD_CLASSES if encoding.startswith("utf-8") or kind != "invalid_utf8"
    ]
    oversized = 0
    lines: list[tuple[str | bytes, str | None]] = [(csv_line(layout.columns), None)]

    def add_good() -> None:
        cells = maker.good()
        maker.last_good = cells["trace_number"]
        planned.good.add(cells["trace_number"])
        lines.append((csv_line([cells[name] for name in layout.columns]), None))

    add_good()
    for _ in range(bad_rows):
        kind = rng.choice(classes)
        if kind == "oversized_field":
            if oversized >= OVERSIZED_PER_FILE:
                kind = "impossible_date"
            oversized += 1
        if kind == "invalid_utf8":
            cells = maker.good()
            raw = csv_line([cells[name] for name in layout.columns]).encode("utf-8")
            lines.append((b"\xff" + raw.replace(b"Demo", b"D\xe9mo"), kind))
        else:
            cells, line_kind = maker.bad(kind)
            values = [cells[name] for name in layout.columns] if cells else []
            if line_kind is None:
                lines.append((csv_line(values), kind))
            else:
                lines.append((spoil_line(values, layout.columns, line_kind, rng), kind))
        add_good()
    stream = io.BytesIO()
    if encoding == "utf-8-sig":
        stream.write(b"\xef\xbb\xbf")
    choices = LINE_ENDINGS[endings]
    number = 0
    for line, kind in lines:
        data = (
            line
            if isinstance(line, bytes)
            else line.encode(encoding.replace("-sig", ""), "replace")
        )
        ending = rng.choice(choices).encode()
        stream.write(data + ending)
        number += 1
        if kind is not None:
            planned.bad_lines[number] = kind
        if rng.random() < 0.01:
            stream.write(ending)  # a blank line is not a record
            number += 1
    path.write_bytes(stream.getvalue())
    planned.records = len(lines) - 1
    return planned


def special_inputs(directory: Path, header: str) -> list[Planned]:
    """Inputs that are not ordinary trace files: each refused (or loaded empty) as designed."""
    made: list[Planned] = []

    def plan(name: str, write: Callable[[Path], object], refused: str | None) -> None:
        path = directory / name
        write(path)
        made.append(Planned(path, refused=refused))

    plan("empty.csv", lambda p: p.write_bytes(b""), "the file is empty")
    plan("header-only.csv", lambda p: p.write_text(header + "\r\n", encoding="utf-8"), None)
    plan(
        "duplicate-header.csv",
        lambda p: p.write_text(header + ",Trace_Number\n", encoding="utf-8"),
        "column(s) named more than once",
    )
    plan(
        "headerless.csv",
        lambda p: p.write_text(
            f"X-1,2019-01-01,MX,Sonora,,pistol,,,,undetermined,,,,{CANARY_SERIAL},{CANARY_NAME}\n",
            encoding="utf-8",
        ),
        "missing required columns",
    )
    plan("binary.csv", lambda p: p.write_bytes(os.urandom(4096)), "not a CSV text file")
    plan(
        "gzip.csv",
        lambda p: p.write_bytes(gzip.compress(header.encode())),
        "not a CSV text file: a gzip",
    )
    plan(
        "utf16.csv",
        lambda p: p.write_text(header + "\n", encoding="utf-16"),
        "not a CSV text file: UTF-16",
    )
    plan("directory.csv", lambda p: p.mkdir(), "not a regular file: a directory")
    if hasattr(os, "mkfifo"):
        plan("fifo.csv", os.mkfifo, "not a regular file: a named pipe")
    return made


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the campaign, as the text formatter writes it, DEBUG included."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    with root_logging_to(handler):
        yield buffer


def canary_hits(data: bytes, where: str, found: list[str]) -> int:
    hits = 0
    for canary in CANARIES:
        for encoded in {canary.encode("utf-8"), canary.encode("utf-16-le")}:
            if encoded in data:
                hits += 1
                found.append(f"{canary!r} in {where}")
    return hits


def export_everything(url: str) -> dict[str, bytes]:
    """`ironriver export` of every dataset `ironriver datasets` lists, CSV and JSON."""
    from etl.cli import cli

    runner = CliRunner()
    env = {"DATABASE_URL": url}
    listing = runner.invoke(cli, ["datasets"], env=env, catch_exceptions=False)
    names = [line.split()[0] for line in listing.output.splitlines() if line and line[0] != " "]
    outputs: dict[str, bytes] = {"datasets": listing.output.encode()}
    for name in names:
        for fmt in ("csv", "json"):
            result = runner.invoke(cli, ["export", name, "--format", fmt], env=env)
            if result.exit_code != 0:
                raise RuntimeError(f"export {name} {fmt} exited {result.exit_code}")
            outputs[f"{name}.{fmt}"] = result.stdout_bytes
    return outputs


def database_bytes(engine: Engine) -> bytes:
    """SQLite: the file and its -wal / -journal; PostgreSQL: every table's rows as text."""
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        parts = [path, *(path.with_name(path.name + s) for s in ("-wal", "-journal"))]
        return b"".join(part.read_bytes() for part in parts if part.exists())
    with engine.connect() as connection:
        tables = connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        dumped = [
            repr(connection.execute(text(f'SELECT * FROM "{table}"')).all()) for table in tables
        ]
    return "\n".join(dumped).encode()


def check_file(
    engine: Engine, plan: Planned, result: object, problems: list[str]
) -> tuple[int, int]:
    """(lost, clean) for one loaded file, comparing the database with the plan."""
    from etl.traces import TraceLoadResult

    assert isinstance(result, TraceLoadResult)
    name = plan.path.name
    if plan.refused is not None:
        ok = result.status == RunStatus.REFUSED and (result.message or "").startswith(plan.refused)
        if not ok:
            problems.append(f"{name}: expected a refusal, got {result.summary()}")
        return 0, int(ok)
    if result.status != RunStatus.LOADED:
        problems.append(f"{name}: {result.summary()}")
        return len(plan.good) + len(plan.bad_lines), 0
    with engine.connect() as connection:
        loaded = set(
            connection.execute(
                text("SELECT trace_number FROM traces WHERE trace_file_id = :id"),
                {"id": result.trace_file_id},
            ).scalars()
        )
        ledger = dict(
            connection.execute(
                text("SELECT line_number, reason FROM rejected_rows WHERE run_id = :id"),
                {"id": result.run_id},
            ).all()
        )
    lost_good = plan.good - loaded
    missing = {line: kind for line, kind in plan.bad_lines.items() if not ledger.get(line)}
    unexpected = set(ledger) - set(plan.bad_lines)
    counts = (result.rows_read, result.rows_loaded, result.rows_rejected, result.rows_duplicate)
    if result.rows_read != plan.records or result.rows_read != sum(counts[1:]):
        problems.append(f"{name}: counts {counts} for {plan.records} records")
    if lost_good:
        problems.append(f"{name}: {len(lost_good)} good rows lost, e.g. {sorted(lost_good)[:3]}")
    if missing:
        problems.append(f"{name}: bad rows not in the ledger: {dict(list(missing.items())[:5])}")
    if unexpected:
        problems.append(f"{name}: good lines rejected: {sorted(unexpected)[:5]}")
    lost = len(lost_good) + len(missing) + len(unexpected)
    return lost, len(plan.good) + len(plan.bad_lines) - lost


def run(scale: Scale, *, database_url: str | None = None) -> Outcome:
    """Generate the campaign's files, load each, and check ledger, rows, counts and canaries."""
    rng = random.Random(SEED)
    started = time.monotonic()
    problems: list[str] = []
    crashed = lost = clean = hits = tried = 0
    with tempfile.TemporaryDirectory(prefix="ironriver-loader-fuzz-") as scratch:
        directory = Path(scratch)
        url = database_url or f"sqlite:///{directory / 'fuzz.sqlite'}"
        engine = make_engine(url)
        upgrade(engine)
        variants = [
            ("utf-8", "lf"),
            ("utf-8", "crlf"),
            ("utf-8-sig", "mixed"),
            ("cp1252", "crlf"),
            ("utf-8", "cr"),
            ("cp1252", "lf"),
        ]
        per_file = -(-BAD_ROWS[scale] // len(variants))
        plans = [
            write_trace_file(directory, index, per_file, rng, encoding=enc, endings=ends)
            for index, (enc, ends) in enumerate(variants)
        ]
        plans += special_inputs(directory, ",".join(ALLOWED) + ",serial_number")
        with captured_logs() as logs:
            for plan in plans:
                tried += len(plan.good) + len(plan.bad_lines) if plan.refused is None else 1
                try:
                    result = load_trace_file(engine, plan.path)
                except Exception:
                    crashed += 1
                    problems.append(f"{plan.path.name}: {traceback.format_exc(limit=3)}")
                    continue
                file_lost, file_clean = check_file(engine, plan, result, problems)
                lost += file_lost
                clean += file_clean
            # Loading the first file again changes nothing.
            again = load_trace_file(engine, plans[0].path)
            if again.status != RunStatus.SKIPPED:
                problems.append(f"reloading {plans[0].path.name}: {again.summary()}")
                crashed += 1
        log_text = logs.getvalue()
        crashed += log_text.count("Traceback (most recent call last)")
        engine.dispose()
        found: list[str] = []
        hits += canary_hits(database_bytes(make_engine(url)), "the database", found)
        hits += canary_hits(log_text.encode("utf-8", "backslashreplace"), "the logs", found)
        for name, data in export_everything(url).items():
            hits += canary_hits(data, f"export {name}", found)
        problems.extend(found)
    seconds = time.monotonic() - started
    bad = sum(len(plan.bad_lines) for plan in plans)
    detail = f"{bad:,} malformed rows in {len(plans)} inputs, {seconds:.1f} s"
    if problems:
        detail += "; " + " | ".join(problems[:8])
    return Outcome("loader", tried, crashed, clean, lost, hits, detail)
