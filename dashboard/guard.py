"""What every request passes: a body limit, checks of callback posts, and the security headers."""

from __future__ import annotations

import json
import logging
from typing import Any

import dash
import flask
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.serving import WSGIRequestHandler

from db.viewstate import InvalidInput, InvalidRequest, shown

log = logging.getLogger(__name__)

# The largest callback post the app sends is a few kilobytes; nothing else accepts a body.
MAX_BODY_BYTES = 256 * 1024
# Component values are flat or shallow (a slider's pair, a checklist's list, click data).
MAX_JSON_DEPTH = 20
CALLBACK_PATH = "/_dash-update-component"
# Locations (Dash Pages' router, and the page path each page callback reads its language from)
# must be text, since they are read as a path and a query string.
_ROUTER_INPUTS = {"_pages_location", "url"}
SERVER_NAME = "ironriver"


class QuietRequestHandler(WSGIRequestHandler):
    """The development server's handler without "Werkzeug/x Python/y" in the Server header."""

    def version_string(self) -> str:
        return SERVER_NAME


def install(app: dash.Dash) -> None:
    """Limits, callback checks, error answers and headers for every route of `app`."""
    server = app.server
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @server.before_request
    def _refuse_large_bodies() -> None:
        # Refused from the header, before a byte of the body is read.
        length = flask.request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()

    @server.before_request
    def _check_callback_post() -> None:
        if flask.request.path == CALLBACK_PATH and flask.request.method == "POST":
            check_callback_body(app, flask.request.get_data(cache=True))

    # Callback inputs (InvalidInput) and filters (InvalidRequest) that describe no view.
    server.register_error_handler(InvalidRequest, _refuse)
    server.register_error_handler(RequestEntityTooLarge, _too_large)

    @server.after_request
    def _headers(response: flask.Response) -> flask.Response:
        return secure_headers(app, response)


def _refuse(error: InvalidRequest) -> flask.Response:
    problems = getattr(error, "problems", None) or (str(error),)
    message = "; ".join(problems)
    # One line per refused request: hostile input is expected, a traceback would be noise.
    log.warning("refused %s %s: %s", flask.request.method, shown(flask.request.path), message)
    return flask.Response(f"bad request: {message}\n", status=400, mimetype="text/plain")


def _too_large(_error: Exception) -> flask.Response:
    log.warning("refused %s %s: body too large", flask.request.method, shown(flask.request.path))
    return flask.Response(
        f"request body over {MAX_BODY_BYTES} bytes\n", status=413, mimetype="text/plain"
    )


def _depth(value: object) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _output_count(output: str) -> int:
    return output.count("...") + 1 if output.startswith("..") else 1


def _is_location(part: str, value: object) -> bool:
    """A pathname starts with "/", a search with "?" (or is empty), as the browser sends them."""
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    return value.startswith("/") if part == "pathname" else value == "" or value.startswith("?")


def _check_items(name: str, items: object, declared: list[dict[str, Any]]) -> None:
    """`inputs` / `state` of a post: exactly the declared ids and properties, in order."""
    if not isinstance(items, list) or len(items) != len(declared):
        raise InvalidInput([f"{name} must list the callback's {len(declared)} {name}"])
    for item, wanted in zip(items, declared, strict=True):
        if (
            not isinstance(item, dict)
            or item.get("id") != wanted["id"]
            or item.get("property") != wanted["property"]
        ):
            raise InvalidInput([f"{name} do not match the callback's {name}"])
        if wanted["id"] in _ROUTER_INPUTS and not _is_location(
            wanted["property"], item.get("value")
        ):
            raise InvalidInput(
                [f"{wanted['id']}.{wanted['property']} is not a {wanted['property']}"]
            )


def check_callback_body(app: dash.Dash, raw: bytes) -> dict[str, Any]:
    """A callback post's body, checked against the app's callback map, or `InvalidInput`."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput(["the body is not JSON"]) from None
    if not isinstance(body, dict) or _depth(body) > MAX_JSON_DEPTH:
        raise InvalidInput(["the body is not a callback request"])
    output = body.get("output")
    callback = app.callback_map.get(output) if isinstance(output, str) else None
    if callback is None or "callback" not in callback:
        raise InvalidInput([f"no server callback for output {shown(output)}"])
    _check_items("inputs", body.get("inputs"), callback["inputs"])
    _check_items("state", body.get("state", []), callback["state"])
    outputs = body.get("outputs")
    count = _output_count(output)  # type: ignore[arg-type]
    listed = outputs if count > 1 else [outputs]
    if (
        not isinstance(listed, list)
        or len(listed) != count
        or not all(
            isinstance(o, dict)
            and isinstance(o.get("id"), str)
            and isinstance(o.get("property"), str)
            for o in listed
        )
    ):
        raise InvalidInput(["outputs do not match the callback's outputs"])
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise InvalidInput(["changedPropIds must be a list of text"])
    return body


# Only embeds (in either language) may be framed, by any site: they are made to be put in other
# pages.
EMBED_PREFIXES = ("/embed/", "/es/embed/")


def content_security_policy(app: dash.Dash, framable: bool = False) -> str:
    """Scripts only from this site, plus Dash's own inline scripts by their hashes."""
    scripts = " ".join(["'self'", *app.csp_hashes()])
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # plotly.js writes its styles into <style> elements at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors *" if framable else "frame-ancestors 'none'",
        ]
    )


def _cache_control(path: str, response: flask.Response) -> str:
    if path == CALLBACK_PATH or response.status_code >= 400:
        return "no-store"
    # Everything else a page needs is revalidated: pages and layouts change with the data.
    return "no-cache"


def secure_headers(app: dash.Dash, response: flask.Response) -> flask.Response:
    """The headers every answer carries; routes that chose their caching keep it."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    framable = flask.request.path.startswith(EMBED_PREFIXES)
    if not framable:
        headers["X-Frame-Options"] = "DENY"
    headers["Content-Security-Policy"] = content_security_policy(app, framable)
    if "Cache-Control" not in headers:
        headers["Cache-Control"] = _cache_control(flask.request.path, response)
    return response
