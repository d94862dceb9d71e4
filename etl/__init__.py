"""Iron River's ETL: embedded published figures, eTrace-style trace files, and the `ironriver` CLI."""
