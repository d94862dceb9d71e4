"""Iron River's storage layer: settings, typed models, engine and migrations."""
