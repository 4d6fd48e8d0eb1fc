"""The operator console: a browser front end to the read API, shipped as package data (no build step)."""
