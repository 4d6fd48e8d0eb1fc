// One event: its envelope, payload (secrets redacted by the API), status history, acks, dead letters.
import { api, ApiError, idPath, segment } from "../api.js";
import { append, h } from "../dom.js";
import { badge, platformTime, time } from "../format.js";
import { table } from "./tenant.js";

export async function render(view, [eventId]) {
  let detail;
  try {
    const where = idPath("/events", "eventId", eventId, "/detail");
    detail = await api(where.path, { query: where.query });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      view.append(h("h1", {}, "Event not found"), h("p", {}, `The pipeline has no event ${eventId}.`));
      return undefined;
    }
    throw error;
  }
  // An instance call (SPEC §9) belongs to its instance, a sync call to its tenant.
  const ofInstance = !detail.tenantId && detail.instanceId;
  const owner = ofInstance
    ? [h("a", { href: "#/instances" }, "Instances"), " / ", h("a", { href: `#/instances/${segment(detail.instanceId)}`, id: "event-instance" }, detail.instanceId)]
    : [h("a", { href: "#/tenants" }, "Tenants"), " / ", h("a", { href: `#/tenants/${segment(detail.tenantId)}`, id: "event-tenant" }, detail.tenantId)];
  append(view, [
    h("div", { class: "page-head" },
      h("p", { class: "crumbs" }, owner, " / event"),
      h("h1", {}, detail.interface || "Event", " ", h("span", { id: "event-status" }, badge(detail.status))),
      detail.reason ? h("p", { class: "reason", id: "event-reason" }, detail.reason) : null),
    h("section", { class: "card", "aria-labelledby": "envelope-title" },
      h("h2", { id: "envelope-title" }, "Envelope"),
      h("dl", { class: "facts" },
        fact("Event id", h("span", { class: "mono" }, detail.eventId)),
        ofInstance ? fact("Instance", h("span", { class: "mono" }, detail.instanceId)) : fact("Tenant", detail.tenantId),
        fact("Interface", detail.interface || "—"),
        fact("timeStamp", platformTime(detail.timeStamp)),
        fact("Test call", detail.testFlag ? "yes (testFlag=1): changes nothing" : "no"),
        fact("Accepted", time(detail.acceptedAt)),
        fact("Finished", time(detail.finishedAt)),
        fact("Kafka record", detail.kafka ? h("span", { class: "mono" }, `partition ${detail.kafka.partition}, offset ${detail.kafka.offset}`) : "—"),
        fact("Re-sent", detail.duplicates ? `${detail.duplicates} times (duplicates, applied once)` : "never"),
        detail.partsWaiting ? fact("Parts held", `${detail.partsWaiting} (upload not complete)`) : null)),
    historySection(detail.history),
    acksSection(detail.acks, detail.acksPruned),
    deadLettersSection(detail),
    payloadSection(detail)]);
  return undefined;
}

function fact(term, value) {
  return h("div", {}, h("dt", {}, term), h("dd", {}, value));
}

function historySection(history) {
  return h("section", { class: "card", "aria-labelledby": "history-title" },
    h("h2", { id: "history-title" }, "Status history"),
    history.length
      ? h("ol", { class: "timeline", id: "event-history" }, history.map((step) =>
        h("li", { dataset: { status: step.status } }, time(step.at), " ", badge(step.status), " ", h("span", {}, step.note))))
      : h("p", { class: "muted" }, "Nothing recorded yet."));
}

function acksSection(acks, pruned) {
  const content = acks.length
    ? table("acks-table", ["Ack", "Reports", "State", "Attempts", "Owed since", "Sent", "Last error"], acks.map((ack) => [
      String(ack.ackId),
      [badge(ack.status || "unknown"), ack.resultCode ? h("span", { class: "mono small" }, ` ${ack.resultCode}`) : null],
      badge(ack.state, ack.state === "pending" ? "pending" : "sent"),
      String(ack.attempts),
      time(ack.createdAt),
      ack.sentAt ? time(ack.sentAt) : [h("span", { class: "muted" }, "next try "), time(ack.nextAttemptAt)],
      ack.lastError ? h("span", { class: "small" }, ack.lastError) : h("span", { class: "muted" }, "none"),
    ]))
    : h("p", { class: "muted" }, pruned
      ? "Acknowledged: its outbox rows were dropped after the sent-ack retention (SYNCPIPE_RETENTION_SENT_ACKS_HOURS)."
      : "No ack owed yet: the event has not reached a final status.");
  return h("section", { class: "card", "aria-labelledby": "acks-title", id: "event-acks" },
    h("h2", { id: "acks-title" }, "Acknowledgements to the platform"), content);
}

function deadLettersSection(detail) {
  if (!detail.deadLetters.length) return null;
  return h("section", { class: "card", "aria-labelledby": "event-dl-title" },
    h("h2", { id: "event-dl-title" }, "Dead letters"),
    table("event-dead-letters", ["Letter", "State", "Failures", "Reason", "Retried"], detail.deadLetters.map((letter) => [
      h("a", { href: `#/dead-letters?state=all&tenant=${encodeURIComponent(detail.tenantId)}` }, `#${letter.id}`),
      [badge(letter.state), letter.retryStatus ? [" → ", badge(letter.retryStatus)] : null],
      String(letter.failures),
      h("span", { class: "small" }, letter.reason),
      time(letter.retriedAt),
    ])));
}

function payloadSection(detail) {
  let shown;
  if (detail.payload !== null) shown = JSON.stringify(detail.payload, null, 2);
  else if (detail.payloadText !== null) shown = detail.payloadText;
  else shown = null;
  return h("section", { class: "card", "aria-labelledby": "payload-title" },
    h("h2", { id: "payload-title" }, "Payload"),
    h("p", { class: "muted small" }, "The call as archived after validation. Secrets (clientSecret and anything secret-like) are redacted by the API."),
    detail.payloadTruncated ? h("p", { class: "muted small" }, `Only the beginning of ${detail.payloadBytes.toLocaleString()} bytes is shown.`) : null,
    shown === null
      ? h("p", { class: "muted" }, "No payload archived (the record never decoded; see its dead letter).")
      : h("pre", { class: "payload", id: "event-payload", tabindex: "0", "aria-label": "Payload (JSON)" }, shown));
}
