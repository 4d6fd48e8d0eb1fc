"""The operator console: its JSON routes, their queries and views, and the static single-page site."""
