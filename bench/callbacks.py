"""Server-side time of every dashboard callback, found from `/_dash-dependencies` and the pages.

    DATABASE_URL=sqlite:///bench.sqlite python -m bench.callbacks --out callbacks.json

Runs the app in this process and posts to `/_dash-update-component` through Flask's test
client, so the times are the server's own (no network, no browser). `--after-load` also times
each page container's and one download's first answer right after a new trace file's load
commits (it loads small synthetic files into the database: a bench copy only). Callbacks are discovered,
not listed: every page path linked from the shell layout is rendered through Dash Pages' own
callback, each callback's inputs and states are looked up in those layouts, and inputs with
options (dropdowns, radio items, checklists, sliders) are also tried at other values. A
callback that cannot be called that way is reported with the reason, never dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.load import ironriver_command
from bench.measure import median, percentile
from bench.synthetic import ensure

UPDATE = "/_dash-update-component"
# What a first visit waits for after a load: each page's container, and a download.
AFTER_LOAD_OUTPUTS = ("_pages_content", "map-view", "trends-view", "gc-view")
AFTER_LOAD_API = "/api/v1/traces-by-source-state.csv"
# Rows of each file loaded to make a new data version (seeds far from the served file's).
AFTER_LOAD_ROWS = 1000
AFTER_LOAD_SEED = 10**9
_SKIP_PREFIXES = ("/api/", "/assets/", "/_dash", "/geo/", "/chart/", "/embed/")


@dataclass
class Component:
    type: str
    props: dict[str, Any]
    page: str


@dataclass
class Variant:
    label: str
    values: dict[tuple[str, str], Any]  # (component id, property) -> value
    changed: list[tuple[str, str]]


@dataclass
class Result:
    output: str
    kind: str = "server"
    exercised: bool = True
    reason: str | None = None
    variants: list[dict[str, Any]] = field(default_factory=list)
    cold_ms: list[float] = field(default_factory=list)
    # CPU time of this process (all its threads): what other processes on a busy machine do
    # not inflate as much as wall time.
    cold_cpu_ms: list[float] = field(default_factory=list)
    warm_ms: list[float] = field(default_factory=list)


def walk(node: Any, page: str) -> Iterator[tuple[str, Component]]:
    """Every component with a string id in a layout given as Dash's JSON."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item, page)
    elif isinstance(node, dict):
        if "props" in node and "type" in node:
            props = node.get("props") or {}
            if isinstance(props.get("id"), str):
                yield props["id"], Component(node["type"], props, page)
            for value in props.values():
                yield from walk(value, page)
        else:
            for value in node.values():
                yield from walk(value, page)


def hrefs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= hrefs(item)
    elif isinstance(node, dict):
        props = node.get("props") if "type" in node else None
        if isinstance(props, dict):
            href = props.get("href")
            if (
                isinstance(href, str)
                and href.startswith("/")
                and not href.startswith(_SKIP_PREFIXES)
            ):
                found.add(href.split("?")[0].split("#")[0] or "/")
        for value in node.values():
            found |= hrefs(value)
    return found


def split_output(output: str) -> tuple[list[tuple[str, str]], bool]:
    """`..a.b...c.d..` -> [(a, b), (c, d)], multi; `a.b` -> [(a, b)], single."""
    multi = output.startswith("..") and output.endswith("..")
    parts = output[2:-2].split("...") if multi else [output]
    pairs = []
    for part in parts:
        ident, _, prop = part.rpartition(".")
        pairs.append((ident, prop.split("@")[0]))
    return pairs, multi


def option_values(props: dict[str, Any]) -> list[Any]:
    options = props.get("options")
    if isinstance(options, dict):
        return list(options)
    values = []
    for option in options or []:
        if isinstance(option, dict):
            if not option.get("disabled"):
                values.append(option.get("value"))
        else:
            values.append(option)
    return values


def alternatives(component: Component, prop: str, paths: list[str]) -> list[Any]:
    """Other values a user could give this input, besides the one in the layout."""
    props = component.props
    if component.type == "Location" and prop == "pathname":
        return paths
    if prop != "value":
        return []
    current = props.get("value")
    choices = option_values(props)
    if choices:
        if isinstance(current, list):
            return [[], choices[:1], choices]
        return [c for c in choices if c != current]
    if "min" in props and "max" in props:
        low, high = props["min"], props["max"]
        if isinstance(current, list):
            return [[low, high], [high, high]]
        return [v for v in (low, high) if v != current]
    return []


