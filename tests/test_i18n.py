"""Spanish as a first-class language: the catalogue is complete, every page has its `/es` twin,
and a Spanish page, its callbacks and its numbers read as Mexican readers expect."""

from __future__ import annotations

import re
from typing import Any

import dash
import pytest

from dashboard import i18n, messages, text
from dashboard.data import current
from dashboard.i18n import _
from dashboard.views.map import catalogue
from tests.reliability import web

ENGLISH_PAGES = ["/", "/trends", "/estimates", "/gc-armas", "/sources", "/status"]
SPANISH_PAGES = ["/es/", "/es/trends", "/es/estimates", "/es/gc-armas", "/es/sources", "/es/status"]


# ---------------------------------------------------------------------------- the catalogue


def forms(message: Any) -> tuple[str, ...]:
    """A catalogue entry's Spanish: one string, or one per plural form of a plural entry."""
    return tuple(message.string) if message.pluralizable else (message.string,)


def test_every_message_the_app_writes_has_its_spanish_entry() -> None:
    catalogue = messages.load()
    translated = {m.id for m in catalogue if m.id and all(forms(m)) and not m.fuzzy}
    missing = sorted(set(messages.used()) - translated, key=str)
    assert not missing, (
        f"{len(missing)} messages lack Spanish (run `make messages`): {missing[:10]}"
    )


def test_every_catalogue_entry_is_used_by_the_app() -> None:
    unused = sorted({m.id for m in messages.load() if m.id} - set(messages.used()), key=str)
    assert not unused, (
        f"{len(unused)} unused catalogue entries (run `make messages`): {unused[:10]}"
    )


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    # A plural form keeps the placeholders of its English form (msgstr[0] of the singular).
    wrong = [
        (m.id, spanish)
        for m in messages.load()
        if m.id
        for english, spanish in zip(m.id if m.pluralizable else (m.id,), forms(m), strict=True)
        if sorted(i18n.PLACEHOLDER.findall(english)) != sorted(i18n.PLACEHOLDER.findall(spanish))
    ]
    assert not wrong


def test_vocabulary_labels_are_messages_so_a_new_code_needs_its_spanish() -> None:
    used = messages.used()
    assert "Court cases" in used and "Traced firearms" in used
    with i18n.use("es"):
        assert text.kind_label("legal") == "Casos judiciales"
        assert text.measure_label("traced_firearms") == "Armas rastreadas"


# ---------------------------------------------------------------------------- the language


def test_messages_follow_the_language_of_the_block_and_english_is_the_msgid() -> None:
    assert _("Trends") == "Trends"
    with i18n.use("es"):
        assert _("Trends") == "Tendencias"
        assert _("a message nobody wrote") == "a message nobody wrote"
    assert i18n.language() == "en"
    with pytest.raises(ValueError), i18n.use("fr"):
        pass


@pytest.mark.parametrize(
    ("path", "lang", "english"),
    [
        ("/", "en", "/"),
        ("/trends", "en", "/trends"),
        ("/es", "es", "/"),
        ("/es/", "es", "/"),
        ("/es/trends", "es", "/trends"),
        ("/estimates", "en", "/estimates"),  # "/es" + "timates" is not Spanish
    ],
)
def test_a_path_says_its_language_and_maps_back_to_its_english_twin(
    path: str, lang: str, english: str
) -> None:
    assert i18n.language_of(path) == lang
    assert i18n.unprefixed(path) == english
    assert i18n.unprefixed(i18n.localised(english, lang)).rstrip("/") == english.rstrip("/")


def test_numbers_and_dates_read_as_mexican_readers_expect() -> None:
    import datetime as dt

    with i18n.use("es"):
        assert text.format_value(7825, "firearms") == "7,825 armas"
        assert text.format_value(68.3, "percent") == "68.3\u00a0%"
        assert text.format_value(127.2, "usd_millions") == "127.2 millones de USD"
        assert i18n.format_date(dt.date(2023, 6, 3)) == "3 jun 2023"
    assert text.format_value(68.3, "percent") == "68.3%"
    assert i18n.format_date(dt.date(2023, 6, 3)) == "Jun 3, 2023"


# ---------------------------------------------------------------------------- the pages


