"""One root for everything the read API refuses or cannot do; `app.py` maps each to its HTTP answer."""


class ReadApiError(Exception):
    """Root of the errors raised by `read_api`."""


class ApiNotConfigured(ReadApiError):
    """A setting the read API cannot start without is missing (the token, the database URL)."""


class InvalidRequest(ReadApiError):
    """The request itself is wrong (an id too long, an unknown option): answered 400."""


class NotFound(ReadApiError):
    """The thing asked for does not exist: answered 404."""


class Conflict(ReadApiError):
    """The request cannot be done in the state the thing is in (an instance waiting or released): 409."""


class DatabaseUnavailable(ReadApiError):
    """Postgres could not be reached or did not answer in time: answered 503, worth retrying."""
