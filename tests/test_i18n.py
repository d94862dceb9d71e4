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
