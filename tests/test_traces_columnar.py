"""The columnar path of the trace parser accepts exactly what the one-by-one checks accept (issue 13)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from etl.first_pass import is_utf8
from etl.traces import columnar, columns, kept, parsing
from etl.traces.aggregates import AggregateCounts
from etl.traces.checks import BLANK, Progress, RowChecks
from etl.traces.parsing import ParseJob, parse
from etl.traces.privacy import read_header
from etl.traces.reading import header_row, inspect_file, open_text, record_reader

HEADER = (
    "trace_number,recovery_date,recovery_country,recovery_state,recovery_city,firearm_type,"
    "manufacturer,caliber,serial_number,country_of_manufacture,source_category,source_state,"
    "purchase_date,time_to_crime_days,purchaser_name"
)
# The same columns with the free-text ones after every checked one, each within two cells of a
# sensitive column: a row shifted left there fails no vocabulary check.
EXPOSED_HEADER = (
    "trace_number,recovery_date,recovery_country,recovery_state,firearm_type,source_category,"
    "source_state,purchase_date,time_to_crime_days,recovery_city,manufacturer,serial_number,"
    "caliber,country_of_manufacture,purchaser_name"
)
TODAY = dt.date.today()
# Each column's candidates, the first good, good and bad, in the spellings and near misses exports have.
CHOICES: dict[str, list[str]] = {
    "recovery_date": [
        "2019-03-04",
        "04/03/2019",
        "4/3/2019",
        " 2015-12-31 ",
        "1900-01-01",
        "1899-12-31",
        "2019-02-30",
        "31/31/2019",
        "",
        "  ",
        (TODAY + dt.timedelta(days=1)).isoformat(),
        TODAY.isoformat(),
        "2019/03/04",
        "20190304",
    ],
    "recovery_country": ["MX", "mx", "MEX", "México", "", " MX ", "US", "Mexico!"],
    "recovery_state": [
        "14",
        "9",
        "09",
        "Jalisco",
        "CIUDAD DE MEXICO",
        "Edo. de México",
        "Michoacán",
        "CDMX",
        "33",
        "",
        "-5",
        "Jalisco!!",
        "Texas",
    ],
    "recovery_city": ["", "Guadalajara", " Tijuana ", "x" * 121, "Ciudad Juárez", "SN0012AB34"],
    "firearm_type": ["pistol", "PISTOLA", "Revólver", "machine gun", "rifle ", "bazooka", ""],
    "manufacturer": ["", "Acme", "y" * 121, " Sample Arms ", "9-99-123-01-FAKE", "Model 1911"],
    "caliber": ["", "9mm", ".223", "z" * 41, "7.62x39", "A12345", "123456", ".50 BMG"],
    "country_of_manufacture": ["", "US", "Italy", "w" * 61, "1970-01-01"],
    "source_category": ["us_manufactured", "US_IMPORTED", "non_us", "undetermined", "us", ""],
    "source_state": ["", "TX", "tx", "Texas", "ZZ", " AZ ", "99"],
    "purchase_date": ["", "2010-01-01", "1899-06-01", "2030-01-01", "2010-13-01", "01/01/2010"],
    "time_to_crime_days": ["", "0", "365", "-4", "+12", "1e3", "3650", "99999999", "1234567890"],
}


def pick(rng: random.Random, name: str) -> str:
    """A column's first (good) candidate most of the time, else any of them."""
    return CHOICES[name][0] if rng.random() < 0.8 else rng.choice(CHOICES[name])


