// Dead letters: why each event could not apply, its record (redacted), and retry or drop, one by
// one or many at once, each after a confirmation.
import { api, segment } from "../api.js";
import { confirmAction } from "../confirm.js";
import { announce, append, clear, h } from "../dom.js";
import { reportError } from "../errors.js";
import { badge, count, shortId, time } from "../format.js";

const STATES = [["dead", "Waiting"], ["retried", "Retried"], ["dropped", "Dropped"], ["all", "All"]];

export async function render(view, _params, query) {
  const state = query.get("state") || "dead";
  const tenant = query.get("tenant") || "";
  const outcome = h("div", { id: "dead-letter-outcome", class: "outcome", "aria-live": "polite" });
  const listArea = h("div", { id: "dead-letter-list" });
  view.append(h("h1", {}, "Dead letters"), filters(state, tenant), outcome, listArea);

  const selected = new Set();
  const reload = () => load(listArea, outcome, state, tenant, selected, reload);
  await reload();
  return undefined;
}

function filters(state, tenant) {
  const select = h("select", { id: "dl-state", name: "state" },
    STATES.map(([value, label]) => h("option", { value, selected: value === state }, label)));
  const input = h("input", { id: "dl-tenant", name: "tenant", type: "search", value: tenant, autocomplete: "off", spellcheck: "false" });
  return h("form", { class: "filters", onSubmit: (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ state: select.value });
    if (input.value.trim()) params.set("tenant", input.value.trim());
    window.location.hash = `#/dead-letters?${params}`;
  } },
  h("div", {}, h("label", { for: "dl-state" }, "State"), select),
  h("div", {}, h("label", { for: "dl-tenant" }, "Tenant id"), input),
  h("button", { type: "submit", class: "button-quiet" }, "Show"));
}

async function load(area, outcome, state, tenant, selected, reload) {
  area.setAttribute("aria-busy", "true");
  let data;
  try {
    data = await api("/dead-letters", { query: { state, tenantId: tenant } });
  } catch (error) {
    clear(area);
    reportError(error, area, "Could not load the dead letters");
    return;
  } finally {
    area.setAttribute("aria-busy", "false");
  }
  selected.clear();
  clear(area);
  const letters = data.deadLetters;
  const waiting = letters.filter((letter) => letter.state === "dead");
  const retrySelected = h("button", { type: "button", class: "button-primary", id: "retry-selected", disabled: true,
    onClick: () => retryMany([...selected], outcome, reload) }, "Retry selected");
  const updateBulk = () => {
    retrySelected.disabled = selected.size === 0;
    retrySelected.textContent = selected.size ? `Retry selected (${selected.size})` : "Retry selected";
  };
  area.append(h("div", { class: "bulk-bar" },
    h("p", { class: "muted" }, letters.length < data.total ? `Newest ${letters.length} of ${count(data.total)}` : `${count(data.total)} dead letter${data.total === 1 ? "" : "s"}`),
    retrySelected,
    h("button", { type: "button", class: "button-quiet", id: "retry-all", disabled: state !== "dead" || !data.total,
      onClick: () => retryAll(tenant, data.total, outcome, reload) }, tenant ? "Retry all waiting of this tenant" : "Retry all waiting")));
  if (!letters.length) {
    area.append(h("p", { class: "muted" }, state === "dead" ? "No dead letters waiting. Nothing is stuck." : "None."));
    return;
  }
  area.append(h("ul", { class: "letters" }, letters.map((letter) => letterItem(letter, selected, updateBulk, outcome, reload))));
  if (!waiting.length) retrySelected.hidden = true;
}

function letterItem(letter, selected, updateBulk, outcome, reload) {
  const checkboxId = `dl-select-${letter.id}`;
  const detailsArea = h("div", { class: "letter-record", hidden: true, id: `dl-record-${letter.id}` });
  const showButton = h("button", { type: "button", class: "button-quiet", "aria-expanded": "false", "aria-controls": detailsArea.id,
    onClick: () => toggleRecord(letter, showButton, detailsArea) }, "Show record");
  const waiting = letter.state === "dead";
  return h("li", { class: "card letter", dataset: { deadLetterId: String(letter.id), eventId: letter.eventId } },
    h("div", { class: "letter-head" },
      waiting ? h("input", { type: "checkbox", id: checkboxId, onChange: (event) => {
        if (event.target.checked) selected.add(letter.id); else selected.delete(letter.id);
        updateBulk();
      } }) : null,
      h("label", { for: waiting ? checkboxId : null, class: "letter-title" },
        `#${letter.id} · ${letter.interface}`),
      badge(letter.state === "dead" ? "dead_lettered" : letter.state, letter.state === "dead" ? "waiting" : letter.state),
      letter.retryStatus ? badge(letter.retryStatus, `retry: ${letter.retryStatus}`) : null),
    h("p", { class: "reason" }, letter.reason),
    h("dl", { class: "facts compact-facts" },
      fact("Tenant", h("a", { href: `#/tenants/${segment(letter.tenantId)}` }, letter.tenantId)),
      fact("Event", h("a", { href: `#/events/${segment(letter.eventId)}`, class: "mono" }, shortId(letter.eventId))),
      fact("Failures", String(letter.failures)),
      fact("Last failed", time(letter.failedAt)),
      fact("Source", h("span", { class: "mono small" }, `${letter.source.topic}:${letter.source.partition}:${letter.source.offset}`))),
    h("div", { class: "actions" },
      showButton,
      waiting ? h("button", { type: "button", class: "button-primary", dataset: { action: "retry" },
        onClick: () => retryOne(letter, outcome, reload) }, `Retry #${letter.id}`) : null,
      waiting ? h("button", { type: "button", class: "button-danger", dataset: { action: "drop" },
        onClick: () => dropOne(letter, outcome, reload) }, `Drop #${letter.id}`) : null),
    detailsArea);
}

