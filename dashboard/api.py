"""`/api/v1/<dataset>.csv|json`: downloads that equal the charts, with sources on every row."""

from __future__ import annotations

import flask

from dashboard.data import current
from db.datasets import DATASETS, InvalidRequest, Selection, write_rows
from db.viewstate import shown

api = flask.Blueprint("api", __name__, url_prefix="/api/v1")

# Flask adds "; charset=utf-8" to text mimetypes itself: naming it here doubled it.
MIMETYPES = {"csv": "text/csv", "json": "application/json"}
# Downloads are keyed by the data version (their ETag): caches keep them and revalidate each time.
CACHE_CONTROL = "public, no-cache"


def _bad_request(message: str) -> flask.Response:
    return flask.Response(message + "\n", status=400, mimetype="text/plain")


def _bom(values: list[str]) -> bool:
    if values not in ([], ["0"], ["1"]):
        raise InvalidRequest("bom must be 0 or 1")
    return values == ["1"]


@api.get("/<name>.<fmt>")
def download(name: str, fmt: str) -> flask.Response:
    if fmt not in MIMETYPES:
        return _bad_request(f"unknown format {shown(fmt)!r}: use .csv or .json")
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
    # The version names the data, so an unchanged copy is confirmed without running the query.
    etag = f"{version}-{fmt}"
    if etag in flask.request.if_none_match:
        response = flask.Response(status=304)
        response.set_etag(etag)
        response.headers["Cache-Control"] = CACHE_CONTROL
        return response
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
    meta = {"dataset": name, "data_version": version, "filters": selection.filters.as_params()}
    body = write_rows(frame, fmt, bom=bom, meta=meta)
    response = flask.Response(flask.stream_with_context(body), mimetype=MIMETYPES[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="ironriver-{name}-{version}.{fmt}"'
    )
    response.headers["X-Data-Version"] = version
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.set_etag(etag)
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
