// Every data call of the console: the read API under /v1, with the bearer token typed at sign-in.
// The token lives in sessionStorage (this tab only, gone when it closes), never in a cookie, so no
// other site can make the browser send it.

const TOKEN_KEY = "read_api.console.token";

export class Unauthorized extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function storedToken() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  window.sessionStorage.removeItem(TOKEN_KEY);
}

/** The API's URL for `path` ("/overview" -> "/v1/overview"), relative to the page so a path prefix works. */
function apiUrl(path, query) {
  const url = new URL(`../v1${path}`, document.baseURI);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

/** JSON of GET (or `method`) `path`; Unauthorized on 401, ApiError with the API's message otherwise. */
export async function api(path, { method = "GET", query, body, token = storedToken() } = {}) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token || ""}` };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(apiUrl(path, query), init);
  let answer = null;
  try {
    answer = await response.json();
  } catch {
    answer = null;
  }
  if (response.status === 401) throw new Unauthorized(answer?.error || "the token was refused");
  if (!response.ok) throw new ApiError(response.status, answer?.error || `HTTP ${response.status}`);
  return answer;
}

/** `value` encoded as one segment of a #/… route (the fragment is never normalised: "." stays "."). */
export function segment(value) {
  return encodeURIComponent(value);
}

// What every URL parser removes from a path, percent-encoded too (%2E is a dot to it): such an id
// travels in the query, with "~" in its place (read_api/params.py).
const DOT_SEGMENTS = new Set([".", ".."]);

/**
 * The API path and query naming `id` under `collection` ("/tenants"), then `rest` ("/users"): `id` as one
 * path segment, or, for "." and "..", `~` and `?{name}=id`. Spread `query` into the call's own query.
 */
export function idPath(collection, name, id, rest = "") {
  if (DOT_SEGMENTS.has(id)) return { path: `${collection}/~${rest}`, query: { [name]: id } };
  return { path: `${collection}/${encodeURIComponent(id)}${rest}`, query: {} };
}