def spread(values: list[Any], most: int = 6) -> list[Any]:
    """Up to `most` of `values`, last and first first, then evenly between."""
    if len(values) <= 2:
        return values[::-1]
    step = (len(values) - 1) / (most - 1)
    picked = sorted(
        {round(i * step) for i in range(most)} if len(values) > most else range(len(values))
    )
    ordered = [picked[-1], picked[0], *picked[1:-1]]
    return [values[i] for i in ordered]


def build_payload(dep: dict[str, Any], variant: Variant) -> dict[str, Any]:
    outputs, multi = split_output(dep["output"])
    out_spec = [{"id": ident, "property": prop} for ident, prop in outputs]

    def spec(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": item["id"],
                "property": item["property"],
                "value": variant.values.get((item["id"], item["property"])),
            }
            for item in items
        ]

    return {
        "output": dep["output"],
        "outputs": out_spec if multi else out_spec[0],
        "inputs": spec(dep.get("inputs", [])),
        "state": spec(dep.get("state", [])),
        "changedPropIds": [f"{ident}.{prop}" for ident, prop in variant.changed],
    }


class Bench:
    """The app under test, its callback map and the components of every page."""

    def __init__(
        self,
        repeat: int,
        max_variants: int,
        random: int = 0,
        seed: int = 1,
        forget_everything: bool = False,
        warm_new_versions: bool = False,
    ) -> None:
        from dashboard.app import create_app
        from db.settings import Settings

        self.repeat = repeat
        self.max_variants = max_variants
        self.random = random
        self.seed = seed
        self.forget_everything = forget_everything
        # As served (`ironriver serve`, gunicorn): new data versions warmed in a thread.
        self.app = (
            create_app(Settings.from_env(), warm_new_versions=True)
            if warm_new_versions
            else create_app(Settings.from_env())
        )
        self.client = self.app.server.test_client()
        self.clear_cache = self._cache_clearer()
        self.deps: list[dict[str, Any]] = self._get_json("/_dash-dependencies")
        shell = self._get_json("/_dash-layout")
        self.components: dict[str, Component] = dict(walk(shell, "(shell)"))
        self.paths = sorted(hrefs(shell) | {"/"})
        self.page_errors: dict[str, str] = {}
        self.last_cpu_ms = 0.0

    def _cache_clearer(self) -> Any:
        try:
            from dashboard.data import EXTENSION

            data = self.app.server.extensions[EXTENSION]
            # `forget_views` forgets every view, response and selection's rows but keeps what
            # all views of the data version share (computed once per version); older apps have
            # `clear` (everything kept in the process) or only the cache.
            if self.forget_everything:
                return getattr(data, "clear", data.cache.clear)
            return getattr(data, "forget_views", getattr(data, "clear", data.cache.clear))
        except (ImportError, KeyError, AttributeError):
            return None

    def _get_json(self, path: str) -> Any:
        response = self.client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        return response.get_json()

    def post(self, payload: dict[str, Any]) -> tuple[int, int, float]:
        started, cpu = time.perf_counter(), time.process_time()
        response = self.client.post(UPDATE, json=payload)
        body = response.get_data()
        self.last_cpu_ms = (time.process_time() - cpu) * 1000
        return response.status_code, len(body), (time.perf_counter() - started) * 1000

    def pages_dep(self) -> dict[str, Any] | None:
        for dep in self.deps:
            outputs, _ = split_output(dep["output"])
            if any(prop == "children" and ident == "_pages_content" for ident, prop in outputs):
                return dep
        return None

    def render_pages(self) -> None:
        """Each page's layout, as Dash Pages' own callback renders it, adds its components; the
        links a page draws itself (the site's navigation is drawn by each page) add pages."""
        dep = self.pages_dep()
        if dep is None:
            return
        queue = list(self.paths)
        seen = set(queue)
        while queue:
            path = queue.pop(0)
            values: dict[tuple[str, str], str | None] = {
                (d["id"], d["property"]): None for d in dep["inputs"] + dep.get("state", [])
            }
            location = next(
                (d["id"] for d in dep["inputs"] if d["property"] == "pathname"), "_pages_location"
            )
            values[(location, "pathname")] = path
            values[(location, "search")] = ""
            payload = build_payload(dep, Variant(path, values, [(location, "pathname")]))
            response = self.client.post(UPDATE, json=payload)
            if response.status_code != 200:
                self.page_errors[path] = f"HTTP {response.status_code}"
                continue
            content = response.get_json().get("response", {})
            for ident, component in walk(content, path):
                self.components.setdefault(ident, component)
            for found in sorted(hrefs(content) - seen):
                seen.add(found)
                queue.append(found)
        self.paths = sorted(seen)

    def variants(self, dep: dict[str, Any]) -> tuple[list[Variant], str | None]:
        items = dep.get("inputs", []) + dep.get("state", [])
        defaults: dict[tuple[str, str], Any] = {}
        missing = []
        for item in items:
            ident = item["id"]
            if not isinstance(ident, str) or ident.startswith("{"):
                return [], f"pattern-matching id {ident!r} is not supported by this harness"
            component = self.components.get(ident)
            if component is None:
                missing.append(ident)
                continue
            value = component.props.get(item["property"])
            if component.type == "Location" and value is None:
                # A Location's URL parts are set by the browser, never in the layout.
                value = {"pathname": "/", "search": "", "hash": ""}.get(item["property"])
            defaults[(ident, item["property"])] = value
        if missing:
            return [], f"no page layout has component(s) {', '.join(sorted(set(missing)))}"
        inputs = [(i["id"], i["property"]) for i in dep.get("inputs", [])]
        changed = [key for key in inputs if defaults.get(key) is not None] or inputs[:1]
        found = [Variant("layout values", defaults, changed)]
        # Other values, taken in turn from each input and spread over each input's choices, so
        # a cap on variants still reaches every input and both ends of its options.
        queues = [
            [
                (key, value)
                for value in spread(alternatives(self.components[key[0]], key[1], self.paths))
            ]
            for key in inputs
        ]
        while len(found) < self.max_variants and any(queues):
            for queue in queues:
                if queue and len(found) < self.max_variants:
                    key, value = queue.pop(0)
                    values = dict(defaults)
                    values[key] = value
                    label = f"{key[0]}.{key[1]}={json.dumps(value, default=str)[:60]}"
                    found.append(Variant(label, values, [key]))
        found += self.random_variants(dep["output"], defaults, inputs)
        return found, None

    def random_variants(
        self,
        output: str,
        defaults: dict[tuple[str, str], Any],
        inputs: list[tuple[str, str]],
    ) -> list[Variant]:
        """Every input at once at a random value a user (or a bot) could send: any option, any
        subset of a checklist, any year in and around a slider's range (seeded, repeatable)."""
        rng = random.Random(f"{self.seed}:{output}")
        pools = {key: self.random_pool(self.components[key[0]], key[1]) for key in inputs}
        pools = {key: pool for key, pool in pools.items() if pool}
        if not pools:
            return []
        found = []
        for number in range(self.random):
            values = dict(defaults)
            for key, pool in pools.items():
                values[key] = pool(rng)
            label = "random: " + ", ".join(
                f"{k[0]}={json.dumps(values[k], default=str)[:40]}" for k in pools
            )
            found.append(Variant(f"{label} #{number + 1}", values, list(pools)))
        return found

    def random_pool(self, component: Component, prop: str) -> Any:
        props = component.props
        if component.type == "Location" and prop == "pathname":
            return lambda rng: rng.choice(self.paths)
        if prop != "value":
            return None
        current = props.get("value")
        choices = option_values(props)
        if choices and isinstance(current, list):
            return lambda rng: rng.sample(choices, rng.randint(0, len(choices)))
        if choices:
            return lambda rng: rng.choice(choices)
        if "min" in props and "max" in props:
            low, high = int(props["min"]), int(props["max"])
            if high < 1:
                # A placeholder range that a callback sets once the data is known (the map's
                # year): any recent year, as a bot would send.
                low, high = 1990, time.gmtime().tm_year + 1

            def year(rng: random.Random) -> int:
                # One in ten outside the slider (a hand-made URL or a bot): normalised or
                # refused cheaply, never a new cache entry. Years below 1 are not years at all.
                if rng.random() < 0.1:
                    return max(1, rng.choice((low - rng.randint(1, 3), high + rng.randint(1, 3))))
                return rng.randint(low, high)

            if isinstance(current, list):
                return lambda rng: sorted(year(rng) for _ in range(2))
            return year
        return None

    def measure(self, dep: dict[str, Any]) -> Result:
        result = Result(output=dep["output"])
        if dep.get("clientside_function"):
            result.kind = "clientside"
            result.exercised = False
            result.reason = "clientside callback: runs in the browser, no server time"
            return result
        variants, reason = self.variants(dep)
        if reason:
            result.exercised = False
            result.reason = reason
            return result
        for variant in variants:
            payload = build_payload(dep, variant)
            statuses: set[int] = set()
            sizes: set[int] = set()
            cold: list[float] = []
            cold_cpu: list[float] = []
            warm: list[float] = []
            for _ in range(self.repeat):
                if self.clear_cache is not None:
                    self.clear_cache()
                status, size, ms = self.post(payload)
                statuses.add(status)
                sizes.add(size)
                cold.append(ms)
                cold_cpu.append(self.last_cpu_ms)
            self.post(payload)
            for _ in range(self.repeat):
                status, size, ms = self.post(payload)
                statuses.add(status)
                warm.append(ms)
            ok = statuses <= {200, 204}
            # A hand-made value the app refuses (400: a year that is no year) is an answer,
            # not a failure; it is not timed with the views.
            refused = statuses == {400}
            result.variants.append(
                {
                    "label": variant.label,
                    "statuses": sorted(statuses),
                    "ok": ok,
                    "refused": refused,
                    "response_bytes": max(sizes),
                    "cold_p50_ms": round(percentile(cold, 50), 2),
                    "warm_p50_ms": round(percentile(warm, 50), 2),
                    "cold_max_ms": round(max(cold), 2),
                }
            )
            if ok:
                result.cold_ms.extend(cold)
                result.cold_cpu_ms.extend(cold_cpu)
                result.warm_ms.extend(warm)
        if not result.cold_ms:
            result.exercised = False
            statuses_seen = sorted({s for v in result.variants for s in v["statuses"]})
            result.reason = f"every call failed (HTTP {statuses_seen})"
        return result


