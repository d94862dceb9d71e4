"""Server-side PNG and SVG of a chart that keep its source: title, source line, status, permalink.

Rendered by plotly through kaleido and the system's Chromium, offline: MathJax and plotly's base
topojson are local files, and the boundary URLs of a map are replaced by the boundaries
themselves. The same words are in the PNG's text chunks, so a copy keeps them machine-readably.
"""

from __future__ import annotations

import struct
import textwrap
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from dashboard.i18n import _
from geo.states import BOUNDARY_FILES, load_boundaries

HERE = Path(__file__).parent
TOPOJSON_DIR = HERE / "assets" / "topojson"
# kaleido injects a MathJax <script> from a CDN unless given a file; no chart uses LaTeX.
NO_MATHJAX = HERE / "no-mathjax.js"
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
WIDTH, HEIGHT = 1200, 900
# Characters per line of the source line at the image's width and font size.
LINE_CHARS = 150
SOURCE_LINES = 3
BRAND = "Iron River"
# One Chromium at a time: kaleido starts one per call, and the machine is small.
_RENDERING = threading.Lock()


@dataclass(frozen=True)
class Caption:
    """The words an image carries besides its chart, in the language of the chart's page."""

    title: str
    source: str
    statuses: str
    permalink: str
    data_version: str
    subtitle: str = ""

    def footer_lines(self) -> list[str]:
        source = textwrap.wrap(self.source, LINE_CHARS) or [_("Source: none")]
        if len(source) > SOURCE_LINES:
            source = [*source[: SOURCE_LINES - 1], source[SOURCE_LINES - 1][:-1] + "…"]
        return [
            *source,
            f"{self.statuses} · {BRAND} · "
            + _("data version {version}").format(version=self.data_version),
            self.permalink,
        ]

    def text_chunks(self) -> dict[str, str]:
        """PNG tEXt keywords (the registered ones where they fit) and their values."""
        return {
            "Title": self.title + (f": {self.subtitle}" if self.subtitle else ""),
            "Source": self.source,
            "Comment": self.statuses,
            "URL": self.permalink,
            "Software": BRAND,
            "Data version": self.data_version,
        }


def _inline_boundaries(figure: go.Figure) -> None:
    """A map's boundaries as data: the browser fetches `/geo/...` URLs, kaleido cannot."""
    for trace in figure.data:
        geojson = getattr(trace, "geojson", None)
        if isinstance(geojson, str) and geojson.startswith("/geo/"):
            country = geojson.split("/")[2].split(".")[0].upper()
            if country in BOUNDARY_FILES:
                trace.geojson = load_boundaries(country)  # type: ignore[arg-type]


def captioned(figure: dict[str, Any] | go.Figure, caption: Caption) -> go.Figure:
    """The chart with its title on top and its source, status and permalink under it."""
    out = go.Figure(figure)
    _inline_boundaries(out)
    lines = caption.footer_lines()
    line_height = 17
    title = "<br>".join(textwrap.wrap(caption.title, 90))
    title_lines = title.count("<br>") + 1
    if caption.subtitle:
        subtitle = "<br>".join(textwrap.wrap(caption.subtitle, 130)[:2])
        title += f"<br><span style='font-size:13px'>{subtitle}</span>"
        title_lines += subtitle.count("<br>") + 1
    # A legend below the plot (trends) sits between the plot and the footer: room for one line
    # per entry, which is at least what a horizontal legend takes.
    legend_y = out.layout.legend.y
    below = legend_y is not None and legend_y < 0
    entries = {t.legendgroup or t.name for t in out.data if t.showlegend is not False and t.name}
    legend_room = 30 * len(entries) + 10 if below else 0
    bottom = 40 + legend_room + line_height * len(lines)
    margin = out.layout.margin
    out.update_layout(
        title=dict(
            text=title,
            x=0.01,
            xanchor="left",
            y=0.98,
            yanchor="top",
            font=dict(size=20),
        ),
        margin=dict(
            t=50 + 22 * title_lines,
            b=bottom + (margin.b or 0),
            l=max(margin.l or 0, 30),
            r=max(margin.r or 0, 30),
        ),
        paper_bgcolor="#ffffff",
        width=WIDTH,
        height=HEIGHT,
    )
    for index, line in enumerate(lines):
        out.add_annotation(
            text=line,
            xref="paper",
            yref="paper",
            x=0,
            xanchor="left",
            y=0,
            yanchor="top",
            # Paper y=0 is the plot's bottom edge; each line sits below the previous one.
            yshift=-30 - legend_room - index * line_height,
            showarrow=False,
            align="left",
            font=dict(size=12, color="#333333"),
        )
    return out


def render(figure: go.Figure, fmt: str) -> bytes:
    """PNG or SVG bytes of `figure`, drawn offline by kaleido."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    with _RENDERING:
        pio.defaults.mathjax = str(NO_MATHJAX)
        pio.defaults.topojson = TOPOJSON_DIR.as_uri() + "/"
        return pio.to_image(figure, format=fmt, width=WIDTH, height=HEIGHT, scale=1)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_text_chunks(png: bytes, texts: dict[str, str]) -> bytes:
    """`png` with international text (iTXt, UTF-8) chunks after its header chunk."""
    signature_and_header = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    chunks = b"".join(
        _chunk(b"iTXt", key.encode("latin-1") + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))
        for key, value in texts.items()
    )
    return png[:signature_and_header] + chunks + png[signature_and_header:]


def read_text_chunks(png: bytes) -> dict[str, str]:
    """The iTXt chunks of a PNG (what `with_text_chunks` wrote)."""
    texts: dict[str, str] = {}
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        data = png[position + 8 : position + 8 + length]
        if kind == b"iTXt":
            key, _, rest = data.partition(b"\x00")
            # flag, method, language tag, translated keyword, then the text
            texts[key.decode("latin-1")] = rest[2:].split(b"\x00", 2)[2].decode("utf-8")
        position += 12 + length
    return texts


def image(figure: dict[str, Any] | go.Figure, caption: Caption, fmt: str) -> bytes:
    """The captioned chart as PNG (with text chunks) or SVG."""
    body = render(captioned(figure, caption), fmt)
    return with_text_chunks(body, caption.text_chunks()) if fmt == "png" else body
