"""`/api/v1/<dataset>.csv|json|zip|xlsx`: downloads that equal the charts, with sources on every row."""

from __future__ import annotations

import datetime as dt

import flask

from dashboard.data import current
from dashboard.responses import response_key
from db import queries, workbook
from db.datasets import DATASETS, InvalidRequest, Selection, write_rows
from db.viewstate import shown

api = flask.Blueprint("api", __name__, url_prefix="/api/v1")

# Flask adds "; charset=utf-8" to text mimetypes itself: naming it here doubled it.
MIMETYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "zip": "application/zip",
    "xlsx": workbook.MIMETYPE,
}
# Downloads are keyed by the data version (their ETag): caches keep them and revalidate each time.
CACHE_CONTROL = "public, no-cache"
# Bodies of up to this many rows are built whole and kept (dashboard/responses.py); larger
# exports stream as they are written, so one never sits in memory.
CACHED_ROWS = 20_000


def _bad_request(message: str) -> flask.Response:
    return flask.Response(message + "\n", status=400, mimetype="text/plain")


def _bom(values: list[str]) -> bool:
    if values not in ([], ["0"], ["1"]):
        raise InvalidRequest("bom must be 0 or 1")
    return values == ["1"]


@api.get("/<name>.<fmt>")
def download(name: str, fmt: str) -> flask.Response:
    if fmt not in MIMETYPES:
        return _bad_request(f"unknown format {shown(fmt)!r}: use .csv, .json, .zip or .xlsx")
    if name not in DATASETS:
        return _bad_request(f"unknown dataset {shown(name)!r}: see /api/v1/datasets.json")
    dataset = DATASETS[name]
    args = flask.request.args.copy()
    try:
        bom = _bom(args.poplist("bom"))
        selection = Selection.from_query(name, args.to_dict(flat=False))
    except InvalidRequest as error:
        return _bad_request(str(error))
    data = current()
    version = data.version()
    # The version and the normalised request name the body (its key starts with the version),
    # so an unchanged copy is confirmed without running the query (weak comparison, as RFC 9110
    # asks: a proxy may weaken the tag).
    etag = key = _response_key(version, selection, fmt, bom)
    if flask.request.if_none_match.contains_weak(etag):
        response = flask.Response(status=304)
        response.set_etag(etag, weak=fmt in workbook.SELF_CITING)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
    body = data.responses.get(key)
    if body is not None:
        return _download(flask.Response(body, mimetype=MIMETYPES[fmt]), name, fmt, version, etag)
    frame = data.rows(selection)
    if len(frame) > data.export_max_rows:
        remedy = (
            "narrow the filters"
            if dataset.filters
            else f"this dataset takes no filters; use `ironriver export {name}`"
        )
        return _bad_request(
            f"{len(frame)} rows exceed the limit of {data.export_max_rows}; {remedy}"
        )
    filters = selection.filters
    meta = {"dataset": name, "data_version": version, "filters": filters.as_params()}
    if fmt in workbook.SELF_CITING:
        body = workbook.self_citing_download(
            fmt,
            name,
            filters,
            frame,
            infos=data.cached("dataset_infos", lambda: queries.dataset_infos(data.engine)),
            sources=data.dataset("sources"),
            data_version=version,
            site=flask.request.url_root,
        )
        response = flask.Response(body, mimetype=MIMETYPES[fmt])
    elif len(frame) <= CACHED_ROWS:
        body = "".join(write_rows(frame, fmt, bom=bom, meta=meta)).encode("utf-8")
        response = flask.Response(body, mimetype=MIMETYPES[fmt])
    else:
        rows = write_rows(frame, fmt, bom=bom, meta=meta)
        response = flask.Response(flask.stream_with_context(rows), mimetype=MIMETYPES[fmt])
    if not response.is_streamed:
        data.responses.put(key, response.get_data())
    return _download(response, name, fmt, version, etag)


def _response_key(version: str, selection: Selection, fmt: str, bom: bool) -> str:
    """What a body depends on, normalised: the filters as the parser reads them (so reordered,
    repeated-alike or tracking parameters share one entry and one ETag), `bom` only where it
    changes the bytes, and what a zip's READMEs cite besides."""
    return response_key(
        version,
        selection.url(fmt),
        "bom" if bom and fmt == "csv" else "",
        # A zip or workbook cites its address and the day it was accessed.
        f"{flask.request.url_root} {dt.date.today()}" if fmt in workbook.SELF_CITING else "",
    )


def _download(
    response: flask.Response, name: str, fmt: str, version: str, etag: str
) -> flask.Response:
    """A download's headers: its file name, the data version and the ETag to revalidate with."""
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ironriver-{name}-{version}.{fmt}"'
    )
    response.headers["X-Data-Version"] = version
    response.headers["Cache-Control"] = CACHE_CONTROL
    # A zip or workbook records when it was made, so two builds of the same rows differ in
    # bytes but not in meaning: a weak tag says exactly that.
    response.set_etag(etag, weak=fmt in workbook.SELF_CITING)
    return response


@api.get("/datasets.json")
def catalogue() -> flask.Response:
    listing = [
        {
            "name": d.name,
            "title": d.title,
            "published": d.published,
            "filters": list(d.filters),
            "csv": f"/api/v1/{d.name}.csv",
            "json": f"/api/v1/{d.name}.json",
            "zip": f"/api/v1/{d.name}.zip",
            "xlsx": f"/api/v1/{d.name}.xlsx",
        }
        for d in DATASETS.values()
    ]
    version = current().version()
    response = flask.jsonify({"data_version": version, "datasets": listing})
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(f"{version}-catalogue")
    response.make_conditional(flask.request)
    return response


def not_found() -> flask.Response:
    """The API's 404: one plain line pointing at the catalogue."""
    return flask.Response(
        "not found: see /api/v1/datasets.json\n", status=404, mimetype="text/plain"
    )
