// How values read on the page: times, ages, counts and status badges.
import { h } from "./dom.js";

const TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });

/** An ISO time as a local date and time, in a <time> element carrying the exact value. */
export function time(iso) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const moment = new Date(iso);
  return h("time", { datetime: iso, title: iso }, TIME.format(moment));
}

export function clock(iso) {
  return CLOCK.format(iso ? new Date(iso) : new Date());
}

/** An instance's expireTime, yyyyMMddHHmmss[SSS] in UTC (SPEC §9), split so it can be read. */
export function expiry(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})?$/.exec(value);
  const shown = m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}` : value;
  return h("span", { class: "mono", title: `expireTime ${value} (UTC)` }, shown);
}

/** The platform's yyyyMMddHHmmssSSS (UTC+8), split so it can be read. */
export function platformTime(value) {
  if (!value) return h("span", { class: "muted" }, "—");
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{3})$/.exec(value);
  const shown = m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]}.${m[7]}` : value;
  return h("span", { class: "mono", title: `timeStamp ${value} (UTC+8)` }, shown);
}

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function count(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString();
}

export function rate(value) {
  if (value === null || value === undefined) return "—";
  return value >= 10 ? value.toFixed(0) : value.toFixed(2);
}

// Event statuses (SPEC §7) and ack states; the class picks the colour, the text always says it.
const TONES = {
  applied: "good", sent: "good", retried: "good",
  duplicate: "neutral", none: "neutral", unknown: "neutral", ack_owed: "neutral", ack_sent: "good",
  stale: "warn", pending: "warn", test: "info", accepted: "info",
  failed: "bad", dead_lettered: "bad", dead: "bad", dropped: "neutral",
  orphan: "warn", cycle: "bad", deleted: "bad",
  // Instances (SPEC §9).
  waiting: "warn", provisioning: "info", ready: "good", frozen: "warn", released: "neutral",
};

export function badge(value, label = value) {
  const tone = TONES[value] || "neutral";
  return h("span", { class: `badge badge-${tone}`, dataset: { value: String(value) } }, String(label).replaceAll("_", " "));
}

export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
