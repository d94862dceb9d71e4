"""What Iron River writes about its own datasets, marked for the catalogue.

The titles and descriptions declared in `etl/sources/` (stored with each load) and `db/datasets.py`
are the app's words, not the data's: Spanish pages show them through `_()`. A test fails when a
declared title or description is missing here."""

from dashboard.i18n import N_

DATASET_WORDS = (
    N_("US and Mexican state codes"),
    N_(
        "USPS and FIPS codes of US states; INEGI CVE_ENT and ISO 3166-2 codes, official names and accepted aliases of Mexico's 32 states."
    ),
    N_("Sources"),
    N_(
        "Every publication a figure comes from, with its full citation, licence and caveats; secondary sources point at the source they cite."
    ),
    N_(
        "ATF traces of firearms recovered in Mexico, by year and period, each tagged with its release"
    ),
    N_(
        "Firearms recovered in Mexico and submitted to ATF for tracing, and how many were U.S.-sourced, per recovery year and multi-year period, from each ATF release and the reports that quote them."
    ),
    N_("US source states of firearms recovered in Mexico"),
    N_(
        "Counts and shares of firearms recovered in Mexico and traced to a U.S. state of purchase, per period and report; and, each labelled for what it is, a Foreign Ministry transit claim, one seizure's traced rifles and a four-country total, which are not such shares."
    ),
    N_("US-state to Mexican-state trafficking corridors, 2022-2023"),
    N_(
        "Successfully traced firearms by U.S. state of purchase and Mexican state of recovery (ATF National Firearms Commerce and Trafficking Assessment, Vol. IV)."
    ),
    N_("Firearms seized by Mexican state"),
    N_(
        "Firearms seized by Mexican federal authorities per state (FGR 2006-2024, the ranked top ten per administration and other state figures). Nine states have no published figure in the 2006-2024 series."
    ),
    N_("US counties and licensed dealers named as supply context"),
    N_(
        "U.S. counties named by Mexico's Foreign Ministry as sources of seized guns, and federal firearms licensee counts by state."
    ),
    N_("Types of traced firearms and time-to-crime"),
    N_(
        "Shares of pistols, rifles, revolvers and other types among firearms recovered in Mexico and traced, and average time-to-crime, per report."
    ),
    N_("National firearm seizures in Mexico by agency and year"),
    N_(
        "Weapons seized per year by SEDENA, PGR/FGR, INEGI's census of justice institutions and SSPC: context for how many recovered guns are ever traced."
    ),
    N_("Mérida Initiative funding for Mexico"),
    N_(
        "Appropriated, allocated and delivered Mérida Initiative funds for Mexico (USD millions), as cumulative milestones; no per-year table was readable."
    ),
    N_("Estimates of US-to-Mexico firearms trafficking"),
    N_(
        "The same questions (how many guns a year, what share of traced guns is U.S.-sourced, what the traffic is worth to U.S. sellers) answered by GAO, ATF, the Igarapé Institute / Justice in Mexico, the Mexican government and the 2019 Taskforce white paper, with ranges, methods and why they differ."
    ),
    N_("GC-Armas and US-Mexico arms-trafficking timeline"),
    N_(
        "GC-Armas creation, meetings, suspension and resumption (both origin accounts), ATF and GAO milestones, Mérida funding decisions, dialogues and court cases."
    ),
    N_("Denominators for rates: population and licensed dealers by state"),
    N_(
        "U.S. resident population by state (2020 Census apportionment results), Mexico's population by entidad federativa (INEGI Censo 2020) and federally licensed firearms dealers by U.S. state where published (8 states, Nov 2020); the denominators of every per-100,000 and per-100-dealer rate."
    ),
    N_("ATF traces of firearms recovered in Mexico"),
    N_("US-state to Mexican-state corridors"),
    N_("National firearm seizures in Mexico"),
    N_("US counties and licensed dealers"),
    N_("Estimates of trafficking: how many, what share, what value"),
    N_("Sources: every publication a figure comes from"),
    N_("Loaded traces by US source state"),
    N_("Loaded traces by Mexican recovery state"),
    N_("Loaded traces by firearm type"),
    N_("Loaded traces by time-to-crime band"),
    N_("Loaded traces by recovery year"),
)
