"""One module per page, registered with Dash Pages."""
