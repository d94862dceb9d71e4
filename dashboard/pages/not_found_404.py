"""The page Dash shows for an unknown path reached by in-app navigation (the server sends a 404)."""

from dash import dcc, html

from dashboard import i18n
from dashboard.i18n import N_, _
from dashboard.site import register_page

register_page(__name__, path=None, title=N_("Iron River · Page not found"), name=N_("Not found"))


def layout(**_query: object) -> html.Div:
    return html.Div(
        [
            html.H1(_("Page not found")),
            html.P(
                [
                    _("Try the "),
                    dcc.Link(_("map"), href=i18n.localised("/")),
                    _(" or the "),
                    dcc.Link(_("data and sources"), href=i18n.localised("/sources")),
                    ".",
                ]
            ),
        ],
        className="page page-not-found",
    )
