"""Iron River's dashboard: Dash pages, figures, the download API, and the dataset catalogue."""
