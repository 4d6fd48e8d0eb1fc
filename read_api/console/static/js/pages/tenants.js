// Tenants: search by id, name or code; each result links to the tenant's page.
import { api, segment } from "../api.js";
import { clear, h } from "../dom.js";
import { reportError } from "../errors.js";
import { badge } from "../format.js";

export async function render(view, _params, query) {
  const search = query.get("search") || "";
  const input = h("input", { id: "tenant-search", name: "search", type: "search", value: search, autocomplete: "off", spellcheck: "false" });
  const form = h("form", { class: "search", role: "search", onSubmit: (event) => {
    event.preventDefault();
    window.location.hash = `#/tenants?search=${encodeURIComponent(input.value.trim())}`;
  } },
  h("label", { for: "tenant-search" }, "Tenant id, name or code"),
  h("div", { class: "inline" }, input, h("button", { type: "submit", class: "button-primary" }, "Search")));
  const results = h("div", { id: "tenant-results", "aria-live": "polite" });
  view.append(h("h1", {}, "Tenants"), form, results);

  try {
    const data = await api("/tenants", { query: { search } });
    clear(results);
    if (!data.tenants.length) {
      results.append(h("p", { class: "muted" }, search ? `No tenant matches “${search}”.` : "No tenants yet."));
      return undefined;
    }
    results.append(
      h("p", { class: "muted" }, search ? `${data.tenants.length} matching “${search}”` : `First ${data.tenants.length} tenants by id`),
      h("ul", { class: "result-list" }, data.tenants.map((tenant) =>
        h("li", {},
          h("a", { href: `#/tenants/${segment(tenant.tenantId)}`, class: "result-link", dataset: { tenantId: tenant.tenantId } },
            h("span", { class: "result-name" }, tenant.name || "(no name)"),
            h("span", { class: "mono muted" }, tenant.tenantId)),
          tenant.tenantCode ? h("span", { class: "muted" }, ` code ${tenant.tenantCode}`) : null,
          tenant.deleted ? badge("deleted") : null,
          tenant.hasRecord ? null : badge("none", "no tenant record")))));
  } catch (error) {
    clear(results);
    reportError(error, results, "Search failed");
  }
  return undefined;
}
