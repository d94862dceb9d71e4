"""The API's error texts in the language the request's Accept-Language prefers, from the one catalogue."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard import i18n, messages
from dashboard.app import create_app
from db.settings import Settings

SPANISH = "es-MX,es;q=0.9,en;q=0.8"


def spanish(msgid: str, **values: object) -> str:
    """The catalogue's Spanish of `msgid` with `values`: what a Spanish error must read."""
    return i18n.translations()[msgid].format(**values)


# (URL, English body, Spanish body): every kind of error the API answers with.
ERRORS = [
    (
        "/api/v1/corridors.xls",
        "unknown format 'xls': use .csv, .json, .zip or .xlsx",
        spanish("unknown format {value}: use .csv, .json, .zip or .xlsx", value="'xls'"),
    ),
    (
        "/api/v1/no-such-dataset.csv",
        "unknown dataset 'no-such-dataset': see /api/v1/datasets.json",
        spanish("unknown dataset {value}: see /api/v1/datasets.json", value="'no-such-dataset'"),
    ),
    (
        "/api/v1/corridors.csv?bom=2",
        "bom must be 0 or 1",
        spanish("bom must be 0 or 1"),
    ),
    (
        "/api/v1/corridors.csv?year=abc&colour=red",
        "year=abc is not a year from 1 to 9999; unknown parameter colour",
        spanish(
            "{name}={value} is not a year from {first} to {last}",
            name="year",
            value="abc",
            first=1,
            last=9999,
        )
        + "; "
        + spanish("unknown parameter {name}", name="colour"),
    ),
    (
        "/api/v1/corridors.csv?state=zz!",
        "state=zz! is not a USPS or INEGI state code",
        spanish(
            "{name}={value} is not {what}",
            name="state",
            value="zz!",
            what=spanish("a USPS or INEGI state code"),
        ),
    ),
    (
        "/api/v1/sources.csv?year=2020",
        "dataset sources does not filter by year (it takes no filters)",
        spanish(
            "dataset {name} does not filter by {ignored} (it takes {takes})",
            name="sources",
            ignored="year",
            takes=spanish("no filters"),
        ),
    ),
    (
        "/api/v1/traces-by-source-state.csv?measure=per_capita",
        "measure 'per_capita' is not one of count, share, per_100k, per_100_dealers",
        spanish(
            "measure {value} is not one of {measures}",
            value="'per_capita'",
            measures="count, share, per_100k, per_100_dealers",
        ),
    ),
    (
        "/api/v1/nothing-here",
        "not found: see /api/v1/datasets.json",
        spanish("not found: see /api/v1/datasets.json"),
    ),
]


@pytest.mark.parametrize(("url", "english", "in_spanish"), ERRORS)
def test_each_api_error_reads_in_english_or_in_spanish_as_the_request_asks(
    client: Any, url: str, english: str, in_spanish: str
) -> None:
    for accept, text, lang in (("en-US,en;q=0.9", english, "en"), (SPANISH, in_spanish, "es")):
        response = client.get(url, headers={"Accept-Language": accept})
        assert response.status_code == (404 if "nothing-here" in url else 400)
        assert response.get_data(as_text=True) == text + "\n"
        assert response.headers["Content-Language"] == lang
        assert "Accept-Language" in response.vary
    assert in_spanish != english


def test_the_row_limit_and_its_remedies_read_in_spanish(loaded_db_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": loaded_db_url, "IRONRIVER_EXPORT_MAX_ROWS": "1"})
    client = create_app(settings).server.test_client()
    filtered = client.get("/api/v1/trace-totals.csv", headers={"Accept-Language": "es"})
    count = int(filtered.get_data(as_text=True).split()[0])
    assert filtered.status_code == 400 and count > 1
    assert (
        filtered.get_data(as_text=True)
        == spanish(
            "{count} rows exceed the limit of {limit}; {remedy}",
            count=count,
            limit=1,
            remedy=spanish("narrow the filters"),
        )
        + "\n"
    )
    whole = client.get("/api/v1/sources.csv", headers={"Accept-Language": "es"})
    assert whole.status_code == 400
    assert whole.get_data(as_text=True).endswith(
        spanish("this dataset takes no filters; use `ironriver export {name}`", name="sources")
        + "\n"
    )
    english = client.get("/api/v1/sources.csv")
    assert english.get_data(as_text=True).endswith(
        "this dataset takes no filters; use `ironriver export sources`\n"
    )


@pytest.mark.parametrize(
    ("accept", "lang"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("es-419", "es"),
        ("en;q=0.5,es;q=0.9", "es"),  # a lower q-value loses, whatever the order
        ("es;q=0.5,en;q=0.9", "en"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,es;q=0.5", "es"),  # the first language we write
        ("fr-FR,fr;q=0.9", "en"),  # none we write: English
        ("de, *;q=0.1", "en"),
        ("es;q=0", "en"),  # q=0 is "not this one"
        ("", "en"),
    ],
)
def test_the_error_language_follows_the_q_values_and_falls_back_to_english(
    client: Any, accept: str, lang: str
) -> None:
    response = client.get("/api/v1/corridors.csv?bom=2", headers={"Accept-Language": accept})
    assert response.status_code == 400
    assert response.headers["Content-Language"] == lang
    expected = "bom must be 0 or 1" if lang == "en" else spanish("bom must be 0 or 1")
    assert response.get_data(as_text=True) == expected + "\n"


def test_no_error_answer_is_kept_for_a_request_in_another_language(client: Any) -> None:
    url = "/api/v1/corridors.csv?year=abc"
    answers = [
        client.get(url, headers={"Accept-Language": accept}).get_data(as_text=True)
        for accept in ("es", "en", "es", "en")
    ]
    assert answers[0] == answers[2] != answers[1] == answers[3]
    response = client.get(url, headers={"Accept-Language": "es"})
    assert "ETag" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_downloads_are_the_same_bytes_and_etag_in_every_language(client: Any) -> None:
    for url in ("/api/v1/source-states.csv?state=TX", "/api/v1/source-states.json"):
        english = client.get(url)
        in_spanish = client.get(url, headers={"Accept-Language": SPANISH})
        assert in_spanish.status_code == english.status_code == 200
        assert in_spanish.data == english.data
        assert in_spanish.headers["ETag"] == english.headers["ETag"]
        assert "Content-Language" not in in_spanish.headers


def test_every_api_error_template_is_a_translated_catalogue_message() -> None:
    used = messages.used()
    templates = [
        "unknown format {value}: use .csv, .json, .zip or .xlsx",
        "unknown dataset {value}: see /api/v1/datasets.json",
        "bom must be 0 or 1",
        "not found: see /api/v1/datasets.json",
        "{count} rows exceed the limit of {limit}; {remedy}",
        "narrow the filters",
        "this dataset takes no filters; use `ironriver export {name}`",
        "dataset {name} does not filter by {ignored} (it takes {takes})",
        "no filters",
        "measure {value} is not one of {measures}",
    ]
    for template in templates:
        assert template in used, template
        assert i18n.translations().get(template, template) != template, template