function fact(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

async function toggleRecord(letter, button, area) {
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  button.textContent = open ? "Hide record" : "Show record";
  area.hidden = !open;
  if (!open || area.childElementCount) return;
  try {
    const detail = await api(`/dead-letters/${letter.id}`);
    const shown = detail.payload !== null ? JSON.stringify(detail.payload, null, 2) : detail.payloadText;
    append(area, [
      h("p", { class: "muted small" }, `Event status now: ${detail.eventStatus || "none"} · key ${detail.key || "—"} · ${detail.payloadBytes.toLocaleString()} bytes`
        + (detail.payloadTruncated ? " (beginning shown)" : "") + ". Secrets are redacted."),
      h("ul", { class: "headers" }, detail.headers.map((header) => h("li", {}, h("code", {}, header.name), " ", h("span", { class: "mono small" }, header.value)))),
      shown === null ? h("p", { class: "muted" }, "Empty record.") : h("pre", { class: "payload", tabindex: "0", "aria-label": `Record of dead letter ${letter.id}` }, shown)]);
  } catch (error) {
    reportError(error, area, "Could not load the record");
  }
}

function describe(result) {
  const event = result.eventId ? h("a", { href: `#/events/${segment(result.eventId)}`, class: "mono" }, shortId(result.eventId)) : null;
  return h("li", { dataset: { deadLetterId: String(result.id), result: result.result } },
    `#${result.id}: `, badge(result.result), event ? [" event ", event] : null, result.reason ? h("span", { class: "small" }, ` — ${result.reason}`) : null);
}

function showOutcome(outcome, title, results, remaining = 0) {
  clear(outcome).append(h("div", { class: "card outcome-card" },
    h("h2", {}, title),
    h("ul", { class: "outcome-list" }, results.map(describe)),
    remaining ? h("p", { class: "muted" }, `${remaining} more waiting: retry again to continue.`) : null));
  const resolved = results.filter((r) => r.resolved).length;
  announce(`${title}: ${resolved} of ${results.length} resolved.`);
}

async function act(outcome, reload, work) {
  try {
    await work();
  } catch (error) {
    clear(outcome);
    reportError(error, outcome, "The action failed");
    return;
  }
  await reload();
}

async function retryOne(letter, outcome, reload) {
  const ok = await confirmAction({
    title: `Retry dead letter #${letter.id}?`,
    text: `The record of event ${letter.eventId} (${letter.interface}, tenant ${letter.tenantId}) is decoded again and applied. If it still fails it stays here with the new reason.`,
    confirmLabel: "Retry",
  });
  if (!ok) return;
  await act(outcome, reload, async () => {
    const result = await api(`/dead-letters/${letter.id}/retry`, { method: "POST" });
    showOutcome(outcome, `Retried #${letter.id}`, [result]);
  });
}

async function dropOne(letter, outcome, reload) {
  const ok = await confirmAction({
    title: `Drop dead letter #${letter.id}?`,
    text: `Event ${letter.eventId} will never be applied. The letter is kept for audit but cannot be retried from the console afterwards.`,
    confirmLabel: "Drop",
    danger: true,
  });
  if (!ok) return;
  await act(outcome, reload, async () => {
    const result = await api(`/dead-letters/${letter.id}/drop`, { method: "POST" });
    clear(outcome).append(h("div", { class: "card outcome-card" }, h("h2", {}, `Dropped #${letter.id}`),
      h("ul", { class: "outcome-list" }, describe({ ...result, eventId: letter.eventId }))));
    announce(`Dead letter ${letter.id}: ${result.result}.`);
  });
}

async function retryMany(ids, outcome, reload) {
  if (!ids.length) return;
  const ok = await confirmAction({
    title: `Retry ${ids.length} dead letters?`,
    text: "Each record is decoded again and applied, one after the other. Those that still fail stay here.",
    confirmLabel: `Retry ${ids.length}`,
  });
  if (!ok) return;
  await act(outcome, reload, async () => {
    const answer = await api("/dead-letters/retry", { method: "POST", body: { ids } });
    showOutcome(outcome, `Retried ${ids.length} dead letters`, answer.results, answer.remaining);
  });
}

async function retryAll(tenant, total, outcome, reload) {
  const ok = await confirmAction({
    title: tenant ? `Retry every waiting dead letter of ${tenant}?` : "Retry every waiting dead letter?",
    text: `${total} letters are waiting. Each is decoded again and applied, in the order they were consumed.`,
    confirmLabel: "Retry all",
  });
  if (!ok) return;
  await act(outcome, reload, async () => {
    const body = tenant ? { all: true, tenantId: tenant } : { all: true };
    const answer = await api("/dead-letters/retry", { method: "POST", body });
    showOutcome(outcome, "Retried the waiting dead letters", answer.results, answer.remaining);
  });
}
