"""Web fuzz campaign: seeded hostile requests over every page, callback and dataset.

Every answer must be below 500 and free of tracebacks, and nothing may log one; good requests
mixed in must still be answered 200 (a refusal of those counts as lost). The database holds the
embedded data, the sample trace file and rows at the edges of what its columns accept.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dash
from sqlalchemy import Engine, insert, select

from . import Outcome, Scale, root_logging_to

SEED = 20261129
REQUESTS: dict[Scale, int] = {"ci": 2000, "long": 10000}
# One request in this many is a known-good one, which must still be answered 200.
CONTROL_EVERY = 25
CALLBACK_PATH = "/_dash-update-component"
PAGE_PATH = {"id": "url", "property": "pathname"}
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
EXTREME_YEARS = (1, 1899, 9999)
EXTREME_FILE_CHECKSUM = "e" * 64

# Values no component sends, or sends only in other places.
HOSTILE: tuple[object, ...] = (
    None,
    "",
    " ",
    "²",
    "٣",
    "9" * 5000,
    "-5",
    "+7",
    "0",
    "0001",
    "1899",
    "9999",
    "10000",
    "Jalisco!!",
    "TX",
    "tx",
    "14",
    "ZZ",
    "share",
    "count",
    "gc_armas,bilateral_dialogue",
    ",,,",
    "\x00",
    "line\nbreak",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "a" * 300,
    "é" * 50,
    "🔥",
    10**12,
    -(10**12),
    -1,
    0,
    1,
    1899,
    2009.5,
    1e308,
    True,
    [],
    [0, 2000],
    [2020, 2000],
    [2000, 10**12],
    [None, None],
    ["gc_armas"],
    ["TX", "CA"],
    [1, 2, 3],
    [[["deep"]]],
    {"a": 1},
    {"points": [{"location": "TX"}]},
)
TRACKING_NAMES = ("utm_source", "utm_campaign", "fbclid", "gclid")
PARAM_NAMES = (
    "state",
    "kinds",
    "from",
    "to",
    "year",
    "measure",
    "release",
    "period",
    "us",
    "mx",
    "question",
    "bom",
    *TRACKING_NAMES,
    "colour",
    "__proto__",
    "x" * 200,
    "",
)


def add_extreme_rows(engine: Engine) -> None:
    """Rows at the edges of what the columns accept, written directly (the loader is bypassed):
    a trace file recovered in years 1, 1899 and 9999, events dated 0001-01-01 and 9999-12-31,
    and published figures of those years."""
    from db.models import EtlRun, Event, Fact, Source, Trace, TraceAggregate, TraceFile

    with engine.begin() as connection:
        run_id = connection.execute(select(EtlRun.id).limit(1)).scalar_one()
        source_id = connection.execute(select(Source.id).limit(1)).scalar_one()
        file_id = connection.execute(
            insert(TraceFile)
            .values(
                file_name="edge-dates.csv",
                checksum=EXTREME_FILE_CHECKSUM,
                loaded_at=dt.datetime(9999, 12, 31, tzinfo=dt.UTC),
                run_id=run_id,
                encoding="utf-8",
                synthetic=True,
            )
            .returning(TraceFile.id)
        ).scalar_one()
        dates = {1: dt.date(1, 1, 1), 1899: dt.date(1899, 6, 1), 9999: dt.date(9999, 12, 31)}
        for index, (year, day) in enumerate(dates.items()):
            connection.execute(
                insert(Trace).values(
                    trace_file_id=file_id,
                    trace_number=f"EDGE-{index}",
                    recovery_date=day,
                    recovery_year=year,
                    recovery_country="MX",
                    recovery_state="14",
                    firearm_type="pistol",
                    source_category="us_manufactured",
                    source_state="TX",
                    purchase_date=dt.date(1, 1, 1),
                    time_to_crime_days=(day - dt.date(1, 1, 1)).days,
                )
            )
            for dimension, key in (
                ("total", None),
                ("recovery_state", "14"),
                ("source_state", "TX"),
                ("firearm_type", "pistol"),
                ("source_category", "us_manufactured"),
                ("us_sourced_by_mx_state", "14"),
                ("time_to_crime_band", "10y+"),
            ):
                connection.execute(
                    insert(TraceAggregate).values(
                        trace_file_id=file_id, dimension=dimension, year=year, key=key, firearms=1
                    )
                )
            for dataset, geo_level, geo_code in (
                ("trace-totals", "country", "MX"),
                ("source-states", "us_state", "TX"),
            ):
                connection.execute(
                    insert(Fact).values(
                        dataset=dataset,
                        measure="traced_firearms",
                        period=str(year),
                        year_start=year,
                        year_end=year,
                        release="Edge release",
                        geo_level=geo_level,
                        geo_code=geo_code,
                        geo_name=geo_code,
                        value=1.0,
                        value_qualifier="exact",
                        unit="firearms",
                        status="VERIFIED",
                        source_id=source_id,
                        run_id=run_id,
                    )
                )
        for day in (dt.date(1, 1, 1), dt.date(9999, 12, 31)):
            connection.execute(
                insert(Event).values(
                    date_start=day,
                    date_end=day,
                    date_precision="day",
                    date_label=day.isoformat(),
                    kind="gc_armas",
                    title_en="Edge event",
                    title_es="Evento límite",
                    status="VERIFIED",
                    source_id=source_id,
                    run_id=run_id,
                )
            )


def build_database(directory: Path) -> str:
    """A database with the embedded data, the sample trace file and the edge rows."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from etl.pipeline import run_embedded
    from etl.traces import load_trace_file

    sample = Path(__file__).parents[1] / "fixtures" / "SYNTHETIC-etrace-style-sample.csv"
    url = f"sqlite:///{directory / 'ironriver.sqlite'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        run_embedded(engine)
        load_trace_file(engine, sample)
        add_extreme_rows(engine)
    finally:
        engine.dispose()
    return url