def hostile_file(
    path: Path,
    rows: int,
    seed: int,
    *,
    exposed: bool = False,
    trailing_comma: bool = False,
    endings: tuple[str, ...] = ("\n", "\r\n", "\r"),
    unquoted: bool = False,
) -> Path:
    """Mostly plain lines with every kind of bad cell, and now and then a line no split can read.

    `exposed` writes the columns in EXPOSED_HEADER's order; `trailing_comma` ends the header
    and every line with a comma: an unnamed last column. `unquoted` writes no blank line, quote
    or NUL: with one kind of line ending, the file is then read in stretches, not line by line.
    """
    rng = random.Random(seed)
    header = EXPOSED_HEADER if exposed else HEADER
    order = [HEADER.split(",").index(name) for name in header.split(",")]
    serial_at = header.split(",").index("serial_number")
    lines = [header]
    for number in range(rows):
        roll = rng.random()
        if roll < 0.01 and not unquoted:
            lines.append("")  # a blank line: not a record
            continue
        trace = f"T-{rng.randrange(rows * 9 // 10)}" if rng.random() < 0.9 else f"  U{number} "
        cells = [trace] + [pick(rng, name) for name in list(CHOICES)[:7]]
        cells.append(f"SN{number:08d}")  # serial_number: sensitive
        cells += [pick(rng, name) for name in list(CHOICES)[7:]]
        # purchaser_name: sensitive, and now and then blank (a blank last cell, as after a shift)
        cells.append("Pat Placeholder" if rng.random() < 0.9 else rng.choice(["", "  "]))
        cells = [cells[at] for at in order]
        line = ",".join(cells)
        if roll < 0.015:
            # A cell left of serial_number goes missing and a trailing comma makes up the width.
            gone = rng.randrange(1, serial_at)
            line = ",".join(cells[:gone] + cells[gone + 1 :]) + ","
        elif roll < 0.02:
            line += ",extra"
        elif roll < 0.03:
            line = line.rsplit(",", 1)[0]
        elif unquoted:
            pass
        elif roll < 0.04:
            line = line.replace("Pat Placeholder", '"Placeholder, Pat"')
        elif roll < 0.045:
            line = line.replace("Pat", '"Pat')  # a quote left open
        elif roll < 0.05:
            line = line.replace("Pat", "P\x00t")
        lines.append(line)
    tail = "," if trailing_comma else ""
    text = "".join(line + (tail if line else "") + rng.choice(endings) for line in lines)
    path.write_bytes(text.encode("utf-8"))
    return path


def parsed(path: Path, *, use_columns: bool, batch_rows: int) -> dict[str, object]:
    """Every batch of `parse` over the file, flattened: what the inserter would receive."""
    inspection = inspect_file(path)
    rows, lines, rejects = [], [], []
    counts = AggregateCounts()
    with open_text(path, inspection) as stream:
        feed, reader = record_reader(stream, inspection)
        header = read_header(header_row(feed, reader))
        batches = parse(ParseJob(feed, header, 7, batch_rows), Progress(), columnar=use_columns)
        for batch in batches:
            rows += [tuple(row.values()) for row in batch.rows.to_pylist()]
            lines += batch.lines.tolist()
            rejects += batch.rejects
            if batch.counts is not None:
                counts.merge(batch.counts)
            last = batch
    return {
        "rows": rows,
        "lines": lines,
        "rejects": rejects,
        "rows_read": last.rows_read,
        "aggregates": counts.rows(7),
    }


@pytest.mark.parametrize(
    ("seed", "exposed", "trailing_comma"),
    [(1, False, False), (2, True, False), (3, False, True), (4, True, True)],
)
def test_the_columnar_path_keeps_and_rejects_exactly_what_row_checks_do(
    tmp_path, seed, exposed, trailing_comma
):
    path = hostile_file(
        tmp_path / f"hostile-{seed}.csv", 6000, seed, exposed=exposed, trailing_comma=trailing_comma
    )
    accepted_by_columns = []
    accept = columnar.ColumnarChecks.accept

    def counting(self, texts):
        result = accept(self, texts)
        accepted_by_columns.append(0 if result is None else len(result))
        return result

    def counting_stretches(self, stretch):
        result = read_stretch(self, stretch)
        accepted_in_stretches.append(0 if result is None else len(result[1]))
        return result

    accepted_in_stretches = []
    read_stretch = columnar.ColumnarChecks.read_stretch
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar.ColumnarChecks, "accept", counting)
        patch.setattr(columnar.ColumnarChecks, "read_stretch", counting_stretches)
        fast = parsed(path, use_columns=True, batch_rows=1000)
    reference = parsed(path, use_columns=False, batch_rows=1000)

    assert sum(accepted_by_columns) > 100  # the columnar path did accept rows itself
    assert sum(accepted_in_stretches) == 0  # every stretch has a quote or a blank line
    assert fast == reference
    assert reference["rows_read"] == len(reference["rows"]) + len(reference["rejects"])
    assert len(reference["rows"]) > 100 and len(reference["rejects"]) > 1000