def page_html(client: Any, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return str(response.data.decode())


@pytest.mark.parametrize("path", SPANISH_PAGES)
def test_every_page_has_a_spanish_twin_in_spanish(client: Any, path: str) -> None:
    page = page_html(client, path + "?utm_source=x")
    assert '<html lang="es">' in page
    # Tracking parameters say nothing about the view, so the alternates leave them out.
    assert re.search(r'hreflang="en" href="http://localhost/[a-z-]*"', page)
    assert f'hreflang="es" href="http://localhost{path}"' in page


@pytest.mark.parametrize("path", ENGLISH_PAGES)
def test_english_urls_stay_english_and_point_at_their_spanish_twin(client: Any, path: str) -> None:
    page = page_html(client, path + "?state=TX" if path == "/trends" else path)
    assert '<html lang="en">' in page
    twin = "/es/" if path == "/" else f"/es{path}"
    assert f'hreflang="es" href="http://localhost{twin}' in page
    assert 'hreflang="x-default"' in page


def test_a_spanish_404_is_in_spanish(client: Any) -> None:
    response = client.get("/es/no-existe")
    assert response.status_code == 404
    page = response.data.decode()
    assert '<html lang="es">' in page and "Página no encontrada" in page


def draw(client: Any, app: Any, path: str, search: str = "") -> Any:
    """The page as the browser draws it: Dash Pages' router callback."""
    client.get(path)
    body = web.callback_body(app, web.ROUTER_OUTPUT, [path, search])
    response = client.post(web.CALLBACK_PATH, json=body)
    assert response.status_code == 200, response.data[:300]
    return response.json["response"]["_pages_content"]["children"]


def links(node: object) -> list[dict[str, Any]]:
    """Props of every link (dcc.Link or html.A) in a JSON component tree."""
    return [c["props"] for c in components_in(node) if c["type"] in ("Link", "A")]


def components_in(node: object) -> list[dict[str, Any]]:
    """Every component of a JSON component tree, depth first."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "type" in node and "props" in node:
            found.append(node)
        for value in node.values():
            found += components_in(value)
    elif isinstance(node, list):
        for value in node:
            found += components_in(value)
    return found


def test_a_spanish_page_has_spanish_navigation_and_a_switch_that_keeps_the_view(
    app: Any, client: Any
) -> None:
    content = draw(client, app, "/es/trends", "?state=TX&from=2010")
    props = links(content)
    nav = [p for p in props if p.get("className", "").startswith("nav-link")]
    assert [p["children"] for p in nav][:2] == ["Mapa", "Tendencias"]
    assert all(p["href"].startswith("/es/") for p in nav)
    assert next(p for p in nav if "current" in p["className"])["href"] == "/es/trends"
    switch = [p for p in props if p.get("className") == "language-link"]
    assert [(p["href"], p["lang"]) for p in switch] == [("/trends?state=TX&from=2010", "en")]


def test_an_english_page_switches_to_its_spanish_twin_with_the_same_parameters(
    app: Any, client: Any
) -> None:
    content = draw(client, app, "/", "?measure=share")
    switch = [p for p in links(content) if p.get("className") == "language-link"]
    assert [(p["href"], p["hrefLang"]) for p in switch] == [("/es/?measure=share", "es")]


def test_spanish_page_titles_are_registered_for_the_browser_tab(app: Any) -> None:
    titles = {p["path"]: p["title"] for p in dash.page_registry.values() if "path" in p}
    assert titles["/es/trends"] == "Iron River · Tendencias"
    assert titles["/trends"] == "Iron River · Trends"


def test_a_callback_answers_in_the_language_of_its_page(app: Any, client: Any) -> None:
    client.get("/es/gc-armas")
    answers = {}
    for path in ("/gc-armas", "/es/gc-armas"):
        output = next(k for k in app.callback_map if k.startswith("gc-view."))
        body = web.callback_body(app, output, [["gc_armas"], path])
        response = client.post(web.CALLBACK_PATH, json=body)
        assert response.status_code == 200, response.data[:300]
        answers[path] = response.json["response"]["gc-view"]["children"]
    graph = [web_find(answers[p], "gc-graph") for p in ("/gc-armas", "/es/gc-armas")]
    assert graph[0]["config"]["locale"] == "en"
    assert graph[1]["config"]["locale"] == "es-MX"


def web_find(node: object, component_id: str) -> dict[str, Any]:
    found = _find(node, component_id)
    assert found is not None, component_id
    return found


def _find(node: object, component_id: str) -> dict[str, Any] | None:
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return dict(node["props"])
        node = list(node.values())
    if isinstance(node, list):
        for value in node:
            found = _find(value, component_id)
            if found is not None:
                return found
    return None


# ---- map, trends and shared components

# Paths the app serves outside its pages: they have no Spanish twin.
NOT_PAGES = ("/api/", "/chart/", "/embed/", "/assets/", "/geo/", "/_dash")


# Keys of a component tree whose strings are code, not words.
CODE_KEYS = {
    *("type", "namespace", "id", "className", "href", "src", "htmlFor", "role", "value"),
    *("data-dataset", "data-format", "data-page", "legendgroup", "uirevision"),
}


def texts(node: object) -> list[str]:
    """Every string of a JSON component tree: children, labels, attributes, and the titles,
    hover templates, hover texts, names and annotations of figures inside it."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for key, value in node.items() if key not in CODE_KEYS for s in texts(value)]
    if isinstance(node, list):
        return [s for value in node for s in texts(value)]
    return []


def english_left(strings: list[str]) -> set[str]:
    """Catalogue messages whose Spanish differs that a Spanish render still writes in English.

    A message's literal fragments (cut at its `{placeholders}` and markup) are compared with the
    pieces of each string (cut also at ": ", " · " and brackets, where the app joins words): a
    piece of the data (a title, a note) that merely contains an English word is not a label.
    """
    markup = r"<[^>]+>|%\{[^}]*\}|\{[^}]*\}"
    fragments = {
        piece.strip(" .:;,")
        for message, translation in i18n.translations().items()
        for piece in re.split(markup, message)
        if len(piece.strip(" .:;,")) > 3 and piece.strip(" .:;,") not in translation
    }
    cut = re.compile(markup + r"|\s·\s|: |; |\s—\s|[\[\]()]")
    return {
        piece.strip(" .:;,")
        for string in strings
        for piece in [string, *cut.split(string)]
        if piece.strip(" .:;,") in fragments
    }


def app_links(node: object) -> list[str]:
    """The hrefs of links to app pages (not the language switch, downloads or assets)."""
    return [
        p["href"]
        for p in links(node)
        if p.get("className") != "language-link"
        and str(p.get("href", "")).startswith("/")
        and not str(p["href"]).startswith(NOT_PAGES)
    ]


def answer(client: Any, app: Any, output: str, values: list[object], page: str) -> Any:
    """A page callback's answer, posted as the browser posts it from `page`."""
    body = web.callback_body(app, output, values, page_path=page)
    response = client.post(web.CALLBACK_PATH, json=body)
    assert response.status_code == 200, response.data[:300]
    component, prop = output.split(".")
    return response.json["response"][component][prop]


def test_the_spanish_map_reads_in_spanish_with_spanish_links(app: Any, client: Any) -> None:
    content = draw(client, app, "/es/")
    strings = texts(content)
    assert "De dónde vienen las armas rastreadas y dónde se aseguran armas" in strings
    assert {"Copiar enlace", "Descargar CSV", "▶ Reproducir", "Controles del mapa"} <= set(strings)
    graph = web_find(content, "map-graph")
    assert graph["config"]["locale"] == "es-MX"
    hovers = [t["hovertemplate"] for t in graph["figure"]["data"] if "hovertemplate" in t]
    assert any("Periodo: %{customdata[2]}" in h for h in hovers)
    assert web_find(content, "map-summary")["children"].startswith("Estados Unidos, ")
    # The browser-side callbacks (Play, Copy link, a click on a state) get the page's words.
    assert web_find(content, "map-locale")["data"] == {
        "play": "▶ Reproducir",
        "pause": "❚❚ Pausa",
        "prefix": "/es",
    }
    status = web_find(content, "map-copy-status")
    assert status["data-copied"] == "Enlace copiado."
    assert not english_left(strings)
    hrefs = app_links(content)
    assert any(h.startswith("/es/trends?state=") for h in hrefs)
    assert any(h.startswith("/es/sources#") for h in hrefs)
    assert {i18n.language_of(h) for h in hrefs} == {"es"}


def test_the_english_map_is_unchanged(app: Any, client: Any) -> None:
    content = draw(client, app, "/")
    strings = texts(content)
    assert "Where traced guns come from, and where guns are seized" in strings
    assert web_find(content, "map-locale")["data"]["prefix"] == ""
    assert {i18n.language_of(h) for h in app_links(content)} == {"en"}
    hovers = [t.get("hovertemplate", "") for t in web_find(content, "map-graph")["figure"]["data"]]
    assert any("<br>Period: %{customdata[2]}<br>Status: " in h for h in hovers)


@pytest.mark.parametrize("measure", ["count", "share", "per_100k", "per_100_dealers"])
def test_the_map_callback_answers_in_spanish_for_every_measure(
    app: Any, client: Any, measure: str
) -> None:
    content = draw(client, app, "/es/")
    us, mx = web_find(content, "map-us")["value"], web_find(content, "map-mx")["value"]
    view = answer(client, app, "map-view.children", [us, mx, measure, None], "/es/")
    strings = texts(view)
    assert not english_left(strings)
    assert any(s.startswith("Estados Unidos, ") for s in strings)
    assert {i18n.language_of(h) for h in app_links(view)} <= {"es"}
    english = answer(client, app, "map-view.children", [us, mx, measure, None], "/")
    assert any(s.startswith("United States, ") for s in texts(english))
    if measure == "per_100k":
        # A rate's note, written by db/rates.py, reads in Spanish too; its download stays English.
        assert any("armas / 2 años / 29,145,505 habitantes (2020)" in s for s in strings)
        assert any("firearms / 2 years / 29,145,505 residents (2020)" in s for s in texts(english))


def test_the_spanish_map_of_a_loaded_trace_file_reads_in_spanish(app: Any, client: Any) -> None:
    content = draw(client, app, "/es/")
    # The dropdowns hold option keys; the catalogue says which is the loaded trace file's.
    with app.server.test_request_context("/es/"):
        loaded_keys = {s.option for s in catalogue(current()).values() if s.annual}
    options = web_find(content, "map-us")["options"]
    loaded = next(o for o in options if o["value"] in loaded_keys)
    assert loaded["label"].startswith("Archivo de rastreos cargado ")
    mx = next(o for o in web_find(content, "map-mx")["options"] if o["value"] in loaded_keys)
    view = answer(
        client, app, "map-view.children", [loaded["value"], mx["value"], "count", 1900], "/es/"
    )
    assert not english_left(texts(view))


def test_the_spanish_trends_of_a_state_read_in_spanish(app: Any, client: Any) -> None:
    content = draw(client, app, "/es/trends", "?state=TX")
    strings = texts(content)
    assert "Tendencias: Texas" in strings
    assert {"Estado", "Eventos mostrados", "Años", "Controles de la tendencia"} <= set(strings)
    graph = web_find(content, "trends-graph")
    titles = [a["text"] for a in graph["figure"]["layout"]["annotations"]]
    assert "Texas: proporciones (%)" in titles and "Eventos" in titles
    assert not english_left(strings)
    hrefs = app_links(content)
    assert hrefs and {i18n.language_of(h) for h in hrefs} == {"es"}
    # A loaded trace file's citation, written by db/queries.py, reads in Spanish too.
    assert any(s.startswith("exportación tipo eTrace SYNTHETIC-") for s in strings)


def test_spanish_trends_show_the_spanish_titles_of_events(app: Any, client: Any) -> None:
    content = draw(client, app, "/es/trends", "?kinds=data_release")
    figure = web_find(content, "trends-graph")["figure"]
    hovers = [t for trace in figure["data"] for t in trace.get("text") or [] if "<b>" in str(t)]
    spanish = "<b>La ATF publica los datos de rastreo de México de 2007-2011</b>"
    assert any(spanish in h for h in hovers)
    assert not any("ATF releases Mexico trace data for 2007-2011" in h for h in hovers)
    assert all("Estatus: " in h and "Fuente: " in h for h in hovers)
    assert not english_left(texts(content))
    english = web_find(draw(client, app, "/trends", "?kinds=data_release,gc_armas"), "trends-graph")
    hovers = [t for trace in english["figure"]["data"] for t in trace.get("text") or []]
    assert any("<b>ATF releases Mexico trace data for 2007-2011</b>" in h for h in hovers)
    # An event without a description says nothing more (it used to end in "<br>nan").
    assert any("<b>CENAPI becomes the GC Armas Technical Secretariat</b>" in h for h in hovers)
    assert not any(str(h).endswith("<br>nan") for h in hovers)


def test_the_trends_callback_answers_in_spanish(app: Any, client: Any) -> None:
    kinds = ["gc_armas", "bilateral_dialogue", "data_release"]
    for state in ("", "TX", "14"):
        view = answer(
            client, app, "trends-view.children", [state, kinds, [1990, 2025]], "/es/trends"
        )
        strings = texts(view)
        assert not english_left(strings), state
        assert any(s.startswith("Tendencias: ") for s in strings)
        assert {i18n.language_of(h) for h in app_links(view)} <= {"es"}


def test_spanish_pages_say_in_spanish_which_link_parameters_were_ignored(
    app: Any, client: Any
) -> None:
    content = draw(client, app, "/es/trends", "?state=ZZ&from=1700&kinds=nope&year=2")
    notice = " ".join(texts(content))
    assert "Se ignoraron algunos parámetros del enlace: " in notice
    assert "state=ZZ no es una clave de estado del USPS ni del INEGI" in notice
    assert "parámetro desconocido year" in notice
    assert "tipo(s) de evento desconocido(s): nope" in notice
    # The URL parser's own problems (db/viewstate.py) too.
    notice = " ".join(texts(draw(client, app, "/es/trends", "?state=Texas&from=abc")))
    assert "state=Texas no es una clave de estado del USPS ni del INEGI" in notice
    assert "from=abc no es un año de 1 a 9999" in notice
    map_notice = " ".join(texts(draw(client, app, "/es/", "?measure=nope&us=nada")))
    assert "measure=nope no es una de count, share, per_100k, per_100_dealers" in map_notice
    assert "us=nada no es una serie de este mapa" in map_notice


def test_words_db_writes_stay_english_text_and_read_in_spanish_where_shown() -> None:
    import pickle

    from db.message import Message
    from db.viewstate import parse

    problems = parse({"year": "²", "colour": "red"}, allowed=("year",)).problems
    assert problems == ("year=² is not a year from 1 to 9999", "unknown parameter colour")
    assert all(isinstance(p, Message) for p in problems)
    with i18n.use("es"):
        assert [text.translated(p) for p in problems] == [
            "year=² no es un año de 1 a 9999",
            "parámetro desconocido colour",
        ]
        # A cached frame is pickled: its messages come back able to be translated.
        again = pickle.loads(pickle.dumps(problems[0]))
        assert text.translated(again) == "year=² no es un año de 1 a 9999"
        assert text.translated("data wording") == "data wording"
    assert text.translated(problems[1]) == "unknown parameter colour"


# ---- estimates, GC-Armas, sources, status, 404

# The files that write these pages; the messages they write must not stay English on /es pages.
PAGE_FILES_B = [
    "pages/estimates.py",
    "views/estimates.py",
    "figures/estimates.py",
    "pages/gc_armas.py",
    "views/gc_armas.py",
    "pages/sources.py",
    "pages/status.py",
    "pages/not_found_404.py",
]
# Props that hold names, not words: ids, classes, addresses, codes, languages.
NOT_WORDS = {
    "id",
    "className",
    "href",
    "type",
    "namespace",
    "lang",
    "hrefLang",
    "htmlFor",
    "role",
    "scope",
}


def written_by(files: list[str]) -> set[str]:
    """Every message the given dashboard files write, with the vocabulary labels they show."""
    from babel.messages.extract import extract_from_file

    found: set[str] = set()
    for name in files:
        for _line, message, _comments, _context in extract_from_file(
            "python", messages.DASHBOARD / name, keywords=messages.KEYWORDS
        ):
            found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    for _name, terms in messages._vocabulary_labels():
        found.update(term for _code, term in terms)
    return found


def shown_strings(node: object, key: str = "") -> list[str]:
    """Every string a reader may see in a JSON component tree, figures' texts and hovers too."""
    if isinstance(node, str):
        return [] if key in NOT_WORDS else [node]
    if isinstance(node, dict):
        if node.get("props", {}).get("lang") == "en":
            return []  # marked as English on purpose (the glossary's English twin of a term)
        return [s for k, v in node.items() for s in shown_strings(v, k)]
    if isinstance(node, list):
        return [s for v in node for s in shown_strings(v, key)]
    return []


def data_texts(app: Any) -> set[str]:
    """The data's own wording (dataset titles, descriptions and caveats; sources; events), which
    keeps its language on Spanish pages."""
    from db import queries

    engine = app.server.extensions["ironriver"].engine
    infos = queries.dataset_infos(engine)
    found = {str(v) for column in ("title", "description") for v in infos[column].dropna()}
    found |= {str(c) for caveats in infos["caveats"].dropna() for c in caveats}
    for frame in (queries.sources(engine), queries.events(engine)):
        found |= {str(v) for column in frame for v in frame[column].dropna()}
    return found


def untranslated_messages(
    tree: object, files: list[str], data: set[str] = frozenset()
) -> list[str]:  # type: ignore[assignment]
    """Messages of `files` whose Spanish differs that appear in English in `tree` (the data's
    own wording, `data`, aside): a whole string or hover line equal to the message, or a
    message with placeholders (filled by anything) inside one."""
    translations = i18n.translations()
    wanted = {m for m in written_by(files) if translations.get(m, m) != m}
    patterns = [
        re.compile(".+?".join(re.escape(part) for part in i18n.PLACEHOLDER.split(m)))
        for m in wanted
        if i18n.PLACEHOLDER.search(m) and len(i18n.PLACEHOLDER.sub("", m)) >= 12
    ]
    found = set()
    for shown in shown_strings(tree):
        if shown in data:
            continue
        lines = [line.strip() for line in re.split(r"<br>|</?b>|</?sub>", shown)]
        found.update(line for line in lines if line in wanted)
        found.update(p.pattern for p in patterns if p.search(shown))
    return sorted(found)


def page_links(node: object, inside: str = "") -> list[str]:
    """Hrefs of links to app pages written by these pages: not the language switch (English on
    purpose), the API or chart images, same-page anchors, or the shared chart footer."""
    found: list[str] = []
    if isinstance(node, dict):
        props = node.get("props", {}) if "props" in node else {}
        classes = str(props.get("className") or "")
        if "chart-footer" in classes or "language-link" in classes:
            return []
        href = str(props.get("href") or "")
        if node.get("type") in ("Link", "A") and href.startswith("/"):
            found += [] if href.startswith(("/api/", "/chart/")) else [href]
        for value in node.values():
            found += page_links(value)
    elif isinstance(node, list):
        for value in node:
            found += page_links(value)
    return found


@pytest.mark.parametrize(
    ("path", "spanish"),
    [
        ("/es/estimates", ["El registro de estimaciones", "Por qué difiere", "respuestas:"]),
        ("/es/gc-armas", ["Dónde difieren los relatos", "Eventos mostrados", "Cuándo"]),
        (
            "/es/sources",
            ["Qué significa cada estatus", "Glosario", "Conjuntos de datos publicados"],
        ),
        ("/es/status", ["Ejecuciones recientes", "Inició (UTC)", "Duración", "cargada"]),
        ("/es/no-existe", ["Página no encontrada", "datos y fuentes"]),
    ],
)
def test_the_spanish_estimates_gc_sources_status_and_404_pages_read_in_spanish(
    app: Any, client: Any, path: str, spanish: list[str]
) -> None:
    content = draw(client, app, path)
    shown = " ".join(shown_strings(content))
    assert [s for s in spanish if s not in shown] == []
    assert untranslated_messages(content, PAGE_FILES_B, data_texts(app)) == []
    # Links to app pages keep the Spanish prefix (anchors on the same page need none).
    hrefs = page_links(content)
    assert hrefs and [h for h in hrefs if not h.startswith("/es/")] == []


def test_the_english_twins_of_these_pages_stay_english(app: Any, client: Any) -> None:
    content = draw(client, app, "/estimates")
    shown = " ".join(shown_strings(content))
    assert "The estimates ledger" in shown and "Why it differs" in shown
    assert "El registro de estimaciones" not in shown
    assert [h for h in page_links(content) if i18n.language_of(h) == "es"] == []


def test_the_spanish_estimates_chart_hovers_axis_and_summary_are_in_spanish(
    app: Any, client: Any
) -> None:
    content = draw(client, app, "/es/estimates", "?question=us_sourced_share")
    graphs = [n for n in components_in(content) if n.get("type") == "Graph"]
    assert graphs and all(g["props"]["config"]["locale"] == "es-MX" for g in graphs)
    hovers = " ".join(shown_strings([g["props"]["figure"] for g in graphs]))
    assert "Estatus: " in hovers and "Fuente: " in hovers and "Status: " not in hovers
    percent_axes = [g["props"]["figure"]["layout"]["xaxis"].get("ticksuffix") for g in graphs]
    assert "\u00a0%" in percent_axes
    summary = " ".join(
        s
        for n in components_in(content)
        if "chart-summary" in str(n.get("props", {}).get("className"))
        for s in shown_strings(n)
    )
    assert "respuestas:" in summary and "answers:" not in summary


def test_the_gc_armas_callback_shows_spanish_event_titles_on_spanish_pages(
    app: Any, client: Any
) -> None:
    from db import queries

    client.get("/es/gc-armas")
    output = next(k for k in app.callback_map if k.startswith("gc-view."))
    answers = {}
    for path in ("/gc-armas", "/es/gc-armas"):
        body = web.callback_body(app, output, [["gc_armas"], path])
        response = client.post(web.CALLBACK_PATH, json=body)
        assert response.status_code == 200, response.data[:300]
        answers[path] = response.json["response"]["gc-view"]["children"]
    events = queries.events(app.server.extensions["ironriver"].engine)
    gc = events[(events["kind"] == "gc_armas") & (events["title_es"].str.strip() != "")]
    spanish_cells = " ".join(shown_strings(web_find(answers["/es/gc-armas"], "gc-table")))
    english_cells = " ".join(shown_strings(web_find(answers["/gc-armas"], "gc-table")))
    differing = gc[gc["title_es"] != gc["title_en"]]
    assert len(differing)
    assert all(t in spanish_cells for t in differing["title_es"])
    assert not any(t in spanish_cells for t in differing["title_en"])
    # English pages keep showing both published titles.
    assert all(t in english_cells for t in differing["title_en"])
    assert all(t in english_cells for t in differing["title_es"])
    assert untranslated_messages(answers["/es/gc-armas"], PAGE_FILES_B, data_texts(app)) == []
    summary = " ".join(shown_strings(web_find(answers["/es/gc-armas"], "gc-summary")))
    assert "eventos con fecha" in summary


def test_every_glossary_source_id_is_a_source_in_the_database(app: Any) -> None:
    from dashboard import glossary
    from db import queries

    known = set(queries.sources(app.server.extensions["ironriver"].engine)["source_id"])
    cited = {s for term in glossary.terms() for s in term.source_ids}
    assert cited and sorted(cited - known) == []
    required = {"trace", "seizure", "forfeiture", "mexican-state", "long-guns", "handguns"}
    required |= {"straw-purchase", "time-to-crime", "us-sourced"}
    assert required <= {term.slug for term in glossary.terms()}


def test_the_catalogue_translates_each_glossary_term_with_the_glossary_word() -> None:
    from dashboard import glossary

    catalogue = [
        (english, spanish)
        for m in messages.load()
        if m.id
        for english, spanish in zip(m.id if m.pluralizable else (m.id,), forms(m), strict=True)
        if spanish
    ]
    checked, wrong = 0, []
    for term in glossary.terms():
        for english, spanish in catalogue:
            if re.search(term.match_en, english, re.IGNORECASE):
                checked += 1
                if not re.search(term.match_es, spanish, re.IGNORECASE):
                    wrong.append((term.term_es, english, spanish))
            # "decomiso" is a judicial forfeiture: never the word for a seizure.
            elif term.slug == "forfeiture" and re.search(term.match_es, spanish, re.IGNORECASE):
                wrong.append((term.term_es, english, spanish))
    assert checked >= 10 and wrong == []


@pytest.mark.parametrize(("path", "lang"), [("/sources", "en"), ("/es/sources", "es")])
def test_the_sources_page_shows_the_glossary_with_links_to_its_sources(
    app: Any, client: Any, path: str, lang: str
) -> None:
    from dashboard import glossary

    content = draw(client, app, path)
    anchor = glossary.anchor(lang)
    section = web_find(content, anchor)
    shown = " ".join(shown_strings(section["children"]))
    other = "en" if lang == "es" else "es"
    for term in glossary.terms():
        entry = web_find(section, f"{anchor}-{term.slug}")
        assert term.term(lang) in " ".join(shown_strings(entry["children"]))
        assert term.term(other) in json_text(entry)
        assert term.definition(lang) in shown
    hrefs = {p["href"] for p in links(section)}
    assert {f"#{s}" for t in glossary.terms() for s in t.source_ids} == hrefs
    # Every linked source has its entry on the same page to land on.
    assert all(web_find(content, h[1:]) for h in hrefs)
    unused = (
        "Ninguna fuente de los datos de Iron River usa este término."
        if lang == "es"
        else ("No source in Iron River's data uses this term.")
    )
    assert unused in shown


def json_text(node: object) -> str:
    import json

    return json.dumps(node, ensure_ascii=False)


def test_spanish_pages_name_their_view_in_spanish_for_tabs_and_shared_links(client: Any) -> None:
    page = page_html(client, "/es/estimates?question=us_sourced_share")
    title = re.search(r"<title>(.*?)</title>", page)
    description = re.search(r'<meta name="description" content="([^"]*)"', page)
    assert title and title.group(1).startswith("El registro de estimaciones: ")
    assert description and "respuestas:" in description.group(1)
    gc = page_html(client, "/es/gc-armas")
    assert "eventos con fecha" in gc and "<title>GC-Armas: el grupo de coordinación" in gc
    # A link with a parameter the page ignores names no view, in Spanish as in English.
    for path in ("/estimates?question=nope", "/es/estimates?question=nope"):
        assert "<title>Iron River</title>" in page_html(client, path)


def test_every_dataset_title_and_description_the_app_declares_has_its_spanish() -> None:
    from dashboard.dataset_words import DATASET_WORDS
    from db.datasets import DATASETS
    from etl.sources import REGISTRY

    declared = {w for s in REGISTRY for w in (s.title, s.description)}
    declared |= {d.title for d in DATASETS.values()}
    assert sorted(declared - set(DATASET_WORDS)) == []
    translations = i18n.translations()
    assert [w for w in declared if translations.get(w, w) == w] == []


def test_the_spanish_status_page_writes_dates_durations_and_run_states_in_words(
    loaded_db_url: str,
) -> None:
    from dashboard.app import create_app
    from db.engine import make_engine
    from db.settings import Settings
    from etl.runs import start_run

    start_run(make_engine(loaded_db_url), "embedded", "corridors", None)  # never finished
    app = create_app(Settings.from_env({"DATABASE_URL": loaded_db_url}))
    client = app.server.test_client()
    spanish = " ".join(shown_strings(draw(client, app, "/es/status")))
    # "29 nov 2026 12:57:19": Babel's es-MX medium date, then the UTC time.
    assert re.search(r"\b\d{1,2} [a-z]{3} \d{4} \d\d:\d\d:\d\d\b", spanish)
    assert re.search(r"\b\d+\.\d s\b", spanish)  # how long a run took
    for words in ("integrada", "cargada", "interrumpida", "al día", "1 fuente interrumpida"):
        assert words in spanish
    assert "interrumpida: el proceso terminó antes de que acabara la ejecución" in spanish
    english = " ".join(shown_strings(draw(client, app, "/status")))
    assert re.search(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d:\d\d\b", english)
    assert "1 interrupted source" in english and " loaded " in f" {english} "


def test_the_sources_page_writes_load_times_as_its_language_writes_dates(
    app: Any, client: Any
) -> None:
    spanish = " ".join(shown_strings(draw(client, app, "/es/sources")))
    english = " ".join(shown_strings(draw(client, app, "/sources")))
    iso = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\b")
    assert not iso.search(spanish) and not iso.search(english)
    assert re.search(r"\b\d{1,2} [a-z]{3} \d{4} \d\d:\d\d:\d\d\b", spanish)
    assert re.search(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d:\d\d\b", english)


# ---------------------------------------------------------------------------- plurals


def _events(count: int) -> Any:
    import pandas as pd

    dates = pd.to_datetime(["2019-08-01", "2021-03-01"][:count])
    return pd.DataFrame(
        {
            "status": ["UNVERIFIED"] * count,
            "date_start": dates,
            "date_label": ["Aug 2019", "Mar 2021"][:count],
        }
    )


def _cited(count: int) -> Any:
    import pandas as pd

    from dashboard import components

    ids = [f"S{n}" for n in range(components.SOURCES_SHOWN + count)]
    return pd.DataFrame({"source_id": ids}), pd.DataFrame(columns=["source_id"])


@pytest.mark.parametrize(
    ("lang", "count", "summary", "more"),
    [
        ("en", 1, "1 dated event, Aug 2019; 1 UNVERIFIED (hollow marker).", "and 1 more source"),
        (
            "en",
            2,
            "2 dated events from Aug 2019 to Mar 2021; 2 UNVERIFIED (hollow markers).",
            "and 2 more sources",
        ),
        ("es", 1, "1 evento con fecha, Aug 2019; 1 UNVERIFIED (marcador hueco).", "y 1 fuente más"),
        (
            "es",
            2,
            "2 eventos con fecha, de Aug 2019 a Mar 2021; 2 UNVERIFIED (marcadores huecos).",
            "y 2 fuentes más",
        ),
    ],
)
def test_a_count_of_one_reads_singular_and_of_two_plural_in_both_languages(
    lang: str, count: int, summary: str, more: str
) -> None:
    from dashboard import components
    from dashboard.views import gc_armas
    from tests.test_dashboard import texts as component_texts

    with i18n.use(lang):
        assert gc_armas._summary(_events(count)) == summary
        line = component_texts(components.source_line(*_cited(count)))
    assert f" {more} ." in line  # the texts of the line's parts, joined by spaces


def test_spanish_plural_forms_follow_the_catalogues_plural_rule() -> None:
    # es-MX: nplurals=2; plural=(n != 1), so 0 takes the plural as 2 does.
    assert messages.load().plural_forms == "nplurals=2; plural=(n != 1);"
    stale = (
        "{count} stale source: {sources}. Charts built on it carry a STALE mark.",
        "{count} stale sources: {sources}. Charts built on them carry a STALE mark.",
    )
    with i18n.use("es"):
        said = {n: i18n.ngettext(*stale, n).format(count=n, sources="X") for n in (0, 1, 2)}
    assert said[1].startswith("1 fuente desactualizada: X. Las gráficas basadas en ella ")
    assert said[2].startswith("2 fuentes desactualizadas: X. Las gráficas basadas en ellas ")
    assert said[0].startswith("0 fuentes desactualizadas")


def test_a_spanish_request_leaves_its_thread_in_the_language_it_found(client: Any) -> None:
    assert client.get("/es/trends?state=TX").status_code == 200
    assert i18n.language() == "en"
    with i18n.use("es"):
        assert client.get("/trends").status_code == 200
        assert i18n.language() == "es"


# ---------------------------------------------------------------------------- images and embeds


def embed_parts(client: Any, path: str) -> tuple[str, dict[str, Any]]:
    """An embed page's HTML and the figure it draws."""
    import json

    response = client.get(path)
    assert response.status_code == 200, path
    body = str(response.data.decode())
    figure = re.search(r'<script type="application/json" id="embed-figure">(.*?)</script>', body)
    assert figure, path
    return body, json.loads(figure.group(1).replace("<\\/", "</"))


def visible_text(body: str) -> list[str]:
    """The words of an HTML page between its tags (scripts and their data left out)."""
    from html import unescape

    body = re.sub(r"<script.*?</script>", "", body, flags=re.S)
    return [unescape(s).strip() for s in re.split(r"<[^>]+>", body) if s.strip()]


def test_the_spanish_embed_is_in_spanish_at_its_twin_url(client: Any) -> None:
    body, figure = embed_parts(client, "/es/embed/trends?state=TX")
    assert '<html lang="es">' in body
    words = visible_text(body)
    assert "Tendencias: Texas" in words and "Vista completa en Iron River" in words
    assert any(w.startswith("Estatus: ") and "versión de los datos " in w for w in words)
    assert not english_left(words + texts(figure))
    # The link back opens the Spanish page of the same view; the alternates name both embeds.
    assert 'href="http://localhost/es/trends?state=TX&' in body
    assert 'hreflang="en" href="http://localhost/embed/trends?state=TX&' in body
    assert 'hreflang="es" href="http://localhost/es/embed/trends?state=TX&' in body
    # plotly.js draws with its es-MX locale (Spanish months and modebar), as the pages do.
    assert 'data-locale="es-MX"' in body and '<script src="/assets/plotly-locale-es-mx.js">' in body
    response = client.get("/es/embed/trends?state=TX")
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]


def test_the_english_embed_is_unchanged_beside_its_spanish_twin(client: Any) -> None:
    body, _figure = embed_parts(client, "/embed/trends?state=TX")
    assert '<html lang="en">' in body and 'data-locale="en"' in body
    words = visible_text(body)
    assert "Trends: Texas" in words and "Full view on Iron River" in words
    assert any(w.startswith("Status: ") and "data version " in w for w in words)
    assert 'href="http://localhost/trends?state=TX&' in body
    assert "plotly-locale-es-mx" not in body
    # A page the embed does not know is refused in both languages.
    assert client.get("/es/embed/sources").status_code == 400
    assert client.get("/embed/sources").status_code == 400


@pytest.mark.parametrize(
    ("path", "lang"), [("/es/trends?state=TX", "es"), ("/trends?state=TX", "en")]
)
def test_a_page_offers_the_image_and_embed_of_its_own_language(
    app: Any, client: Any, path: str, lang: str
) -> None:
    page, search = path.split("?")
    content = draw(client, app, page, "?" + search)
    prefix = i18n.PREFIXES[lang]
    hrefs = {
        p["href"].split("&")[0] for p in links(content) if p.get("className") == "chart-image-link"
    }
    assert hrefs == {f"{prefix}/chart/trends.png?state=TX", f"{prefix}/chart/trends.svg?state=TX"}
    code = web_find(content, "trends-embed-code")["children"]
    assert f'src="http://localhost{prefix}/embed/trends?state=TX&' in code
    title = {"es": "Iron River: Tendencias (gráfica)", "en": "Iron River: Trends chart"}[lang]
    assert f'title="{title}"' in code
    preview = re.search(r'<meta property="og:image" content="([^"]+)">', page_html(client, path))
    assert preview and preview.group(1).startswith(f"http://localhost{prefix}/chart/trends.png?")


def test_a_spanish_chart_image_is_drawn_and_captioned_in_spanish(client: Any) -> None:
    from html import unescape

    from dashboard.images import read_text_chunks

    spanish = client.get("/es/chart/trends.svg?state=TX")
    english = client.get("/chart/trends.svg?state=TX")
    assert spanish.status_code == english.status_code == 200
    assert spanish.data != english.data
    assert spanish.headers["ETag"] != english.headers["ETag"]
    svg = unescape(spanish.get_data(as_text=True))
    assert "Tendencias: Texas" in svg and "Fuente" in svg and "Estatus: " in svg
    assert "versión de los datos " in svg and "http://localhost/es/trends?state=TX" in svg
    assert "Eventos" in svg  # the figure's own panel titles, from the Spanish page
    assert "data version" not in svg and "Status: " not in svg
    english_svg = unescape(english.get_data(as_text=True))
    assert "data version " in english_svg and "Trends: Texas" in english_svg
    png = client.get("/es/chart/map.png")
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    chunks = read_text_chunks(png.data)
    assert chunks["Comment"].startswith("Estatus: ") and "VERIFIED" in chunks["Comment"]
    assert chunks["Title"].startswith("De dónde vienen las armas rastreadas")
    assert chunks["URL"].startswith("http://localhost/es/?")


# ---------------------------------------------------------------------------- US state names

# Fundéu's "Estados Unidos: nombres de los estados": the traditional Spanish name where there is
# one; every other state keeps its name (Texas, California, Arizona, Nevada...).
SPANISH_STATE_NAMES = {
    "HI": "Hawái",
    "LA": "Luisiana",
    "MS": "Misisipi",
    "MO": "Misuri",
    "NH": "Nuevo Hampshire",
    "NJ": "Nueva Jersey",
    "NM": "Nuevo México",
    "NY": "Nueva York",
    "NC": "Carolina del Norte",
    "ND": "Dakota del Norte",
    "OR": "Oregón",
    "PA": "Pensilvania",
    "SC": "Carolina del Sur",
    "SD": "Dakota del Sur",
    "WV": "Virginia Occidental",
    "DC": "Distrito de Columbia",
}


def test_us_state_names_are_catalogue_messages_with_their_spanish_exonyms() -> None:
    from geo.states import state_names

    assert {"New Mexico", "Texas", "Pennsylvania"} <= set(messages.used())
    spanish = text.state_names("es")
    assert {code: spanish[code] for code in SPANISH_STATE_NAMES} == SPANISH_STATE_NAMES
    kept = set(state_names()) - set(SPANISH_STATE_NAMES)
    assert all(spanish[code] == state_names()[code] for code in kept)
    assert spanish["TX"] == "Texas" and spanish["02"] == "Baja California"
    assert text.state_names("en")["NM"] == "New Mexico"


def test_spanish_map_hovers_tables_and_state_list_use_spanish_state_names(
    app: Any, client: Any
) -> None:
    from tests.test_dashboard import page

    content = draw(client, app, "/es/")
    figure = web_find(content, "map-graph")["figure"]
    hovered = {str(c[0]) for t in figure["data"] for c in t.get("customdata") or [] if c}
    assert {"Nuevo México", "Carolina del Norte", "Pensilvania", "Texas"} <= hovered
    assert not hovered & {"New Mexico", "North Carolina", "Pennsylvania"}
    # The table of states with a figure links each Spanish name to its Spanish trend.
    table = {p["children"]: p["href"] for p in links(content) if "state=" in str(p["href"])}
    assert table["Nuevo México"] == "/es/trends?state=NM"
    # The list to open a state: Spanish names in Spanish alphabetical order, and each opens.
    names = [o["props"]["value"] for o in components_in(content) if o["type"] == "Option"]
    assert "Nuevo México" in names and "New Mexico" not in names
    assert names == sorted(names, key=text.state_sort_key)
    assert names.index("Nuevo León") < names.index("Nuevo México") < names.index("Oaxaca")
    typed = ("Nuevo México", "nuevo mexico", "New Mexico", "Carolina del Norte")
    assert [page("/").state_code_of(n) for n in typed] == ["NM", "NM", "NM", "NC"]
    english = draw(client, app, "/")
    hovered = {
        str(c[0])
        for t in web_find(english, "map-graph")["figure"]["data"]
        for c in t.get("customdata") or []
        if c
    }
    assert "New Mexico" in hovered and "Nuevo México" not in hovered


def test_spanish_trends_name_us_states_in_spanish_and_downloads_keep_the_data(
    app: Any, client: Any
) -> None:
    content = draw(client, app, "/es/trends", "?state=NM")
    assert "Tendencias: Nuevo México" in texts(content)
    options = web_find(content, "trends-state")["options"]
    # US states first, then Mexican states, each in Spanish alphabetical order.
    us = [o["label"] for o in options if o["value"].isalpha()]
    assert "Nuevo México (Estado de EE. UU.)" in us
    assert us == sorted(us, key=text.state_sort_key)
    # Values stay codes; a download is the view's data, the same in both languages.
    assert {o["value"] for o in options} >= {"NM", "TX"}
    import csv

    from geo.states import state_names

    download = client.get("/api/v1/traces-by-source-state.csv").get_data(as_text=True)
    rows = list(csv.DictReader(download.splitlines()))
    assert rows and all(r["state_name"] == state_names()[r["source_state"]] for r in rows)


# ---------------------------------------------------------------------------- hovers that count


def hover_text(trace: dict[str, Any], point: int) -> str:
    """What plotly.js shows on hovering `point`: the template with its customdata filled in."""
    custom = trace["customdata"][point]
    return re.sub(
        r"%\{customdata\[(\d+)\]\}", lambda m: str(custom[int(m.group(1))]), trace["hovertemplate"]
    )


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("en", "1 traced firearm<br>", "2 traced firearms<br>"),
        ("es", "1 arma rastreada<br>", "2 armas rastreadas<br>"),
    ],
)
def test_a_trace_files_hover_counts_one_firearm_and_two_firearms(
    lang: str, one: str, two: str
) -> None:
    import pandas as pd

    from dashboard import figures

    files = pd.DataFrame(
        {
            "file_checksum": ["abc123"] * 2,
            "trace_file": ["mexico-2023.csv"] * 2,
            "status": ["VERIFIED"] * 2,
            "year": [2021, 2022],
            "firearms": [1, 2],
            "us_sourced_pct": [100.0, 50.0],
        }
    )
    with i18n.use(lang):
        figure = figures.trends_figure(pd.DataFrame(), files, pd.DataFrame(), sources={})
    counts = next(t for t in figure["data"] if t.get("yaxis") == "y" and t.get("customdata"))
    assert hover_text(counts, 0).startswith(f"<b>2021</b>: {one}")
    assert hover_text(counts, 1).startswith(f"<b>2022</b>: {two}")