@dataclass
class LogCapture(logging.Handler):
    """Every record logged while a campaign runs, to find tracebacks in them."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(logging.DEBUG)

    def __hash__(self) -> int:
        return id(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()[:200]}"
            for r in self.records
            if r.exc_info or "Traceback" in r.getMessage()
        ]


def captured_logs() -> AbstractContextManager[LogCapture]:
    return root_logging_to(LogCapture())


def _outputs(output: str) -> list[dict[str, str]]:
    parts = output.strip(".").split("...") if output.startswith("..") else [output]
    return [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
        for part in parts
    ]


def callback_body(
    app: dash.Dash, output: str, values: list[object], page_path: str = "/"
) -> dict[str, Any]:
    """The body the browser would post for the server callback `output` with input `values`.

    A page callback also reads the page's path (its language) from `url.pathname`; when
    `values` leave it out, the body carries `page_path`.
    """
    spec = app.callback_map[output]
    declared = [*spec["inputs"], *spec["state"]]
    if len(values) == len(declared) - 1 and declared[-1] == PAGE_PATH:
        values = [*values, page_path]
    items = [
        {"id": item["id"], "property": item["property"], "value": value}
        for item, value in zip(declared, values, strict=True)
    ]
    outputs = _outputs(output)
    return {
        "output": output,
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": items[: len(spec["inputs"])],
        "state": items[len(spec["inputs"]) :],
        "changedPropIds": [f"{items[0]['id']}.{items[0]['property']}"] if items else [],
    }


class Fuzzer:
    """Draws hostile requests from one seeded generator and sends them through a test client."""

    def __init__(self, app: dash.Dash, seed: int) -> None:
        self.app = app
        self.client = app.server.test_client()
        self.rng = random.Random(seed)
        self.client.get("/")  # the first request sets up Dash Pages' router callback
        self.callbacks = sorted(k for k, v in app.callback_map.items() if "callback" in v)
        self.pages = sorted(page["path"] for page in dash.page_registry.values())
        catalogue = self.client.get("/api/v1/datasets.json").json
        self.datasets = sorted(d["name"] for d in catalogue["datasets"])
        self.good = self._good_values()

    def _good_values(self) -> dict[str, list[object]]:
        """Values the real components send, per input id, so hostile ones mix with real ones."""
        from dashboard.data import current

        map_page = sys.modules["pages.map"]
        with self.app.server.test_request_context("/"):
            series = map_page.catalogue(current())
        return {
            "map-us": [s.option for s in series.values() if s.country == "US"],
            "map-mx": [s.option for s in series.values() if s.country == "MX"],
            "map-measure": ["count", "share"],
            "map-year": [None, *EXTREME_YEARS, 2014, 2020],
            "trends-state": ["", "TX", "CA", "14", "09"],
            "trends-kinds": [[], ["gc_armas"], ["gc_armas", "data_release"]],
            "trends-window": [[1980, 2027], [2004, 2026], [2012, 2014]],
            "gc-kinds": [[], ["gc_armas"], ["gc_armas", "bilateral_dialogue"]],
            "_pages_location": ["/", "/trends", "?state=TX&from=2009", "?kinds=", "/es/trends"],
            "url": ["/", "/trends", "/es/", "/es/trends", "/es/gc-armas"],
        }

    def value_for(self, input_id: str) -> object:
        if self.rng.random() < 0.5 and input_id in self.good:
            return self.rng.choice(self.good[input_id])
        return self.rng.choice(HOSTILE)

    def query(self) -> str:
        pairs = []
        for _ in range(self.rng.randint(0, 5)):
            name = self.rng.choice(PARAM_NAMES)
            value = self.rng.choice(HOSTILE)
            text = value if isinstance(value, str) else json.dumps(value)
            pairs.append((name, text))
            if self.rng.random() < 0.15:
                pairs.append((name, self.rng.choice(["share", "count", "2009", "TX"])))
        return urlencode(pairs)

    def page_get(self) -> Any:
        return self.client.get(
            self.rng.choice([*self.pages, "/nope", "/api/v1/"]) + "?" + self.query()
        )

    def page_render(self) -> Any:
        """What the browser posts to render a page: Dash Pages' router with a hostile search."""
        pathname: object = self.rng.choice([*self.pages, "/nope"])
        search: object = "?" + self.query()
        if self.rng.random() < 0.1:
            pathname, search = self.rng.choice(HOSTILE), self.rng.choice(HOSTILE)
        return self.client.post(
            CALLBACK_PATH, json=callback_body(self.app, ROUTER_OUTPUT, [pathname, search])
        )

    def callback(self) -> Any:
        output = self.rng.choice(self.callbacks)
        spec = self.app.callback_map[output]
        values = [self.value_for(i["id"]) for i in [*spec["inputs"], *spec["state"]]]
        valid = callback_body(self.app, output, values)
        body = self._mutate(valid) if self.rng.random() < 0.3 else valid
        if isinstance(body, bytes):
            return self.client.post(CALLBACK_PATH, data=body, content_type="application/json")
        return self.client.post(CALLBACK_PATH, json=body)

    def _mutate(self, body: dict[str, Any]) -> object:
        """A body the renderer would never send: wrong shape, names or nesting."""
        choice = self.rng.randrange(9)
        if choice == 0:
            body = {**body, "output": self.rng.choice(["nope", "map-graph.figure", "", "..."])}
        elif choice == 1:
            body.pop(self.rng.choice(list(body)))
        elif choice == 2:
            body["inputs"] = self.rng.choice(HOSTILE)
        elif choice == 3 and body["inputs"]:
            body["inputs"][0]["id"] = self.rng.choice(["nope", {"type": "x"}, 7])
        elif choice == 4:
            body["outputs"] = self.rng.choice(HOSTILE)
        elif choice == 5:
            body["changedPropIds"] = self.rng.choice(HOSTILE)
        elif choice == 6:
            depth = self.rng.choice([30, 1000, 100_000])
            return ("[" * depth + "]" * depth).encode()
        elif choice == 7:
            return self.rng.choice([b"", b"{", b"null", b"\xff\xfe", b'{"output": 1e999}'])
        else:
            return self.rng.choice(HOSTILE)
        return body

    def api_get(self) -> Any:
        name = self.rng.choice([*self.datasets, "nope", "datasets"])
        fmt = self.rng.choice(["csv", "json", "csv", "json", "xml"])
        return self.client.get(f"/api/v1/{name}.{fmt}?{self.query()}")

    def other(self) -> Any:
        """Methods, bodies and paths outside the usual ones."""
        choice = self.rng.randrange(4)
        if choice == 0:
            return self.client.post(self.rng.choice(self.pages), data=b"x" * 1000)
        if choice == 1:
            return self.client.put(f"/api/v1/{self.rng.choice(self.datasets)}.csv")
        if choice == 2:
            return self.client.get(
                self.rng.choice(
                    ["/geo/xx.geojson", "/assets/../app.py", "/_dash-layout", "/_dash-dependencies"]
                )
            )
        return self.client.post(
            CALLBACK_PATH,
            data=b"{}",
            headers={"Content-Length": str(200 * 1024 * 1024)},
            content_type="application/json",
        )

    def control(self) -> tuple[str, Any]:
        """A request the app must answer 200, interleaved with the hostile ones."""
        choice = self.rng.randrange(3)
        if choice == 0:
            dataset = self.rng.choice(self.datasets)
            return dataset, self.client.get(f"/api/v1/{dataset}.csv")
        if choice == 1:
            path = self.rng.choice(self.pages)
            body = callback_body(self.app, ROUTER_OUTPUT, [path, "?utm_source=newsletter"])
            return path, self.client.post(CALLBACK_PATH, json=body)
        body = callback_body(
            self.app,
            next(k for k in self.callbacks if k.startswith("trends-view")),
            ["TX", ["gc_armas"], [2004, 2026], self.rng.choice(["/trends", "/es/trends"])],
        )
        return "trends callback", self.client.post(CALLBACK_PATH, json=body)

    def requests(self) -> list[Callable[[], Any]]:
        return [
            self.page_get,
            self.page_render,
            self.callback,
            self.callback,
            self.api_get,
            self.other,
        ]