def measure_after_load(bench: Bench, rounds: int, first_seed: int) -> dict[str, Any]:
    """Each page container's (its layout values) and one download's first answer right after
    a new load commits, and the same request again; each target after a load of its own.

    With `bench` built to warm new versions (as served), the request is sent once the process
    serves the new version, and how long after the load that was is recorded; without, once
    the version memo has lapsed, so the request itself reads the new version (as before).
    """
    from dashboard.data import EXTENSION, VERSION_TTL_SECONDS
    from db import queries

    data = bench.app.server.extensions[EXTENSION]
    warmed = data._warm is not None
    requests: dict[str, Any] = {}
    for dep in bench.deps:
        outputs, _ = split_output(dep["output"])
        if dep.get("clientside_function") or outputs[0][0] not in AFTER_LOAD_OUTPUTS:
            continue
        variants, reason = bench.variants(dep)
        if not reason:
            payload = build_payload(dep, variants[0])
            requests[dep["output"]] = lambda payload=payload: bench.post(payload)[0]

    def download() -> int:
        return int(bench.client.get(AFTER_LOAD_API).status_code)

    requests[AFTER_LOAD_API] = download
    keys = ("first_ms", "first_cpu_ms", "second_ms", "second_cpu_ms", "served_after_ms")
    measured: dict[str, dict[str, list[float]]] = {
        name: {key: [] for key in keys} for name in requests
    }
    seed = first_seed
    with tempfile.TemporaryDirectory(prefix="after-load-") as folder:
        for _ in range(rounds):
            for name, request in requests.items():
                request()  # the current version's values are in place before the load
                seed += 1
                file = ensure(folder, AFTER_LOAD_ROWS, seed=seed).path
                before = queries.data_version(data.engine)
                subprocess.run(
                    [*ironriver_command(), "etl", "load-traces", str(file)],
                    check=True,
                    capture_output=True,
                )
                committed = time.perf_counter()
                version = queries.data_version(data.engine)
                if version == before:
                    raise RuntimeError(f"loading {file.name} made no new data version")
                if warmed:
                    while data.served_version != version:
                        time.sleep(0.005)
                    measured[name]["served_after_ms"].append(
                        (time.perf_counter() - committed) * 1000
                    )
                else:
                    time.sleep(VERSION_TTL_SECONDS + 0.1)
                for call in ("first", "second"):
                    started, cpu = time.perf_counter(), time.process_time()
                    status = request()
                    measured[name][f"{call}_cpu_ms"].append((time.process_time() - cpu) * 1000)
                    measured[name][f"{call}_ms"].append((time.perf_counter() - started) * 1000)
                    if status != 200:
                        raise RuntimeError(f"{name} after a load: HTTP {status}")
    return {
        "warmed_in_background": warmed,
        "rounds": rounds,
        "rows_per_load": AFTER_LOAD_ROWS,
        "requests": {
            name: {
                **{key: [round(v, 2) for v in values] for key, values in times.items()},
                **{f"{key[:-3]}_median_ms": round(median(times[key]), 2) for key in keys[:-1]},
                "first_max_ms": round(max(times["first_ms"]), 2),
                "served_after_median_ms": (
                    round(median(times["served_after_ms"]), 1) if warmed else None
                ),
            }
            for name, times in measured.items()
        },
    }


