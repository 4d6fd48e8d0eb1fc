// The console's shell: sign-in, sign-out and the hash router that shows one page at a time.
//
// Routes: #/overview, #/tenants?search=, #/tenants/{tenantId}, #/events/{eventId},
// #/instances?status=, #/instances/{instanceId}, #/dead-letters?state=&tenant=. A page is a module exporting `render(view, params, query)`, which
// may return a function to call when the operator leaves it (to stop a refresh timer).
import { api, forgetToken, storedToken, storeToken, Unauthorized } from "./api.js";
import { clear, h } from "./dom.js";
import { reportError } from "./errors.js";
import * as deadLetters from "./pages/dead_letters.js";
import * as event from "./pages/event.js";
import * as instance from "./pages/instance.js";
import * as instances from "./pages/instances.js";
import * as overview from "./pages/overview.js";
import * as tenant from "./pages/tenant.js";
import * as tenants from "./pages/tenants.js";

const ROUTES = [
  { pattern: /^\/overview$/, page: overview, section: "overview" },
  { pattern: /^\/tenants$/, page: tenants, section: "tenants" },
  { pattern: /^\/tenants\/([^/]+)$/, page: tenant, section: "tenants" },
  { pattern: /^\/events\/([^/]+)$/, page: event, section: "tenants" },
  { pattern: /^\/instances$/, page: instances, section: "instances" },
  { pattern: /^\/instances\/([^/]+)$/, page: instance, section: "instances" },
  { pattern: /^\/dead-letters$/, page: deadLetters, section: "dead-letters" },
];

const view = () => document.getElementById("view");
let leavePage = null;
let visits = 0;

function parseHash() {
  const raw = window.location.hash.replace(/^#/, "") || "/overview";
  const [path, search = ""] = raw.split("?");
  return { path, query: new URLSearchParams(search) };
}

function showSignIn(message = "") {
  forgetToken();
  stopPage();
  visits += 1; // a page still loading is abandoned
  clear(view());
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("sign-in").hidden = false;
  document.getElementById("sign-in-error").textContent = message;
  const input = document.getElementById("token");
  input.value = "";
  input.focus();
}

function stopPage() {
  if (typeof leavePage === "function") leavePage();
  leavePage = null;
}

async function route() {
  if (!storedToken()) {
    showSignIn();
    return;
  }
  document.getElementById("sign-in").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  stopPage();
  const { path, query } = parseHash();
  const match = ROUTES.map((r) => ({ route: r, found: r.pattern.exec(path) })).find((m) => m.found);
  for (const link of document.querySelectorAll("#nav a")) {
    if (match && link.dataset.section === match.route.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  // Each visit renders into a container of its own: a page still loading when the operator moves on
  // fills a detached element, never the next page.
  const container = h("div");
  clear(view()).append(container);
  const visit = ++visits;
  if (!match) {
    container.append(h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, "No such page. ", h("a", { href: "#/overview" }, "Go to the overview.")));
    focusHeading(container);
    return;
  }
  const params = match.found.slice(1).map((part) => decodeURIComponent(part));
  try {
    const leave = await match.route.page.render(container, params, query);
    if (visit !== visits) {
      if (typeof leave === "function") leave();
      return;
    }
    leavePage = leave;
  } catch (error) {
    reportError(error, container, "Could not load this page");
  }
  if (visit === visits) focusHeading(container);
}

function focusHeading(container) {
  const heading = container.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

window.addEventListener("syncpipe:unauthorized", () => showSignIn("The API refused the token: sign in again."));

async function signIn(submitEvent) {
  submitEvent.preventDefault();
  const input = document.getElementById("token");
  const errorLine = document.getElementById("sign-in-error");
  const token = input.value.trim();
  if (!token) {
    errorLine.textContent = "Enter the token.";
    input.focus();
    return;
  }
  errorLine.textContent = "Checking…";
  try {
    // Any /v1 read tells whether the token is right; the smallest one.
    await api("/tenants", { query: { limit: 1 }, token });
  } catch (error) {
    errorLine.textContent = error instanceof Unauthorized ? "That token was refused." : `Cannot reach the API: ${error.message}`;
    input.select();
    return;
  }
  storeToken(token);
  input.value = "";
  errorLine.textContent = "";
  route();
}

document.getElementById("sign-in-form").addEventListener("submit", signIn);
document.getElementById("sign-out").addEventListener("click", () => {
  showSignIn("Signed out.");
});
window.addEventListener("hashchange", route);
route();
