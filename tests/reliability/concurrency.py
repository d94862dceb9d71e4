"""Issue 8 item 1: the single-process server answers 16 concurrent clients with zero errors.

Pages, the callbacks a browser posts to `/_dash-update-component` and API CSVs, chosen at random
by each client, against the real `ironriver serve` over a freshly built SQLite database.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from . import Outcome, Scale
from .serving import build_database, served

SECONDS: dict[Scale, float] = {"ci": 12.0, "long": 60.0}
CLIENTS = 16
UPDATE = "/_dash-update-component"
YEARS = range(1995, 2027)
# Kept small: the point is many threads in the database at once, not one huge page of variants.
VARIANTS_PER_INPUT = 5


@dataclass(frozen=True)
class Call:
    """One request a browser or a download script sends."""

    kind: str  # "page", "callback" or "api"
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass
class Tally:
    """What every client saw, merged under a lock."""

    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    by_kind_ms: dict[str, list[float]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, call: Call, status: str, milliseconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies_ms.append(milliseconds)
            self.by_kind_ms.setdefault(call.kind, []).append(milliseconds)
            if not status.startswith("2") and len(self.failures) < 20:
                self.failures.append(f"{call.method} {call.path}: {status}")


@dataclass(frozen=True)
class Report:
    """The campaign's outcome row, plus what the test asserts on its own."""

    outcome: Outcome
    server_alive: bool
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failures: tuple[str, ...]


def run(scale: Scale) -> Outcome:
    return campaign(scale).outcome


def campaign(scale: Scale, clients: int = CLIENTS) -> Report:
    with tempfile.TemporaryDirectory(prefix="ironriver-concurrency-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'ironriver.sqlite'}"
        build_database(database_url)
        with served(database_url, Path(folder) / "serve.log") as server:
            calls = discover_calls(server.url)
            tally = hammer(server.url, calls, clients=clients, seconds=SECONDS[scale])
            exit_code = server.process.poll()
            log = server.log()
        return summarise(tally, exit_code=exit_code, log=log, seconds=SECONDS[scale])


def hammer(
    base_url: str,
    calls: list[Call],
    *,
    clients: int,
    seconds: float,
    stop: Callable[[], bool] = lambda: False,
) -> Tally:
    """`clients` threads, each sending random calls back to back until `seconds` have passed
    (or `stop()` says so)."""
    tally = Tally()
    by_kind: dict[str, list[Call]] = {}
    for call in calls:
        by_kind.setdefault(call.kind, []).append(call)
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients)

    def client(seed: int) -> None:
        chooser = random.Random(seed)
        with requests.Session() as session:
            start.wait()
            while time.monotonic() < deadline and not stop():
                # Kinds first, so the many API filter variants do not crowd out pages and callbacks.
                call = chooser.choice(by_kind[chooser.choice(sorted(by_kind))])
                started = time.perf_counter()
                status = send(session, base_url, call)
                tally.add(call, status, (time.perf_counter() - started) * 1000)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return tally


def send(session: requests.Session, base_url: str, call: Call) -> str:
    """The HTTP status as text, or the name of the error when no answer came."""
    try:
        response = session.request(call.method, base_url + call.path, json=call.body, timeout=60)
        response.content  # noqa: B018 - the whole body must arrive, not just the headers
    except requests.RequestException as error:
        return type(error).__name__
    return str(response.status_code)


def summarise(tally: Tally, *, exit_code: int | None, log: str, seconds: float) -> Report:
    alive = exit_code is None
    tracebacks = log.count("Traceback")
    total = sum(tally.statuses.values())
    answered_ok = sum(n for status, n in tally.statuses.items() if status.startswith("2"))
    server_errors = sum(
        n for status, n in tally.statuses.items() if status.startswith("5") or not status.isdigit()
    )
    p50, p99 = percentile(tally.latencies_ms, 50), percentile(tally.latencies_ms, 99)
    rate = total / seconds
    detail = (
        f"{total:,} requests from {CLIENTS} clients in {seconds:.0f} s ({rate:.0f}/s), "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, statuses {dict(sorted(tally.statuses.items()))}, "
        f"server {'alive' if alive else f'DEAD (exit {exit_code})'}, {tracebacks} traceback(s) in its log"
    )
    outcome = Outcome(
        campaign="concurrency",
        tried=total,
        crashed=server_errors + tracebacks + (0 if alive else 1),
        clean=answered_ok,
        # A valid request answered 4xx, or not at all, is an answer that went missing.
        lost=total - answered_ok - server_errors,
        detail=detail,
    )
    return Report(outcome, alive, rate, p50, p99, (*tally.failures, *_last_error_lines(log)))


def percentile(values: list[float], rank: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * rank / 100))]


def _last_error_lines(log: str) -> list[str]:
    """The end of the first traceback (or crash report) in the server's log, to say what broke."""
    start = log.find("Traceback")
    if start < 0:
        start = log.find("Fatal Python error")
    if start < 0:
        return []
    return log[start:].splitlines()[-8:]


