"""The page Dash shows for an unknown path reached by in-app navigation (the server sends a 404)."""

import dash
from dash import dcc, html

dash.register_page(__name__, title="Iron River · Not found", name="Not found")


def layout(**_query: object) -> html.Div:
    return html.Div(
        [
            html.H1("Page not found"),
            html.P(
                [
                    "Try the ",
                    dcc.Link("map", href="/"),
                    " or the ",
                    dcc.Link("data and sources", href="/sources"),
                    ".",
                ]
            ),
        ],
        className="page page-not-found",
    )