@pytest.mark.parametrize(
    ("seed", "endings", "trailing_comma"),
    [(5, ("\n",), False), (6, ("\r\n",), True), (7, ("\n", "\r\n"), False)],
)
def test_stretches_read_whole_keep_and_reject_exactly_what_row_checks_do(
    tmp_path, seed, endings, trailing_comma
):
    """Without quotes, NULs, blank lines or lone CRs a stretch goes to Arrow's reader whole: lines
    of the wrong width, shifted rows and every bad cell still get `RowChecks`' verdict."""
    path = hostile_file(
        tmp_path / f"plain-{seed}.csv",
        6000,
        seed,
        endings=endings,
        trailing_comma=trailing_comma,
        unquoted=True,
    )
    read_whole = []
    read_stretch = columnar.ColumnarChecks.read_stretch

    def counting(self, stretch):
        result = read_stretch(self, stretch)
        read_whole.append(None if result is None else len(result[1]))
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar.ColumnarChecks, "read_stretch", counting)
        fast = parsed(path, use_columns=True, batch_rows=1000)
    reference = parsed(path, use_columns=False, batch_rows=1000)

    assert None not in read_whole and sum(read_whole) > 1500  # every stretch was read whole
    assert fast == reference
    widths = {reason.split(",")[0] for _, reason, _ in reference["rejects"] if "header" in reason}
    assert len(widths) == 2  # lines one cell short, and one cell over
    assert len(reference["rejects"]) > 1000


@pytest.mark.parametrize(
    ("encoding", "header_end", "ending", "whole"),
    [
        ("utf-8-sig", "\r\n", "\n", True),
        ("utf-8", "\r", "\r\n", True),
        ("cp1252", "\n", "\n", True),
    ],
)
def test_stretches_after_any_header_in_any_accepted_encoding_match_row_checks(
    tmp_path, encoding, header_end, ending, whole
):
    """A UTF-8 file's stretches are its bytes read again after the header line (a BOM, CR LF or a
    lone CR ending it); a cp1252 file's are its text encoded: both give `RowChecks`' verdicts."""
    plain = hostile_file(tmp_path / "plain.csv", 3000, 12, endings=(ending,), unquoted=True)
    header, rest = plain.read_bytes().decode("utf-8").split(ending, 1)
    path = tmp_path / f"{encoding}.csv"
    path.write_bytes((header + header_end + rest).encode(encoding))
    assert inspect_file(path).encoding == encoding
    read_whole = []
    read_stretch = columnar.ColumnarChecks.read_stretch

    def counting(self, stretch):
        result = read_stretch(self, stretch)
        read_whole.append(result is not None)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columnar.ColumnarChecks, "read_stretch", counting)
        fast = parsed(path, use_columns=True, batch_rows=700)
    assert read_whole and all(read_whole) == whole
    assert fast == parsed(path, use_columns=False, batch_rows=700)
    assert fast["rows_read"] == 3000 and any("Juárez" in str(row) for row in fast["rows"])


def test_a_lone_carriage_return_sends_its_stretch_line_by_line(tmp_path):
    path = hostile_file(tmp_path / "mac.csv", 3000, 8, endings=("\n", "\r"), unquoted=True)
    fast = parsed(path, use_columns=True, batch_rows=500)
    assert fast == parsed(path, use_columns=False, batch_rows=500)
    assert fast["rows_read"] == 3000


def test_a_stretch_too_short_for_columns_and_one_file_in_one_batch_agree(tmp_path, monkeypatch):
    path = hostile_file(tmp_path / "hostile.csv", 3000, 9)
    whole = parsed(path, use_columns=True, batch_rows=100_000)
    in_batches = parsed(path, use_columns=True, batch_rows=200)
    monkeypatch.setattr(kept, "CACHE_LIMIT", 5)  # the kept date results start again, often
    monkeypatch.setattr(kept, "VALUE_SET_LIMIT", 3)  # and so do the other columns'
    assert parsed(path, use_columns=True, batch_rows=200) == in_batches
    monkeypatch.setattr(parsing, "COLUMNAR_MIN_LINES", 10**9)
    one_by_one = parsed(path, use_columns=True, batch_rows=100_000)
    assert whole == one_by_one