# ---------------------------------------------------------------------------- the calls


def discover_calls(base_url: str, seed: int = 8) -> list[Call]:
    """Pages, callbacks and downloads found the way a browser finds them: from the app itself."""
    chooser = random.Random(seed)
    with requests.Session() as session:
        shell = _json(session, base_url + "/_dash-layout")
        deps = _json(session, base_url + "/_dash-dependencies")
        catalogue = _json(session, base_url + "/api/v1/datasets.json")
        paths = sorted(_page_paths(shell) | {"/"})
        pages_dep = next(d for d in deps if "_pages_content.children" in d["output"])
        components = dict(_components(shell))
        calls = [Call("page", "GET", path) for path in paths]
        for path in paths:
            body = _pages_payload(pages_dep, path)
            calls.append(Call("callback", "POST", UPDATE, body))
            response = session.post(base_url + UPDATE, json=body, timeout=60)
            response.raise_for_status()
            components.update(_components(response.json().get("response", {})))
    for dep in deps:
        if dep is pages_dep or dep.get("clientside_function"):
            continue
        calls.extend(Call("callback", "POST", UPDATE, body) for body in _variants(dep, components))
    for dataset in catalogue["datasets"]:
        calls.append(Call("api", "GET", dataset["csv"]))
        if not {"from", "to"} <= set(dataset["filters"]):
            continue  # a filter the dataset does not apply is a 400 by design
        for _ in range(VARIANTS_PER_INPUT):
            low = chooser.choice(YEARS)
            high = chooser.choice([y for y in YEARS if y >= low])
            calls.append(Call("api", "GET", f"{dataset['csv']}?from={low}&to={high}"))
    return calls


def _json(session: requests.Session, url: str) -> Any:
    response = session.get(url, timeout=60)
    response.raise_for_status()
    return response.json()


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk(item)
    elif isinstance(node, dict):
        if "type" in node and isinstance(node.get("props"), dict):
            yield node
            for value in node["props"].values():
                yield from _walk(value)
        else:
            for value in node.values():
                yield from _walk(value)


def _components(layout: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for node in _walk(layout):
        if isinstance(node["props"].get("id"), str):
            yield node["props"]["id"], node["props"]


def _page_paths(shell: Any) -> set[str]:
    found = set()
    for node in _walk(shell):
        href = node["props"].get("href")
        if isinstance(href, str) and href.startswith("/") and not href.startswith("/api/"):
            found.add(href.split("?")[0])
    return found


def _outputs(output: str) -> list[dict[str, str]] | dict[str, str]:
    """Dash's output spec: `..a.b...c.d..` is several outputs, `a.b` one."""
    multi = output.startswith("..") and output.endswith("..")
    specs = []
    for part in output[2:-2].split("...") if multi else [output]:
        ident, _, prop = part.rpartition(".")
        specs.append({"id": ident, "property": prop.split("@")[0]})
    return specs if multi else specs[0]


def _payload(
    dep: dict[str, Any], values: dict[tuple[str, str], Any], changed: tuple[str, str]
) -> dict[str, Any]:
    def spec(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**item, "value": values.get((item["id"], item["property"]))} for item in items]

    return {
        "output": dep["output"],
        "outputs": _outputs(dep["output"]),
        "inputs": spec(dep.get("inputs", [])),
        "state": spec(dep.get("state", [])),
        "changedPropIds": [f"{changed[0]}.{changed[1]}"],
    }


def _pages_payload(dep: dict[str, Any], path: str) -> dict[str, Any]:
    values = {("_pages_location", "pathname"): path, ("_pages_location", "search"): ""}
    return _payload(dep, values, ("_pages_location", "pathname"))


def _variants(dep: dict[str, Any], components: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The layout's values, then each input moved through some of its options."""
    items = dep.get("inputs", []) + dep.get("state", [])
    if any(item["id"] not in components for item in items):
        return []
    values = {(i["id"], i["property"]): components[i["id"]].get(i["property"]) for i in items}
    inputs = [(i["id"], i["property"]) for i in dep.get("inputs", [])]
    bodies = [_payload(dep, values, inputs[0])]
    for key in inputs:
        for choice in _choices(components[key[0]], key[1])[:VARIANTS_PER_INPUT]:
            bodies.append(_payload(dep, {**values, key: choice}, key))
    return bodies


def _choices(props: dict[str, Any], prop: str) -> list[Any]:
    if prop != "value":
        return []
    options = props.get("options") or []
    choices = [o.get("value") if isinstance(o, dict) else o for o in options]
    if isinstance(props.get("value"), list):
        return [choices[:n] for n in range(1, len(choices) + 1)]
    if not choices and "min" in props and "max" in props:
        if isinstance(props.get("value"), list):  # a range slider
            return [[props["min"], props["max"]], [props["max"], props["max"]]]
        # A slider's years are its marks; a hidden one (no trace file loaded) has none to choose.
        return [int(mark) for mark in props.get("marks") or {}]
    return choices
