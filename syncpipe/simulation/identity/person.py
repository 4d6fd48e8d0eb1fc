"""A person signing in, as a browser without JavaScript would: what `syncpipe up --demo` checks.

`who_may_sign_in` picks, from what the read API serves, someone the synced state lets in; `sign_in_as`
follows the redirects from the sign-in service's login start through the simulated platform's login
page to the merchant's application, keeping cookies as a browser does.
"""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import aiohttp

from syncpipe.simulation.identity.server import SIGN_IN
from syncpipe.simulation.snapshot import TenantSnapshot

# Each hop is a local redirect; the callback waits for the platform at most its own timeout.
_HOP_TIMEOUT = aiohttp.ClientTimeout(total=30)


class Reached(NamedTuple):
    """Where the sign-in ended: the last URL and its HTTP status (an application page, or a refusal)."""

    url: str
    status: int
    text: str


def who_may_sign_in(snapshot: TenantSnapshot) -> tuple[str, str] | None:
    """(appId, userName) of an enabled user authorised for a bound app of a live tenant; None if nobody."""
    if snapshot.tenant is None or snapshot.tenant.get("deleted"):
        return None
    bound = {application["appId"] for application in snapshot.applications}
    for user in snapshot.users:
        apps = bound.intersection(user.get("authorizedApps", []))
        if user.get("enable") and apps:
            return min(apps), str(user["userName"])
    return None


async def sign_in_as(login_start_url: str, user_name: str) -> Reached:
    """Start at `login_start_url`, choose `user_name` on the platform's login page, follow to the end."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), timeout=_HOP_TIMEOUT) as session:
        async with session.get(login_start_url, allow_redirects=False) as started:
            login_page = started.headers.get("Location", "")
        if started.status != 303 or not login_page:
            return Reached(login_start_url, started.status, await started.text())
        # The app is in the login page's fragment, which the page's script reads: read it here instead.
        fragment_query = urlsplit(login_page).fragment.partition("?")[2]
        app_id = parse_qs(fragment_query).get("appId", [""])[0]
        platform = urlsplit(login_page)
        form = {"appId": app_id, "userName": user_name}
        sign_in_url = f"{platform.scheme}://{platform.netloc}{SIGN_IN}"
        async with session.post(sign_in_url, data=form, allow_redirects=False) as chosen:
            callback = chosen.headers.get("Location", "")
        if chosen.status != 302 or not callback:
            return Reached(sign_in_url, chosen.status, "")
        async with session.get(callback) as landed:  # the callback, then the application it redirects to
            return Reached(str(landed.url), landed.status, await landed.text())
