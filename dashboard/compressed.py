"""Static files (assets, Dash's component bundles) compressed once per process, not per request.

Flask-Compress compresses every response anew: the 1.4 MB plotly.js bundle streamed through
zstd on each cold visit, in Python chunks, while the page waited for it (~300 ms on a busy
2-core machine, against ~20 ms for the same file uncompressed from a static server). These
files change only with a deploy, so each (path, version, encoding) is compressed once and its
bytes are kept; Flask-Compress leaves a response that already has a Content-Encoding alone.
"""

from __future__ import annotations

import threading

import flask
from flask_compress.flask_compress import _compress_data

# Files that change only with a deploy: the assets folder, Dash's fingerprinted bundles and the
# boundary files (each served with its version as ETag).
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/geo/")
# In Flask-Compress's order of preference (COMPRESS_ALGORITHM), at its configured levels.
ENCODINGS = ("zstd", "br", "gzip")
MIN_BYTES = 500  # Flask-Compress's COMPRESS_MIN_SIZE: smaller bodies gain nothing


class CompressedOnce:
    """Compressed bodies by (path, version, encoding), filled as files are first asked for."""

    def __init__(self) -> None:
        self._bodies: dict[tuple[str, str, str], bytes] = {}
        self._lock = threading.Lock()

    def body(self, key: tuple[str, str, str], raw: flask.Response) -> bytes:
        """The compressed body for `key`, compressing `raw`'s bytes the first time."""
        with self._lock:
            cached = self._bodies.get(key)
        if cached is None:
            raw.direct_passthrough = False  # a file response: read it once
            cached = _compress_data(flask.current_app, raw.get_data(), key[2])
            with self._lock:
                self._bodies[key] = cached
        return cached


def install(server: flask.Flask, mimetypes: list[str]) -> None:
    """Serve static files of `mimetypes` compressed from memory after their first request.

    Registered after Dash has set up Flask-Compress, so this runs first (Flask calls
    after-request functions in reverse order) and Flask-Compress skips the response.
    """
    store = CompressedOnce()
    wanted = set(mimetypes)

    @server.after_request
    def _compressed_once(response: flask.Response) -> flask.Response:
        request = flask.request
        if (
            request.method != "GET"
            or response.status_code != 200
            or not request.path.startswith(STATIC_PREFIXES)
            or response.mimetype not in wanted
            or "Content-Encoding" in response.headers
            or (response.content_length is not None and response.content_length < MIN_BYTES)
        ):
            return response
        encoding = request.accept_encodings.best_match(ENCODINGS)
        if encoding is None:
            return response
        # The version: the file's ETag (assets: mtime and size), else the path itself, which
        # Dash fingerprints with the package version and the file's mtime.
        etag, weak = response.get_etag()
        body = store.body((request.path, etag or "", encoding), response)
        original = response.response
        response.set_data(body)
        if hasattr(original, "close"):
            original.close()  # the file a cache hit never read
        response.headers["Content-Encoding"] = encoding
        response.vary.add("Accept-Encoding")
        if etag:
            response.set_etag(f"{etag}:{encoding}", weak=bool(weak))
            response.make_conditional(request)
        return response
