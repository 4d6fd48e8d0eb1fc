// One instance (SPEC §9): its status, expiry, plan, the orders that touched it, the merchant's appInfo
// (never its password) and its calls with their acks.
import { api, segment } from "../api.js";
import { append, h } from "../dom.js";
import { reportError } from "../errors.js";
import { badge, count, expiry, platformTime, shortId, time } from "../format.js";
import { table } from "./tenant.js";

const EVENTS_SHOWN = 200;
const STATUS_NOTES = {
  waiting: "Calls arrived before its newInstance: they wait for it.",
  provisioning: "Waiting for the merchant's application to give its appInfo (PUT /v1/instances/{id}/app-info).",
  frozen: "Frozen by the platform's latest updateInstanceStatus.",
  released: "Released: final, later calls change nothing.",
};

export async function render(view, [instanceId]) {
  const base = `/instances/${segment(instanceId)}`;
  const [instance, events] = await Promise.allSettled([api(base), api(`${base}/events`, { query: { limit: EVENTS_SHOWN } })]);
  if (instance.status === "rejected") {
    view.append(h("h1", {}, "Instance ", h("span", { class: "mono" }, shortId(instanceId))));
    reportError(instance.reason, view, "Could not load the instance");
    return undefined;
  }
  const it = instance.value;
  view.append(
    h("div", { class: "page-head" },
      h("h1", {}, "Instance ", h("span", { class: "mono" }, shortId(instanceId)), " ", badge(it.status)),
      STATUS_NOTES[it.status] ? h("p", { class: "muted" }, STATUS_NOTES[it.status]) : null,
      h("dl", { class: "facts" },
        fact("Instance id", h("span", { class: "mono", id: "instance-id" }, it.instanceId)),
        fact("Order", h("span", { class: "mono" }, it.orderId ? `${it.orderId} / ${it.orderLineId}` : "—")),
        fact("Expires (UTC)", expiry(it.expireTime)),
        fact("Scene", it.scene || "—"),
        fact("Plan", it.productId || "—"),
        fact("Ready since", time(it.readyAt)),
        fact("Released", time(it.releasedAt)),
        fact("Last change", time(it.lastChangeAt)))),
    card("instance-app-info", "App info", appInfo(it.appInfo)),
    card("instance-orders", `Orders ${count(it.orders.length)}`, it.orders.length
      ? table("orders-table", ["Order", "Order line"], it.orders.map((order) => [h("span", { class: "mono" }, order.orderId), h("span", { class: "mono" }, order.orderLineId)]))
      : h("p", { class: "muted" }, "No order yet.")),
    eventsCard(events));
  return undefined;
}

function fact(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

function card(id, title, content) {
  const headingId = `${id}-heading`;
  return append(h("section", { class: "card", id, "aria-labelledby": headingId }, h("h2", { id: headingId }, title)), [content]);
}

function appInfo(info) {
  if (!info) return h("p", { class: "muted" }, "None yet: the platform is told the instance is being provisioned.");
  return h("dl", { class: "facts" },
    fact("Front end", h("span", { class: "mono" }, info.frontEndUrl)),
    fact("Admin", h("span", { class: "mono" }, info.adminUrl || "—")),
    fact("User name", info.userName || "—"),
    fact("Password", info.passwordSet ? "set (never shown)" : "—"),
    fact("Memo", info.memo || "—"));
}

function eventsCard(result) {
  const container = card("instance-events", "Events", []);
  if (result.status === "rejected") {
    reportError(result.reason, container, "Could not load the events");
    return container;
  }
  const data = result.value;
  if (!data.events.length) return append(container, [h("p", { class: "muted" }, "No events.")]);
  const rows = [...data.events].reverse().map((event) => [
    time(event.at),
    event.interface,
    platformTime(event.timeStamp),
    badge(event.status),
    [badge(event.ack.state, `ack ${event.ack.state}`), event.ack.attempts > 1 ? h("span", { class: "muted small" }, ` ${event.ack.attempts} tries`) : null],
    h("a", { href: `#/events/${segment(event.eventId)}`, class: "mono event-link", dataset: { eventId: event.eventId } }, shortId(event.eventId)),
  ]);
  return append(container, [
    table("instance-events-table", ["Accepted", "Activity", "Signed", "Status", "Ack", "Event"], rows),
    data.more ? h("p", { class: "muted small" }, `The newest ${data.events.length} events are shown.`) : null,
  ]);
}
