"""The read API (SPEC §7): the converged state of each tenant and the status of each event, as JSON."""

from read_api.app import build_api_app
from read_api.serve import serve_api

__all__ = ["build_api_app", "serve_api"]
