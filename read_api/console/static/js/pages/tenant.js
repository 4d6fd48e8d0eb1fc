// One tenant: its record, department tree, users with their apps, applications and event timeline.
import { api, ApiError, idPath, segment, Unauthorized } from "../api.js";
import { append, h } from "../dom.js";
import { reportError } from "../errors.js";
import { badge, count, platformTime, shortId, time } from "../format.js";
import { departmentTree } from "../tree.js";

const EVENTS_SHOWN = 200;

export async function render(view, [tenantId]) {
  const of = (rest, query = {}) => {
    const where = idPath("/tenants", "tenantId", tenantId, rest);
    return api(where.path, { query: { ...where.query, ...query } });
  };
  const [tenant, departments, users, applications, events] = await Promise.allSettled([
    of(""),
    of("/departments", { format: "tree" }),
    of("/users"),
    of("/applications"),
    of("/events", { limit: EVENTS_SHOWN }),
  ]);
  // A refused token fails every call alike: sign out once, show nothing.
  const refused = [tenant, departments, users, applications, events].find((r) => r.status === "rejected" && r.reason instanceof Unauthorized);
  if (refused) throw refused.reason;

  view.append(header(tenantId, tenant));
  const usersByDepartment = new Map();
  if (users.status === "fulfilled") {
    for (const user of users.value.users) usersByDepartment.set(user.orgCode, (usersByDepartment.get(user.orgCode) || 0) + 1);
  }
  view.append(
    section("departments", "Departments", departments, (data) => departmentsSection(data.departments, usersByDepartment)),
    section("users", "Users", users, (data) => usersSection(data.users)),
    section("applications", "Applications", applications, (data) => applicationsSection(data.applications)),
    section("events", "Events", events, (data) => eventsSection(data)),
  );
  return undefined;
}

function header(tenantId, result) {
  const head = h("div", { class: "page-head" });
  if (result.status === "fulfilled") {
    const t = result.value;
    head.append(
      h("h1", {}, t.name || tenantId, t.deleted ? badge("deleted") : null),
      h("dl", { class: "facts" },
        fact("Tenant id", h("span", { class: "mono", id: "tenant-id" }, tenantId)),
        fact("Code", t.tenantCode || "—"),
        fact("Domain", t.domainName || "—"),
        fact("Instance", h("span", { class: "mono" }, t.instanceId || "—")),
        fact("Order", h("span", { class: "mono" }, t.orderId || "—"))));
  } else if (result.reason instanceof ApiError && result.reason.status === 404) {
    head.append(h("h1", {}, tenantId),
      h("p", { class: "muted" }, "No tenant record: its tenantSync has not been applied (yet). What else the pipeline holds for it is below."));
  } else {
    head.append(h("h1", {}, tenantId));
    reportError(result.reason, head, "Could not load the tenant record");
  }
  return head;
}

function fact(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

function section(key, title, result, build) {
  const headingId = `section-${key}`;
  const container = h("section", { class: "card", "aria-labelledby": headingId, id: `tenant-${key}` });
  const heading = h("h2", { id: headingId }, title);
  container.append(heading);
  if (result.status === "rejected") {
    reportError(result.reason, container, `Could not load ${title.toLowerCase()}`);
    return container;
  }
  const { summary, content } = build(result.value);
  if (summary) heading.append(" ", h("span", { class: "muted count" }, summary));
  append(container, [content]);
  return container;
}

function departmentsSection(roots, usersByDepartment) {
  let total = 0;
  let orphans = 0;
  let cycles = 0;
  const walk = (nodes) => nodes.forEach((node) => {
    total += 1;
    orphans += node.orphan ? 1 : 0;
    cycles += node.cycle ? 1 : 0;
    walk(node.children);
  });
  walk(roots);
  if (!total) return { summary: "0", content: h("p", { class: "muted" }, "No departments.") };
  const { controls, list } = departmentTree(roots, usersByDepartment);
  const flags = [orphans ? badge("orphan", `${orphans} orphan${orphans > 1 ? "s" : ""}`) : null, cycles ? badge("cycle", `${cycles} in cycles`) : null];
  return { summary: count(total), content: [h("div", { class: "tree-head" }, controls, h("span", { class: "flags" }, flags)), list] };
}

function usersSection(users) {
  if (!users.length) return { summary: "0", content: h("p", { class: "muted" }, "No users.") };
  const headings = ["User name", "Name", "Department", "Role", "Enabled", "Apps"];
  return {
    summary: count(users.length),
    content: table("users-table", headings, users.map((user) => [
      h("span", { class: "mono" }, user.userName),
      user.name || "—",
      [h("code", {}, user.orgCode || "—"), user.orphan ? badge("orphan", "unknown department") : null],
      user.role || "—",
      user.enable === "false" ? badge("stale", "disabled") : "yes",
      user.authorizedApps.length ? user.authorizedApps.map((app) => h("span", { class: "chip" }, app)) : h("span", { class: "muted" }, "none"),
    ])),
  };
}

function applicationsSection(applications) {
  if (!applications.length) return { summary: "0", content: h("p", { class: "muted" }, "No applications.") };
  return {
    summary: count(applications.length),
    content: [
      table("applications-table", ["App id", "Client id", "Instance"], applications.map((app) => [
        h("span", { class: "mono" }, app.appId), h("span", { class: "mono" }, app.clientId), h("span", { class: "mono" }, app.instanceId || "—"),
      ])),
      h("p", { class: "muted small" }, "Client secrets are never shown."),
    ],
  };
}

function eventsSection(data) {
  if (!data.events.length) return { summary: "0", content: h("p", { class: "muted" }, "No events.") };
  const newestFirst = [...data.events].reverse();
  const rows = newestFirst.map((event) => [
    time(event.at),
    event.interface,
    platformTime(event.timeStamp),
    [badge(event.status), event.duplicates ? h("span", { class: "muted small" }, ` +${event.duplicates} dup`) : null],
    [badge(event.ack.state, `ack ${event.ack.state}`), event.ack.attempts > 1 ? h("span", { class: "muted small" }, ` ${event.ack.attempts} tries`) : null],
    h("a", { href: `#/events/${segment(event.eventId)}`, class: "mono event-link", dataset: { eventId: event.eventId } }, shortId(event.eventId)),
  ]);
  const notes = [];
  if (data.more) notes.push(h("p", { class: "muted small" }, `The newest ${data.events.length} events are shown.`));
  if (data.uploadsWaiting) notes.push(h("p", { class: "muted small" }, `${data.uploadsWaiting} large calls still arriving in parts.`));
  return {
    summary: data.more ? `newest ${data.events.length}` : count(data.events.length),
    content: [table("events-table", ["Accepted", "Interface", "timeStamp", "Status", "Ack", "Event"], rows), ...notes],
  };
}

/** A table whose rows turn into labelled cards on a narrow screen (the labels come from `data-label`). */
export function table(id, headings, rows) {
  return h("div", { class: "table-wrap" },
    h("table", { id, class: "stack" },
      h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, index) => h("td", { "data-label": headings[index] }, cell)))))));
}
