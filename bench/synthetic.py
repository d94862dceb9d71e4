"""Write deterministic synthetic eTrace-style CSV files, good rows and known bad rows, for tests and benchmarks.

    python -m bench.synthetic --rows 1000000 --seed 1 -o bench/data

Every value is invented. Source-state shares loosely follow the shares ATF publishes for
firearms recovered in Mexico (Texas ~41%, California ~19%, Arizona ~15%); nothing else is
meant to resemble the world. Each bad row carries exactly one defect, so a loader must reject
exactly `Generated.bad_rows` rows of a file loaded into an empty database.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
from bisect import bisect
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

HEADER: tuple[str, ...] = (
    "trace_number",
    "recovery_date",
    "recovery_country",
    "recovery_state",
    "recovery_city",
    "firearm_type",
    "manufacturer",
    "caliber",
    "serial_number",  # sensitive: fake, and a loader must drop it
    "country_of_manufacture",
    "source_category",
    "source_state",
    "purchase_date",
    "time_to_crime_days",
    "purchaser_name",  # sensitive: fake, and a loader must drop it
    "ffl_number",  # sensitive: fake, and a loader must drop it
)

# CVE_ENT, relative weight, spellings a real export might use (codes, INEGI names, short names, aliases).
MX_STATES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("01", 1, ("Aguascalientes", "AGUASCALIENTES")),
    ("02", 9, ("Baja California", "BAJA CALIFORNIA", "BC")),
    ("03", 1, ("Baja California Sur", "BCS")),
    ("04", 1, ("Campeche",)),
    ("05", 3, ("Coahuila de Zaragoza", "Coahuila", "COAHUILA")),
    ("06", 2, ("Colima",)),
    ("07", 2, ("Chiapas", "CHIAPAS")),
    ("08", 7, ("Chihuahua", "CHIHUAHUA")),
    ("09", 5, ("Ciudad de México", "CIUDAD DE MEXICO", "CDMX", "Distrito Federal")),
    ("10", 2, ("Durango",)),
    ("11", 5, ("Guanajuato", "GUANAJUATO")),
    ("12", 6, ("Guerrero", "GUERRERO")),
    ("13", 1, ("Hidalgo",)),
    ("14", 6, ("Jalisco", "JALISCO")),
    ("15", 4, ("México", "Estado de México", "Edo. de México", "ESTADO DE MEXICO")),
    ("16", 6, ("Michoacán de Ocampo", "Michoacán", "MICHOACAN DE OCAMPO", "michoacan")),
    ("17", 2, ("Morelos",)),
    ("18", 1, ("Nayarit",)),
    ("19", 4, ("Nuevo León", "NUEVO LEON", "Nuevo Leon")),
    ("20", 1, ("Oaxaca",)),
    ("21", 2, ("Puebla",)),
    ("22", 1, ("Querétaro", "Queretaro", "Querétaro de Arteaga")),
    ("23", 1, ("Quintana Roo",)),
    ("24", 1, ("San Luis Potosí", "SAN LUIS POTOSI")),
    ("25", 6, ("Sinaloa", "SINALOA")),
    ("26", 8, ("Sonora", "SONORA")),
    ("27", 1, ("Tabasco",)),
    ("28", 10, ("Tamaulipas", "TAMAULIPAS")),
    ("29", 1, ("Tlaxcala",)),
    ("30", 2, ("Veracruz de Ignacio de la Llave", "Veracruz", "VERACRUZ")),
    ("31", 1, ("Yucatán", "Yucatan")),
    ("32", 2, ("Zacatecas", "ZACATECAS")),
)
CITIES: dict[str, tuple[str, ...]] = {
    "02": ("Tijuana", "Mexicali", "Ensenada"),
    "08": ("Ciudad Juárez", "Chihuahua"),
    "12": ("Acapulco", "Chilpancingo"),
    "14": ("Guadalajara", "Zapopan"),
    "16": ("Morelia", "Uruapan", "Apatzingán"),
    "19": ("Monterrey",),
    "25": ("Culiacán", "Mazatlán"),
    "26": ("Nogales", "Hermosillo", "San Luis Río Colorado"),
    "28": ("Reynosa", "Matamoros", "Nuevo Laredo"),
}

# USPS code, share in percent (TX, CA and AZ after ATF's published shares; the rest spread out).
US_SOURCE_STATES: tuple[tuple[str, float], ...] = (
    ("TX", 41),
    ("CA", 19),
    ("AZ", 15),
    ("NM", 3),
    ("FL", 2.5),
    ("IL", 2),
    ("NV", 2),
    ("GA", 1.5),
    ("WA", 1.2),
    ("CO", 1.2),
    ("OK", 1),
    ("NC", 1),
    ("OH", 0.8),
    ("PA", 0.8),
    ("UT", 0.8),
    ("OR", 0.7),
    ("MI", 0.6),
    ("TN", 0.6),
    ("VA", 0.6),
    ("LA", 0.5),
    ("MO", 0.5),
    ("KS", 0.4),
    ("AL", 0.4),
    ("IN", 0.4),
    ("NY", 0.3),
    ("AR", 0.3),
    ("ID", 0.3),
    ("SC", 0.2),
)
US_STATE_NAMES = {"TX": "Texas", "CA": "California", "AZ": "Arizona", "NM": "New Mexico"}

FIREARM_TYPES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("pistol", 44, ("pistol", "PISTOL", "Pistol", "pistola", "PISTOLA")),
    ("rifle", 36, ("rifle", "RIFLE", "Rifle")),
    ("revolver", 7, ("revolver", "REVOLVER", "revólver", "Revólver")),
    ("shotgun", 7, ("shotgun", "SHOTGUN", "escopeta", "Escopeta")),
    ("machine_gun", 1, ("machine_gun", "ametralladora")),
    ("derringer", 1, ("derringer",)),
    ("other", 2, ("other",)),
    ("unknown", 2, ("unknown", "UNKNOWN")),
)
CATEGORIES: tuple[tuple[str, int], ...] = (
    ("us_manufactured", 55),
    ("us_imported", 13),
    ("non_us", 12),
    ("undetermined", 20),
)
MANUFACTURERS = (
    "Synthetic Arms Co",
    "Example Works",
    "Sample Imports",
    "Demo Firearms",
    "Placeholder Mfg",
)
CALIBERS = (
    "9mm",
    ".223",
    "7.62x39",
    ".38 Super",
    ".45",
    ".380",
    "5.56",
    ".50 BMG",
    "12 gauge",
    ".22 LR",
)
MADE_IN = ("US", "US", "US", "US", "RO", "AT", "BR", "CZ", "TR", "DE", "Italy")
FIRST_NAMES = ("Alex", "Sam", "Jordan", "Casey", "Robin", "Avery", "Quinn", "Rowan")
LAST_NAMES = ("Placeholder", "Example", "Specimen", "Fictional", "Testcase", "Mockingbird")
RECOVERY_YEARS: tuple[tuple[int, int], ...] = tuple(
    (year, year - 2005) for year in range(2010, 2024)
)

BAD_KINDS: tuple[str, ...] = (
    "bad_date",
    "unknown_state",
    "unknown_type",
    "negative_ttc",
    "future_date",
    "source_state_for_non_us",
    "unknown_source_state",
    "unknown_category",
    "purchase_after_recovery",
    "duplicate_trace_number",
    "misaligned_row",
)
BLOCK = 5_000


@dataclass
class Generated:
    """What `generate` wrote: the file, its data rows and how many rows of each bad kind."""

    path: Path
    rows: int
    bad_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def bad_rows(self) -> int:
        return sum(self.bad_by_kind.values())


def file_name(rows: int, seed: int) -> str:
    """The name a generated file gets; the loader marks files named SYNTHETIC-* as synthetic."""
    return f"SYNTHETIC-etrace-{rows}-{seed}.csv"


def _picker(rng: random.Random, weights: list[float]) -> Callable[[], int]:
    cumulative = list(accumulate(weights))
    total = cumulative[-1]
    random_ = rng.random

    def pick() -> int:
        return bisect(cumulative, random_() * total)

    return pick


def generate(
    path: str | Path,
    rows: int,
    *,
    seed: int = 1,
    bad_rate: float = 0.02,
    encoding: str = "utf-8",
    crlf: bool = False,
) -> Generated:
    """Write `rows` data rows to `path`, streaming; the same arguments always give the same bytes."""
    if encoding.lower().replace("_", "-") not in (
        "utf-8",
        "utf-8-sig",
        "cp1252",
        "windows-1252",
        "latin-1",
    ):
        raise ValueError(f"encoding must be utf-8, utf-8-sig or cp1252, not {encoding!r}")
    path = Path(path)
    rng = random.Random(seed)
    random_ = rng.random
    result = Generated(path=path, rows=rows)

    pick_state = _picker(rng, [w for _, w, _ in MX_STATES])
    pick_us = _picker(rng, [w for _, w in US_SOURCE_STATES])
    pick_type = _picker(rng, [w for _, w, _ in FIREARM_TYPES])
    pick_category = _picker(rng, [w for _, w in CATEGORIES])
    pick_year = _picker(rng, [w for _, w in RECOVERY_YEARS])

    state_spellings = [(code, str(int(code)), *names) for code, _, names in MX_STATES]
    state_cities = [CITIES.get(code, ("",)) for code, _, _ in MX_STATES]
    type_spellings = [names for _, _, names in FIREARM_TYPES]
    us_codes = [code for code, _ in US_SOURCE_STATES]
    categories = [name for name, _ in CATEGORIES]
    years = [year for year, _ in RECOVERY_YEARS]
    first_day = dt.date(1985, 1, 1).toordinal()
    iso: dict[int, str] = {}
    dmy: dict[int, str] = {}

    def date_text(ordinal: int, mexican: bool) -> str:
        cache = dmy if mexican else iso
        text = cache.get(ordinal)
        if text is None:
            day = dt.date.fromordinal(ordinal)
            text = day.strftime("%d/%m/%Y") if mexican else day.isoformat()
            cache[ordinal] = text
        return text

    def one(n: int) -> list[str]:
        s = pick_state()
        spellings = state_spellings[s]
        cities = state_cities[s]
        year = years[pick_year()]
        recovered = dt.date(year, 1, 1).toordinal() + int(random_() * 365)
        category = categories[pick_category()]
        source_state = ""
        purchase = ""
        ttc = ""
        if category in ("us_manufactured", "us_imported"):
            if random_() < 0.92:
                code = us_codes[pick_us()]
                roll = random_()
                if roll < 0.05:
                    source_state = code.lower()
                elif roll < 0.08 and code in US_STATE_NAMES:
                    source_state = US_STATE_NAMES[code]
                else:
                    source_state = code
            if random_() < 0.75:
                days = min(int(rng.expovariate(1 / 2500)), recovered - first_day)
                purchase = date_text(recovered - days, False)
                if random_() < 0.6:
                    ttc = str(days)
        spelled = type_spellings[pick_type()]
        return [
            f"SYN-{seed}-{n:09d}",
            date_text(recovered, random_() < 0.15),
            "MX" if random_() < 0.9 else "",
            spellings[int(random_() * len(spellings))],
            cities[int(random_() * len(cities))],
            spelled[int(random_() * len(spelled))],
            MANUFACTURERS[int(random_() * len(MANUFACTURERS))],
            CALIBERS[int(random_() * len(CALIBERS))],
            f"SN{rng.getrandbits(40):010X}",
            MADE_IN[int(random_() * len(MADE_IN))],
            category.upper() if random_() < 0.03 else category,
            source_state,
            purchase,
            ttc,
            f"{FIRST_NAMES[int(random_() * 8)]} {LAST_NAMES[int(random_() * 6)]}",
            f"9-99-{int(random_() * 1000):03d}-01-FAKE",
        ]

    def spoil(row: list[str], kind: str, last_good: str) -> list[str]:
        # One defect per row, set so that no earlier rule of the loader catches it first.
        if kind == "bad_date":
            row[1] = ("2019-02-30", "31/02/2018", "2019-13-01", "yesterday")[int(random_() * 4)]
        elif kind == "unknown_state":
            row[3] = ("Atlantis", "Gondor", "99", "Texas")[int(random_() * 4)]
        elif kind == "unknown_type":
            row[5] = ("laser", "crossbow", "cañón")[int(random_() * 3)]
        elif kind == "negative_ttc":
            row[12] = ""
            row[13] = str(-1 - int(random_() * 500))
        elif kind == "future_date":
            row[1] = "2099-01-01"
        elif kind == "source_state_for_non_us":
            row[10] = "non_us"
            row[11] = "TX"
        elif kind == "unknown_source_state":
            row[10] = "us_manufactured"
            row[11] = "ZZ"
        elif kind == "unknown_category":
            row[10] = "domestic"
        elif kind == "purchase_after_recovery":
            row[1] = "2015-06-01"
            row[12] = "2016-01-01"
            row[13] = ""
            row[10] = "us_manufactured"
        elif kind == "duplicate_trace_number":
            row[0] = last_good
        elif kind == "misaligned_row":
            del row[4]  # an unquoted comma gone missing: every later cell shifts left
        return row

    kinds = len(BAD_KINDS)
    last_good = ""
    with path.open("w", encoding=encoding, newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n" if crlf else "\n")
        writer.writerow(HEADER)
        block: list[list[str]] = []
        for n in range(1, rows + 1):
            row = one(n)
            if random_() < bad_rate and last_good:
                kind = BAD_KINDS[int(random_() * kinds)]
                result.bad_by_kind[kind] += 1
                row = spoil(row, kind, last_good)
            else:
                last_good = row[0]
            block.append(row)
            if len(block) >= BLOCK:
                writer.writerows(block)
                block.clear()
        writer.writerows(block)
    return result


def ensure(directory: str | Path, rows: int, *, seed: int = 1) -> Generated:
    """The file `generate` writes for (rows, seed) in `directory`, written only if not there yet.

    A file is written under a temporary name and renamed when complete, with a JSON sidecar of
    its bad-row counts, so an interrupted run never leaves a partial file to be reused.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / file_name(rows, seed)
    sidecar = target.with_name(target.name + ".json")
    if target.exists() and sidecar.exists():
        counts = json.loads(sidecar.read_text(encoding="utf-8"))
        if counts.get("rows") == rows and counts.get("seed") == seed:
            return Generated(path=target, rows=rows, bad_by_kind=Counter(counts["bad_by_kind"]))
    partial = target.with_name(target.name + ".partial")
    result = generate(partial, rows, seed=seed)
    partial.replace(target)
    sidecar.write_text(
        json.dumps({"rows": rows, "seed": seed, "bad_by_kind": dict(result.bad_by_kind)}),
        encoding="utf-8",
    )
    return Generated(path=target, rows=rows, bad_by_kind=result.bad_by_kind)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.synthetic", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--rows", type=int, default=10_000, help="data rows to write (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--bad-rate", type=float, default=0.02, help="share of bad rows (default 0.02)"
    )
    parser.add_argument("--encoding", choices=["utf-8", "utf-8-sig", "cp1252"], default="utf-8")
    parser.add_argument("--crlf", action="store_true", help="end lines with CRLF instead of LF")
    parser.add_argument(
        "-o", "--output-dir", type=Path, default=Path("."), help="directory (default .)"
    )
    args = parser.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    target = args.output_dir / file_name(args.rows, args.seed)
    result = generate(
        target,
        args.rows,
        seed=args.seed,
        bad_rate=args.bad_rate,
        encoding=args.encoding,
        crlf=args.crlf,
    )
    kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(result.bad_by_kind.items()))
    print(f"{target}: {result.rows} rows, {result.bad_rows} bad ({kinds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
