"""The custom plotly.js bundle: built by plotlyjs/build.sh, Dash's version, served before dcc."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs_version

from dashboard.app import create_app
from db.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "dashboard" / "assets" / "plotly-custom.min.js"
ENTRY = ROOT / "plotlyjs" / "entry.js"
PACKAGE = ROOT / "plotlyjs" / "package.json"
FULL_BUNDLE = "package_data/plotly.min.js"
# The banner build.sh writes: "* plotly.js (custom: core + choropleth,scattergeo,bar) v4.1.1".
HEADER = re.compile(r"^\* plotly\.js \(custom: core \+ ([a-z0-9,]+)\) v(\S+)$", re.MULTILINE)


def header() -> tuple[list[str], str]:
    found = HEADER.search(BUNDLE.read_text(encoding="utf-8")[:1000])
    assert found, "the bundle has lost the header plotlyjs/build.sh writes"
    return found.group(1).split(","), found.group(2)


def test_bundle_is_the_plotly_js_version_dash_would_serve() -> None:
    # dcc.Graph is written against the plotly.js that the plotly package ships.
    _, version = header()
    assert version == get_plotlyjs_version()
    assert f'"plotly.js": "{version}"' in PACKAGE.read_text(encoding="utf-8")


def test_bundle_holds_exactly_the_traces_entry_js_registers() -> None:
    # Fails when entry.js gains or loses a trace and the bundle was not rebuilt.
    registered = re.findall(r"require\('plotly\.js/lib/([a-z0-9]+)'\)", ENTRY.read_text("utf-8"))
    traces, _ = header()
    assert "core" in registered
    assert traces == [name for name in registered if name != "core"]
    assert BUNDLE.read_text(encoding="utf-8").count("Licensed under the MIT license") >= 1


def test_bundle_needs_no_eval_so_a_strict_script_policy_allows_it() -> None:
    text = BUNDLE.read_text(encoding="utf-8")
    assert "new Function" not in text
    assert re.search(r"[^\w.]eval\(", text) is None


@pytest.fixture
def index_html(loaded_db_url: str) -> str:
    app: Any = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))
    response = app.server.test_client().get("/")
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_every_page_loads_the_custom_bundle_before_dash_starts(index_html: str) -> None:
    scripts = re.findall(r'<script src="([^"]+)"', index_html)
    ours = [i for i, src in enumerate(scripts) if "/assets/plotly-custom.min.js" in src]
    assert len(ours) == 1, scripts
    # A plain script tag, so window.Plotly exists before the renderer is started (inline, last).
    assert index_html.index(scripts[ours[0]]) < index_html.index("new DashRenderer")
    assert FULL_BUNDLE not in index_html