def _read(response: Any) -> bytes:
    """The whole body, and the response closed: a streamed download holds its request context."""
    try:
        return bytes(response.data)
    finally:
        response.close()


def _traceback_in(body: bytes) -> bool:
    return b"Traceback (most recent call last)" in body or b'File "' in body


def run(scale: Scale) -> Outcome:
    """The campaign at `scale`: zero 5xx, zero tracebacks, every control request answered."""
    from dashboard.app import create_app
    from db.settings import Settings

    total = REQUESTS[scale]
    crashed, lost, examples = 0, 0, []
    with tempfile.TemporaryDirectory(prefix="ironriver-web-fuzz-") as directory:
        url = build_database(Path(directory))
        with captured_logs() as logs:
            app = create_app(Settings.from_env({"DATABASE_URL": url}))
            fuzzer = Fuzzer(app, SEED)
            kinds = fuzzer.requests()
            for index in range(total):
                if index % CONTROL_EVERY == 0:
                    what, response = fuzzer.control()
                    _read(response)
                    if response.status_code != 200:
                        lost += 1
                        examples.append(f"control {what}: {response.status_code}")
                    continue
                response = fuzzer.rng.choice(kinds)()
                if response.status_code >= 500 or _traceback_in(_read(response)):
                    crashed += 1
                    examples.append(f"{response.status_code}: {response.data[:160]!r}")
            app.server.extensions["ironriver"].engine.dispose()
        logged = logs.tracebacks()
    crashed += len(logged)
    detail = (
        f"seed {SEED}; " + "; ".join((examples + logged)[:5])
        if examples or logged
        else f"seed {SEED}"
    )
    return Outcome(
        campaign="web",
        tried=total,
        crashed=crashed,
        clean=total - crashed - lost,
        lost=lost,
        detail=detail,
    )