def summary(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = {
        "output": result.output,
        "kind": result.kind,
        "exercised": result.exercised,
        "reason": result.reason,
        "variants": result.variants,
    }
    if result.cold_ms:
        data.update(
            calls=len(result.cold_ms) + len(result.warm_ms),
            cold_p50_ms=round(percentile(result.cold_ms, 50), 2),
            cold_p95_ms=round(percentile(result.cold_ms, 95), 2),
            cold_cpu_p50_ms=round(percentile(result.cold_cpu_ms, 50), 2),
            cold_cpu_p95_ms=round(percentile(result.cold_cpu_ms, 95), 2),
            warm_p50_ms=round(percentile(result.warm_ms, 50), 2),
            warm_p95_ms=round(percentile(result.warm_ms, 95), 2),
            failed_variants=sum(1 for v in result.variants if not v["ok"] and not v["refused"]),
            refused_variants=sum(1 for v in result.variants if v["refused"]),
        )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.callbacks", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--repeat", type=int, default=7, help="calls per variant, cold and warm")
    parser.add_argument("--max-variants", type=int, default=6, help="input variants per callback")
    parser.add_argument(
        "--random", type=int, default=10, help="random variants per callback, all inputs at once"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random variants")
    parser.add_argument(
        "--forget-everything",
        action="store_true",
        help="uncached calls also recompute what every view of the data version shares",
    )
    parser.add_argument(
        "--after-load",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="also time first answers after ROUNDS new loads per request, with and without "
        "warming (loads synthetic files into DATABASE_URL: use a bench copy)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    bench = Bench(args.repeat, args.max_variants, args.random, args.seed, args.forget_everything)
    bench.render_pages()
    results = [summary(bench.measure(dep)) for dep in bench.deps]
    after_load = {}
    if args.after_load:
        from dashboard.data import EXTENSION

        # Files never loaded before (an identical file is skipped, making no new version).
        seed = AFTER_LOAD_SEED + time.time_ns() // 1000 % 10**9
        for mode, warm in (("warmed", True), ("on_request", False)):
            # A new app each time: the other's thread and caches play no part.
            measured = Bench(1, 1, warm_new_versions=warm)
            measured.render_pages()
            after_load[mode] = measure_after_load(measured, args.after_load, seed)
            measured.app.server.extensions[EXTENSION].stop_watching()
            seed += 10_000
    args.out.write_text(
        json.dumps(
            {
                "paths": bench.paths,
                "page_errors": bench.page_errors,
                "cache_cleared_for_cold_calls": bench.clear_cache is not None,
                "repeat": args.repeat,
                "random_variants": args.random,
                "forget_everything": args.forget_everything,
                "callbacks": results,
                "after_load": after_load,
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
            default=str,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
