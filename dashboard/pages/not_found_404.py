"""The page Dash shows for an unknown path reached by in-app navigation (the server sends a 404)."""

from dash import dcc, html

from dashboard.i18n import N_
from dashboard.site import register_page

register_page(__name__, path=None, title=N_("Iron River · Page not found"), name=N_("Not found"))


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
