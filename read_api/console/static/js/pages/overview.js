// Overview: the pipeline at a glance, refreshed every few seconds while the page is shown.
import { api } from "../api.js";
import { INTERFACES, stackedBars } from "../chart.js";
import { append, clear, h } from "../dom.js";
import { reportError } from "../errors.js";
import { age, badge, clock, count, rate, time } from "../format.js";

// Often enough to watch a backlog drain, rarely enough that an open tab costs the database nothing.
const REFRESH_MS = 5000;
const STATUSES = ["applied", "duplicate", "stale", "test", "failed", "dead_lettered"];

export async function render(view) {
  const body = h("div", { id: "overview-body", "aria-busy": "true" });
  const updated = h("p", { class: "muted", id: "overview-updated" }, "Loading…");
  view.append(h("div", { class: "page-head" }, h("h1", {}, "Overview"), updated), body);

  let previousCalls = null; // {at, calls}: gateway counters of the previous refresh, for calls/s
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const data = await api("/overview");
      if (stopped) return;
      const now = Date.now();
      let gatewayRates = null;
      if (data.gatewayCalls && previousCalls) {
        const seconds = Math.max(0.001, (now - previousCalls.at) / 1000);
        gatewayRates = Object.fromEntries(
          Object.entries(data.gatewayCalls).map(([name, total]) => [name, Math.max(0, total - (previousCalls.calls[name] || 0)) / seconds]),
        );
      }
      previousCalls = data.gatewayCalls ? { at: now, calls: data.gatewayCalls } : null;
      append(clear(body), sections(data, gatewayRates));
      body.setAttribute("aria-busy", "false");
      updated.textContent = `Updated ${clock()} · refreshes every ${REFRESH_MS / 1000} s`;
    } catch (error) {
      if (stopped) return;
      updated.textContent = `Refresh failed at ${clock()}`;
      clear(body);
      reportError(error, body, "Could not load the overview");
    }
    if (!stopped) timer = window.setTimeout(refresh, REFRESH_MS);
  }

  await refresh();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

function sections(data, gatewayRates) {
  const finished = data.finished;
  return [
    h("div", { class: "cards" },
      statCard("Dead letters waiting", count(data.deadLetters.waiting),
        data.deadLetters.waiting ? h("a", { href: "#/dead-letters" }, `oldest ${age(data.deadLetters.oldestWaitingSeconds)} — review`) : "none waiting",
        data.deadLetters.waiting ? "bad" : "good", "dead-letters"),
      statCard("Ack backlog", count(data.acks.pending),
        `${count(data.acks.retrying)} retrying · oldest ${age(data.acks.oldestPendingSeconds)}`,
        data.acks.retrying ? "warn" : "good", "acks"),
      statCard("Uploads in parts", count(data.uploadsWaiting), "large calls still arriving", "neutral", "uploads"),
      lagCard(data.consumerLag),
      retentionCard(data.retention)),
    h("section", { class: "card", "aria-labelledby": "throughput-title" },
      h("h2", { id: "throughput-title" }, "Throughput"),
      stackedBars({ series: finished.byInterface, buckets: finished.buckets, bucketSeconds: finished.bucketSeconds }),
      rateTable(finished, data.gatewayCalls, gatewayRates)),
    h("section", { class: "card", "aria-labelledby": "statuses-title" },
      h("h2", { id: "statuses-title" }, `Events by status, last ${Math.round((finished.buckets.length * finished.bucketSeconds) / 60)} minutes`),
      h("ul", { class: "status-counts", id: "status-counts" },
        STATUSES.concat(Object.keys(finished.byStatus).filter((s) => !STATUSES.includes(s))).map((status) =>
          h("li", { dataset: { status } }, badge(status), h("strong", {}, count(finished.byStatus[status] || 0)))))),
    data.notes.length ? h("section", { class: "notes", "aria-label": "What this page cannot show" },
      data.notes.map((note) => h("p", { class: "muted" }, note))) : null,
  ];
}

function statCard(title, value, detail, tone, key) {
  return h("section", { class: `card stat stat-${tone}`, dataset: { stat: key } },
    h("h2", {}, title), h("p", { class: "stat-value" }, value), h("p", { class: "stat-detail" }, detail));
}

// What history is kept: the oldest event still there, and the horizon the latest prune applied.
function retentionCard(retention) {
  const events = retention.horizons && retention.horizons.events;
  const detail = events
    ? [`kept ${age(events.keptSeconds)} · horizon `, time(events.horizon), ` · pruned ${age(events.prunedAgoSeconds)} ago`]
    : "no prune has run yet: the workers run one at start";
  return h("section", { class: `card stat stat-${events ? "good" : "neutral"}`, dataset: { stat: "retention" } },
    h("h2", {}, "Oldest event kept"),
    h("p", { class: "stat-value" }, retention.oldestEventAt ? `${age(retention.oldestEventAgeSeconds)} ago` : "none"),
    h("p", { class: "stat-detail" }, detail));
}

function lagCard(lag) {
  if (lag === null) {
    return h("section", { class: "card stat stat-neutral", dataset: { stat: "lag" } },
      h("h2", {}, "Consumer lag"), h("p", { class: "stat-value muted" }, "n/a"),
      h("p", { class: "stat-detail" }, "measured by the workers, not this process"));
  }
  const total = lag.reduce((sum, partition) => sum + partition.lag, 0);
  return h("section", { class: `card stat stat-${total ? "warn" : "good"}`, dataset: { stat: "lag" } },
    h("h2", {}, "Consumer lag"), h("p", { class: "stat-value" }, count(total)),
    lag.length
      ? h("details", { class: "stat-detail" }, h("summary", {}, `${lag.length} partitions`),
        h("table", { class: "compact" },
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Partition"), h("th", { scope: "col" }, "Records behind"))),
          h("tbody", {}, lag.map((p) => h("tr", {}, h("td", {}, `${p.topic}:${p.partition}`), h("td", { class: "num" }, count(p.lag)))))))
      : h("p", { class: "stat-detail" }, "no partition assigned yet"));
}

function rateTable(finished, gatewayCalls, gatewayRates) {
  const names = new Set([...Object.keys(finished.byInterface), ...Object.keys(gatewayCalls || {})]);
  // "unknown" (a path naming no interface) is only worth a row when something was counted under it.
  if (!finished.byInterface.unknown && !(gatewayCalls && gatewayCalls.unknown)) names.delete("unknown");
  const ordered = [...INTERFACES.filter((n) => names.has(n)), ...[...names].filter((n) => !INTERFACES.includes(n))];
  const gatewayHeading = gatewayCalls ? "Gateway calls/s" : "Gateway calls/s (not in this process)";
  return h("div", { class: "table-wrap" },
    h("table", { class: "rates", id: "rates" },
      h("caption", { class: "visually-hidden" }, "Rates by interface"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Interface"),
        h("th", { scope: "col", class: "num" }, gatewayHeading),
        h("th", { scope: "col", class: "num" }, `Finished/s (last ${finished.perSecondOverSeconds} s)`))),
      h("tbody", {}, ordered.length
        ? ordered.map((name) => h("tr", { dataset: { interface: name } },
          h("th", { scope: "row" }, name),
          h("td", { class: "num" }, gatewayCalls ? (gatewayRates ? rate(gatewayRates[name] || 0) : "…") : "—"),
          h("td", { class: "num" }, rate(finished.perSecondByInterface[name] || 0))))
        : h("tr", {}, h("td", { colspan: "3", class: "muted" }, "No events finished in the window.")))));
}
