"""`/api/v1/<dataset>.csv|json`: downloads that equal the charts, with sources on every row."""

from __future__ import annotations

import flask

from dashboard.data import current
from db.datasets import DATASETS, Filters, InvalidRequest, write_rows

api = flask.Blueprint("api", __name__, url_prefix="/api/v1")

MIMETYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json; charset=utf-8"}


def _bad_request(message: str) -> flask.Response:
    return flask.Response(message + "\n", status=400, mimetype="text/plain")


@api.get("/<name>.<fmt>")
def download(name: str, fmt: str) -> flask.Response:
    if fmt not in MIMETYPES:
        return _bad_request(f"unknown format {fmt!r}: use .csv or .json")
    if name not in DATASETS:
        return _bad_request(f"unknown dataset {name!r}: see /api/v1/datasets.json")
    args = dict(flask.request.args)
    bom = args.pop("bom", "0") == "1"
    try:
        filters = Filters.from_args(args)
    except InvalidRequest as error:
        return _bad_request(str(error))
    data = current()
    frame = data.dataset(name, filters)
    if len(frame) > data.export_max_rows:
        return _bad_request(
            f"{len(frame)} rows exceed the limit of {data.export_max_rows}; narrow the filters"
        )
    version = data.version()
    meta = {"dataset": name, "data_version": version, "filters": filters.as_params()}
    body = write_rows(frame, fmt, bom=bom, meta=meta)
    response = flask.Response(flask.stream_with_context(body), mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ironriver-{name}-{version}.{fmt}"'
    )
    response.headers["X-Data-Version"] = version
    return response


@api.get("/datasets.json")
def catalogue() -> flask.Response:
    listing = [
        {
            "name": d.name,
            "title": d.title,
            "published": d.published,
            "csv": f"/api/v1/{d.name}.csv",
            "json": f"/api/v1/{d.name}.json",
        }
        for d in DATASETS.values()
    ]
    return flask.jsonify({"data_version": current().version(), "datasets": listing})


@api.app_errorhandler(404)
def not_found(_error: Exception) -> flask.Response:
    if flask.request.path.startswith("/api/"):
        return flask.Response(
            "not found: see /api/v1/datasets.json\n", status=404, mimetype="text/plain"
        )
    return flask.Response(
        "<!doctype html><title>Not found · Iron River</title><h1>Page not found</h1>"
        '<p>Try the <a href="/">map</a> or the <a href="/sources">data and sources</a>.</p>',
        status=404,
        mimetype="text/html",
    )
