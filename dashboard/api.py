"""`/api/v1/<dataset>.csv|json|zip|xlsx`: downloads that equal the charts, with sources on every row.

Downloads are the same in every language; an error's one line of text is in the language the
request's `Accept-Language` prefers (English or Spanish, from the one message catalogue).
"""

from __future__ import annotations

import datetime as dt

import flask

from dashboard import i18n
from dashboard.data import current
from dashboard.i18n import N_
from dashboard.responses import response_key
from dashboard.text import translated
from db import queries, workbook
from db.datasets import DATASETS, InvalidRequest, Selection, write_rows
from db.message import Message
from db.viewstate import InvalidInput, shown

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


def error_language() -> str:
    """The language of this request's error text: the one its `Accept-Language` ranks first
    of English and Spanish (q-values, by werkzeug's parser; "es-MX" is Spanish), else English."""
    return str(flask.request.accept_languages.best_match(i18n.LANGUAGES, default=i18n.DEFAULT))


def refused(status: int, *messages: str) -> flask.Response:
    """An error answer: `messages` (English, or `Message`s whose templates the catalogue
    translates) on one line in the request's language, saying which, and that the request's
    `Accept-Language` chose it.

    Errors are never kept by the response cache and carry no ETag (and `no-store`, from the
    guard), so no cache can serve one language's text to another.
    """
    lang = error_language()
    with i18n.use(lang):
        text = "; ".join(translated(message) for message in messages)
    response = flask.Response(text + "\n", status=status, mimetype="text/plain")
    response.headers["Content-Language"] = lang
    response.vary.add("Accept-Language")
    return response


def _bad_request(*messages: str) -> flask.Response:
    return refused(400, *messages)


@api.errorhandler(InvalidRequest)
def _invalid(error: InvalidRequest) -> flask.Response:
    """A filter the query itself refuses (a trace dataset's unknown measure) is a 400 too."""
    return _bad_request(*_problems(error))


def _problems(error: InvalidRequest) -> tuple[str, ...]:
    """What an error says, each problem as it was written (a `Message` where `db/` wrote one)."""
    if isinstance(error, InvalidInput):
        return error.problems
    return (error.args[0],) if error.args and isinstance(error.args[0], str) else (str(error),)


def _bom(values: list[str]) -> bool:
    if values not in ([], ["0"], ["1"]):
        raise InvalidRequest(Message(N_("bom must be 0 or 1")))
    return values == ["1"]


@api.get("/<name>.<fmt>")
def download(name: str, fmt: str) -> flask.Response:
    if fmt not in MIMETYPES:
        return _bad_request(
            Message(
                N_("unknown format {value}: use .csv, .json, .zip or .xlsx"),
                value=repr(shown(fmt)),
            )
        )
    if name not in DATASETS:
        return _bad_request(
            Message(
                N_("unknown dataset {value}: see /api/v1/datasets.json"), value=repr(shown(name))
            )
        )
    dataset = DATASETS[name]
    args = flask.request.args.copy()
    try:
        bom = _bom(args.poplist("bom"))
        selection = Selection.from_query(name, args.to_dict(flat=False))
    except InvalidRequest as error:
        return _bad_request(*_problems(error))
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
            Message(N_("narrow the filters"))
            if dataset.filters
            else Message(
                N_("this dataset takes no filters; use `ironriver export {name}`"), name=name
            )
        )
        return _bad_request(
            Message(
                N_("{count} rows exceed the limit of {limit}; {remedy}"),
                count=len(frame),
                limit=data.export_max_rows,
                remedy=remedy,
            )
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
    return refused(404, Message(N_("not found: see /api/v1/datasets.json")))
