"""Spanish as a first-class language: the catalogue is complete, every page has its `/es` twin,
and a Spanish page, its callbacks and its numbers read as Mexican readers expect."""

from __future__ import annotations

import re
from typing import Any

import dash
import pytest

from dashboard import i18n, messages, text
from dashboard.i18n import _
from tests.reliability import web

ENGLISH_PAGES = ["/", "/trends", "/estimates", "/gc-armas", "/sources", "/status"]
SPANISH_PAGES = ["/es/", "/es/trends", "/es/estimates", "/es/gc-armas", "/es/sources", "/es/status"]


# ---------------------------------------------------------------------------- the catalogue


def test_every_message_the_app_writes_has_its_spanish_entry() -> None:
    catalogue = messages.load()
    translated = {str(m.id) for m in catalogue if m.id and m.string and not m.fuzzy}
    missing = sorted(set(messages.used()) - translated)
    assert not missing, (
        f"{len(missing)} messages lack Spanish (run `make messages`): {missing[:10]}"
    )


def test_every_catalogue_entry_is_used_by_the_app() -> None:
    unused = sorted({str(m.id) for m in messages.load() if m.id} - set(messages.used()))
    assert not unused, (
        f"{len(unused)} unused catalogue entries (run `make messages`): {unused[:10]}"
    )


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    wrong = [
        (m.id, m.string)
        for m in messages.load()
        if m.id
        and sorted(i18n.PLACEHOLDER.findall(str(m.id)))
        != sorted(i18n.PLACEHOLDER.findall(str(m.string)))
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
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") in ("Link", "A"):
            found.append(node["props"])
        for value in node.values():
            found += links(value)
    elif isinstance(node, list):
        for value in node:
            found += links(value)
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


def components_in(node: object) -> list[dict[str, Any]]:
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

    catalogue = [(str(m.id), str(m.string)) for m in messages.load() if m.id and m.string]
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
    for words in ("integrada", "cargada", "interrumpida", "al día", "1 fuente(s) interrumpida(s)"):
        assert words in spanish
    assert "interrumpida: el proceso terminó antes de que acabara la ejecución" in spanish
    english = " ".join(shown_strings(draw(client, app, "/status")))
    assert re.search(r"\b[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d:\d\d\b", english)
    assert "1 source(s) interrupted" in english and " loaded " in f" {english} "