def test_date_results_kept_across_batches_are_the_lookup_of_each_cell(monkeypatch):
    monkeypatch.setattr(kept, "CACHE_LIMIT", 6)  # the kept results start again, mid-file
    lookup = RowChecks(read_header(HEADER.split(",")), 7).dates
    dates = kept.DateColumns(lookup)
    rng = random.Random(5)
    texts = CHOICES["recovery_date"] + CHOICES["purchase_date"] + date_shaped_texts(rng)
    for _ in range(120):
        columns = [
            pa.array([rng.choice(texts) for _ in range(rng.randrange(1, 30))], type=pa.string())
            for _ in range(rng.choice((1, 2)))
        ]
        for column, found in zip(columns, dates.rows_of(columns), strict=True):
            values = found.value_at(np.arange(len(column)))
            for index, text in enumerate(column.to_pylist()):
                expected = lookup[text]
                parsed_date = isinstance(expected, tuple)
                assert found.valid[index] == parsed_date, text
                assert found.blank[index] == (expected is BLANK), text
                assert values[index].is_valid == parsed_date, text
                if parsed_date:
                    value, year, ordinal = expected
                    assert (values[index].as_py(), found.year[index]) == (value, year), text
                    assert found.ordinal[index] == ordinal, text


def test_every_day_in_either_usual_shape_is_read_at_once_as_the_lookup_reads_it():
    """New date texts of exactly `YYYY-MM-DD` or `DD/MM/YYYY` are read in numpy, not by the
    lookup: every day of four years (a leap year among them, and 1900, which is not one), the
    first and last of each month of years 1 and 9999, and the day after each month's last."""
    lookup = RowChecks(read_header(HEADER.split(",")), 7).dates
    days = [dt.date(1899, 12, 1) + dt.timedelta(days=n) for n in range(4 * 366)]
    days += [dt.date(year, month, 1) for year in (1, 9999) for month in range(1, 13)]
    days += [dt.date(year, 12, 31) for year in (1, 9999)]
    texts = [day.isoformat() for day in days] + [day.strftime("%d/%m/%Y") for day in days]
    texts += [f"{year:04d}-{month:02d}-{last + 1:02d}" for year, month, last in _month_ends()]
    texts += [f"{last + 1:02d}/{month:02d}/{year:04d}" for year, month, last in _month_ends()]
    found = kept.DateColumns(lookup).rows(pa.array(texts, type=pa.string()))
    values = found.value_at(np.arange(len(texts))).to_pylist()
    for index, text in enumerate(texts):
        expected = lookup[text]
        if isinstance(expected, tuple):
            got = (values[index], int(found.year[index]), int(found.ordinal[index]))
            assert found.valid[index] and got == expected, text
        else:
            assert not found.valid[index] and values[index] is None, text


