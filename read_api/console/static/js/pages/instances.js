// Instances (SPEC §9, the order lifecycle): newest first, filtered by status; each links to its page.
import { api, segment } from "../api.js";
import { clear, h } from "../dom.js";
import { reportError } from "../errors.js";
import { badge, count, expiry, shortId, time } from "../format.js";
import { table } from "./tenant.js";

const STATUSES = [["", "All"], ["waiting", "Waiting"], ["provisioning", "Provisioning"], ["ready", "Ready"], ["frozen", "Frozen"], ["released", "Released"]];
const SHOWN = 200;

export async function render(view, _params, query) {
  const status = query.get("status") || "";
  const select = h("select", { id: "instance-status", name: "status" },
    STATUSES.map(([value, label]) => h("option", { value, selected: value === status }, label)));
  const form = h("form", { class: "filters", onSubmit: (event) => {
    event.preventDefault();
    window.location.hash = select.value ? `#/instances?status=${encodeURIComponent(select.value)}` : "#/instances";
  } },
  h("div", {}, h("label", { for: "instance-status" }, "Status"), select),
  h("button", { type: "submit", class: "button-quiet" }, "Show"));
  const results = h("div", { id: "instance-results", "aria-live": "polite" });
  view.append(h("h1", {}, "Instances"), form, results);

  try {
    const data = await api("/instances", { query: { status, limit: SHOWN } });
    clear(results);
    if (!data.instances.length) {
      results.append(h("p", { class: "muted" }, status ? `No ${status} instance.` : "No instances yet."));
      return undefined;
    }
    results.append(
      h("p", { class: "muted" }, data.more ? `The newest ${data.instances.length}` : `${count(data.instances.length)} instances`),
      table("instances-table", ["Instance", "Status", "Order", "Expires (UTC)", "Plan", "Last change"], data.instances.map((instance) => [
        h("a", { href: `#/instances/${segment(instance.instanceId)}`, class: "mono instance-link", dataset: { instanceId: instance.instanceId } },
          shortId(instance.instanceId)),
        badge(instance.status),
        h("span", { class: "mono" }, instance.orderId || "—"),
        expiry(instance.expireTime),
        instance.productId || "—",
        time(instance.lastChangeAt),
      ])));
  } catch (error) {
    clear(results);
    reportError(error, results, "Could not load the instances");
  }
  return undefined;
}