def _month_ends() -> list[tuple[int, int, int]]:
    """(year, month, its last day) of every month of 1900, 2000, 2023 and 2024."""
    ends = []
    for year in (1900, 2000, 2023, 2024):
        for month in range(1, 13):
            following = dt.date(year + month // 12, month % 12 + 1, 1)
            ends.append((year, month, (following - dt.timedelta(days=1)).day))
    return ends


def test_vocabulary_and_free_text_results_kept_across_batches_are_the_lookup_of_each_cell(
    monkeypatch,
):
    """The other columns' results are kept across batches too (and start again past
    VALUE_SET_LIMIT texts): each cell gets what `RowChecks`' lookups give its text."""
    monkeypatch.setattr(kept, "VALUE_SET_LIMIT", 4)
    checks = RowChecks(read_header(HEADER.split(",")), 7)
    fast = columnar.ColumnarChecks(checks)
    vocabularies = {
        "recovery_country": (fast.countries, checks.countries),
        "recovery_state": (fast.mx_states, checks.mx_states),
        "firearm_type": (fast.firearms, checks.firearms),
        "source_category": (fast.categories, checks.categories),
        "source_state": (fast.us_states, checks.us_states),
    }
    rng = random.Random(14)
    for _ in range(80):
        for name, (kept_codes, lookup) in vocabularies.items():
            cells = [rng.choice(CHOICES[name]) for _ in range(rng.randrange(1, 30))]
            coded = kept_codes.coded(pa.array(cells, type=pa.string()))
            rows = np.arange(len(cells))
            stored = coded.stored_at(rows).to_pylist()
            codes, keys = coded.keys_at(rows)
            for index, text in enumerate(cells):
                expected = lookup[text]
                value = expected if isinstance(expected, str) else None
                assert coded.known[coded.at[index]] == (expected is not None), text
                assert coded.blank[coded.at[index]] == (expected is BLANK), text
                assert stored[index] == value, text
                assert (keys[codes[index]] if codes[index] >= 0 else None) == value, text
        for name in columns.FREE_TEXT_COLUMNS:
            cells = [rng.choice(CHOICES[name]) for _ in range(rng.randrange(1, 30))]
            texts = fast.texts[name].coded(pa.array(cells, type=pa.string()))
            stored = texts.stored_at(np.arange(len(cells))).to_pylist()
            for index, text in enumerate(cells):
                expected = checks.texts[text]
                fits = (expected is None or len(expected) <= columns.MAX_LENGTHS[name]) and not (
                    checks.identifiers[name][text]
                )
                assert texts.fits[texts.at[index]] == fits, text
                assert texts.given[texts.at[index]] == (expected is not None), text
                assert stored[index] == expected, text


def date_shaped_texts(rng: random.Random) -> list[str]:
    """Texts of a date's 10 bytes, real days or not: every month and day edge, leap years and
    years 0, 1900, 2000 and 2100, both shapes, and near misses (another separator, a letter, a
    digit of another script)."""
    texts = []
    for year in (0, 1, 999, 1899, 1900, 2000, 2023, 2024, 2100, 9999):
        for month in (0, 1, 2, 4, 12, 13):
            for day in (0, 1, 28, 29, 30, 31, 32):
                texts += [f"{year:04d}-{month:02d}-{day:02d}", f"{day:02d}/{month:02d}/{year:04d}"]
    texts += ["2019/03/04", "04-03-2019", "201a-03-04", "2019-03-0\u0663", "2019-0３-04"]
    texts += [f"{rng.randrange(10**10):010d}" for _ in range(20)]
    return texts


def test_day_counts_read_at_once_are_the_lookup_of_each_cell():
    lookup = RowChecks(read_header(HEADER.split(",")), 7).integers
    day_counts = kept.DayCounts(lookup)
    texts = CHOICES["time_to_crime_days"] + [" ", "007", "123456789", "0000000000", "12 ", " 5"]
    texts += ["\u0663", "１２", "1\u00e9", "+0", "-0", "999999999", "1" * 40]
    rng = random.Random(6)
    for _ in range(60):
        cells = [rng.choice(texts) for _ in range(rng.randrange(1, 30))]
        readable, blank, days = day_counts.rows(pa.array(cells, type=pa.string()))
        for index, text in enumerate(cells):
            expected = lookup[text]
            assert readable[index] == (expected is not None), text
            assert blank[index] == (expected is BLANK), text
            assert days[index] == (expected if isinstance(expected, int) else 0), text


def test_the_whitespace_trimmed_from_trace_numbers_is_what_str_strip_strips():
    every_space = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
    assert every_space == columnar.PYTHON_WHITESPACE


def test_the_utf8_check_of_the_first_pass_agrees_with_pythons_decoder():
    rng = random.Random(13)
    cases = [
        b"",
        b"plain ascii",
        "Michoacán, México".encode(),
        "x\U0001f600".encode(),
        b"\xff",  # never in UTF-8
        b"Yucat\xe1n",  # cp1252
        b"\xed\xa0\x80",  # an encoded surrogate
        b"\xc0\xaf",  # an overlong form
        b"\xf4\x90\x80\x80",  # past U+10FFFF
        b"\xe2\x82",  # cut short
        b"a\x00b",
    ]
    cases += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))) for _ in range(5000)]
    for data in cases:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            decodes = False
        else:
            decodes = True
        assert is_utf8(data) == decodes, data


def test_the_parsers_arrow_buffers_come_from_jemalloc_not_glibcs_thread_arena(tmp_path):
    """Issue 13: in glibc's malloc (the system pool) the parser thread's Arrow buffers crept up
    its arena's heap, which gives no page back from the middle, and the loader's peak RSS grew
    with the file; the loader allocates them from jemalloc, which does."""
    try:
        jemalloc = pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow is built without jemalloc")
    system = pa.system_memory_pool()
    path = hostile_file(tmp_path / "plain.csv", 3000, 10, unquoted=True)
    inspection = inspect_file(path)
    jemalloc_before, system_before = jemalloc.bytes_allocated(), system.bytes_allocated()
    with open_text(path, inspection) as stream:
        feed, reader = record_reader(stream, inspection)
        header = read_header(header_row(feed, reader))
        batches = list(parse(ParseJob(feed, header, 7, 1000), Progress()))
    rows_bytes = sum(batch.rows.nbytes for batch in batches)

    assert rows_bytes > 100_000
    assert jemalloc.bytes_allocated() - jemalloc_before >= rows_bytes // 2  # the rows held
    assert system.bytes_allocated() == system_before
