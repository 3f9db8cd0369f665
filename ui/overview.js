// @ts-check
// The overview: everything from the engine is inserted as text, never as HTML.
import { call, on } from "./ipc.js";
import { byId, el } from "./dom.js";
import { dur, since, stateWords } from "./format.js";

/** @typedef {import("./types").Overview} Overview */
/** @typedef {import("./types").AlertView} AlertView */
/** @typedef {import("./types").ServiceRow} ServiceRow */
/** @typedef {import("./types").ChatView} ChatView */
/** @typedef {import("./types").RuleView} RuleView */
/** @typedef {import("./types").HistoryView} HistoryView */
/** @typedef {import("./types").AgentsPage} AgentsPage */

/** Critical alerts already read out to a screen reader. */
const announced = new Set();

/** @type {string | null} */
let shownAlerts = null;

// The alerts list is rebuilt only when an alert changed; otherwise only the "… ago" times move,
// so keyboard focus and the element a person is about to click stay where they are.
/**
 * @param {AlertView[]} alerts
 * @param {number} snoozeMinutes
 */
function renderAlerts(alerts, snoozeMinutes) {
  const list = byId("alerts", HTMLUListElement);
  const sig = JSON.stringify(alerts);
  if (sig === shownAlerts) {
    for (const m of list.querySelectorAll(".meta")) {
      if (m instanceof HTMLElement) m.textContent = `${m.dataset.state} · ${since(Number(m.dataset.since))}`;
    }
    return;
  }
  shownAlerts = sig;
  const focused = document.activeElement;
  const refocus = focused instanceof HTMLElement && focused.dataset.action
    ? { alert: focused.closest("li")?.dataset.alert, action: focused.dataset.action }
    : null;
  list.replaceChildren();
  for (const a of alerts) {
    const id = `${a.rule}/${a.key}`;
    const li = el("li", null, `alert ${a.severity} ${a.state}`);
    li.dataset.alert = id;
    const head = el("div", null, "alert-head");
    const meta = el("span", `${a.state} · ${since(a.since_unix)}`, "meta");
    meta.dataset.state = a.state;
    meta.dataset.since = String(a.since_unix);
    head.append(el("span", a.severity, "badge"), el("strong", a.title), meta);
    li.append(head);
    if (a.source) li.append(el("p", `From ${a.source}`, "source"));
    if (a.body) li.append(el("p", a.body, "body"));
    if (a.quiet) li.append(el("p", `Quiet: ${a.quiet}`, "quiet"));
    if (a.runbook && !a.runbook_is_link) li.append(el("p", `Runbook: ${a.runbook}`, "runbook"));
    const buttons = el("div", null, "buttons");
    const alert = { rule: a.rule, key: a.key };
    const ack = el("button", "Acknowledge");
    ack.dataset.action = "acknowledge";
    ack.addEventListener("click", () => call("acknowledge", { alert }));
    const snooze = el("button", `Snooze ${snoozeMinutes} min`);
    snooze.dataset.action = "snooze";
    snooze.addEventListener("click", () => call("snooze", { alert }));
    buttons.append(ack, snooze);
    if (a.runbook && a.runbook_is_link) {
      const runbook = el("button", "Open runbook");
      runbook.dataset.action = "runbook";
      runbook.title = a.runbook;
      runbook.addEventListener("click", () => call("open_runbook", { alert }));
      buttons.append(runbook);
    }
    li.append(buttons);
    list.append(li);
    if (refocus && refocus.alert === id) {
      (refocus.action === "snooze" ? snooze : ack).focus();
    }
    if (a.severity === "critical" && a.state === "firing" && !a.quiet && !announced.has(id)) {
      announced.add(id);
      byId("announce", HTMLDivElement).textContent = `Critical: ${a.title}`;
    }
  }
}

const SVG = "http://www.w3.org/2000/svg";

/**
 * A small line of calls waiting per minute, drawn with DOM calls (no markup strings).
 * @param {number[]} values
 */
function sparkline(values) {
  const w = 90, h = 18;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", values.length ? `calls waiting over ${values.length} min: ${values.join(", ")}` : "no trend yet");
  if (values.length > 1) {
    const max = Math.max(1, ...values);
    const pts = values.map((v, i) => `${(i * (w - 2)) / (values.length - 1) + 1},${h - 1 - (v * (h - 2)) / max}`);
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", pts.join(" "));
    line.setAttribute("class", "spark");
    svg.append(line);
  }
  return svg;
}

/** @param {ChatView[]} messages */
function renderChat(messages) {
  const list = byId("chat", HTMLUListElement);
  list.replaceChildren();
  byId("no-chat", HTMLParagraphElement).hidden = messages.length > 0;
  for (const m of messages) {
    const who = m.first_name ? `${m.first_name} ${m.last_name}` : m.login_id;
    const li = el("li", null, "chat-message");
    const when = m.send_time_unix === null ? "" : ` · ${since(m.send_time_unix)}`;
    li.append(el("strong", who), el("span", when, "meta"), el("p", m.content, "body"));
    list.append(li);
  }
}

/** @param {HistoryView[]} entries */
function renderHistory(entries) {
  const list = byId("history", HTMLOListElement);
  list.replaceChildren();
  for (const h of entries.slice(0, 20)) {
    const when = new Date(h.at_unix * 1000).toLocaleTimeString();
    list.append(el("li", `${when}  ${h.what}  ${h.title || h.key}`));
  }
}

/** @param {number | null} v */
function count(v) {
  return v === null ? "–" : v;
}

/** @param {ServiceRow[]} rows */
function renderServices(rows) {
  const table = byId("services", HTMLTableElement);
  const body = table.tBodies[0];
  body.replaceChildren();
  table.dataset.hot = String(rows.filter((s) => (s.waiting ?? 0) > 0 && s.ready === 0).length);
  for (const s of rows) {
    const tr = el("tr");
    const hot = (s.waiting ?? 0) > 0 && s.ready === 0;
    if (hot) tr.className = "hot";
    const name = el("th", s.name);
    name.setAttribute("scope", "row");
    const trend = el("td");
    trend.append(sparkline(s.trend));
    tr.append(
      name,
      el("td", count(s.waiting)),
      trend,
      el("td", dur(s.longest_wait_secs)),
      el("td", count(s.ready)),
      el("td", s.service_level_pct === null ? "–" : `${Math.round(s.service_level_pct)}%`),
      el("td", s.available === null ? "–" : (s.available ? "yes" : "NO")),
    );
    body.append(tr);
  }
}

/** What each rule's tests said, by rule id, kept across redraws. @type {Map<string, string>} */
const testResults = new Map();

/** @type {string | null} */
let shownRules = null;

/** @param {RuleView[]} rules */
function renderRules(rules) {
  const list = byId("rules", HTMLUListElement);
  const sig = JSON.stringify([rules, [...testResults]]);
  if (sig === shownRules) return;
  shownRules = sig;
  list.replaceChildren();
  for (const r of rules) {
    const li = el("li", null, r.error ? "rule broken" : "rule");
    li.dataset.rule = r.id;
    const meta = r.inactive
      ? ` not evaluated: outside its schedule ${r.inactive}`
      : ` ${r.alerts} alert(s) · ${(r.elapsed_us / 1000).toFixed(2)} ms`;
    li.append(el("strong", r.name), el("span", meta, "meta"));
    const run = el("button", "Run tests", "small");
    run.dataset.action = "tests";
    run.addEventListener("click", () => {
      testResults.set(r.id, "Running…");
      renderRules(rules);
      call("run_rule_tests", { rule: r.id })
        .then((said) => testResults.set(r.id, said))
        .catch((e) => testResults.set(r.id, `The tests did not run: ${e}`))
        .finally(() => renderRules(rules));
    });
    li.append(run);
    if (r.error) li.append(el("p", r.error, "error"));
    if (r.would_fire.length > 0) li.append(el("p", `Would fire now: ${r.would_fire.join("; ")}`, "would-fire"));
    const said = testResults.get(r.id);
    if (said) li.append(el("p", said, "tests"));
    list.append(li);
  }
}

/** The height of one agent row, in pixels (the table's rows are fixed at it). */
const AGENT_ROW_PX = 26;
/** Rows drawn beyond what is in view, above and below. */
const AGENT_SLACK = 10;

/** @type {string | null} */
let shownAgents = null;
/** The data the agents were last asked for. @type {number | null} */
let agentsData = null;
let agentsAsking = false;

/** Ask for the agents in view (and a few around) and draw them. */
async function refreshAgents() {
  if (agentsAsking) return;
  agentsAsking = true;
  try {
    const scroll = byId("agents-scroll", HTMLDivElement);
    const team = byId("agents-team", HTMLSelectElement).value || null;
    const service = byId("agents-service", HTMLSelectElement).value || null;
    const first = Math.max(0, Math.floor(scroll.scrollTop / AGENT_ROW_PX) - AGENT_SLACK);
    const limit = Math.ceil(scroll.clientHeight / AGENT_ROW_PX) + 2 * AGENT_SLACK;
    const page = await call("agents", { team, service, offset: first, limit });
    renderAgents(page, [team, service]);
  } finally {
    agentsAsking = false;
  }
}

/**
 * Give a filter the choices the data has, keeping what was chosen while it is one of them.
 * @param {HTMLSelectElement} select
 * @param {string} all what the empty choice reads
 * @param {string[]} choices
 */
function fillChoices(select, all, choices) {
  const have = [...select.options].map((o) => o.value).filter((v) => v);
  if (JSON.stringify(have) === JSON.stringify(choices)) return;
  const keep = select.value;
  select.replaceChildren(el("option", all));
  select.options[0].value = "";
  for (const t of choices) {
    const o = el("option", t);
    o.value = t;
    select.append(o);
  }
  select.value = choices.includes(keep) ? keep : "";
}

/**
 * @param {AgentsPage} page
 * @param {(string | null)[]} filter the team and service asked for
 */
function renderAgents(page, filter) {
  fillChoices(byId("agents-team", HTMLSelectElement), "All teams", page.teams);
  const services = byId("agents-service", HTMLSelectElement);
  fillChoices(services, "All services", page.services);
  // No services to choose from (a team hub's data): no filter.
  services.parentElement?.toggleAttribute("hidden", page.services.length === 0);
  const c = page.counts;
  byId("agents-counts", HTMLSpanElement).textContent = page.service_pending
    ? `Finding the agents of ${filter[1]}…`
    : `${c.not_ready} not ready · ${c.after_call_work} after-call work · ${c.busy} busy · ${c.ready} ready · ${c.logged_out} logged out`;
  const sig = JSON.stringify([page, filter]);
  if (sig === shownAgents) return;
  shownAgents = sig;
  byId("agents-pad-top", HTMLDivElement).style.height = `${page.offset * AGENT_ROW_PX}px`;
  const after = Math.max(0, page.total - page.offset - page.rows.length);
  byId("agents-pad-bottom", HTMLDivElement).style.height = `${after * AGENT_ROW_PX}px`;
  const body = byId("agents", HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const a of page.rows) {
    const tr = el("tr", null, a.state);
    tr.dataset.agent = a.login_id;
    const state = el("td", stateWords(a.state), "state");
    tr.append(
      el("th", a.name || a.login_id),
      el("td", a.team),
      state,
      el("td", a.reason ?? ""),
      el("td", a.state_secs == null || a.state === "logged_out" ? "" : dur(a.state_secs)),
    );
    tr.firstElementChild?.setAttribute("scope", "row");
    body.append(tr);
  }
}

/** @param {Overview} o */
function render(o) {
  const c = byId("connection", HTMLParagraphElement);
  c.textContent = o.detail || "Starting…";
  c.className = `connection ${o.connection}`;
  // Nothing is watched: the way to fix it is one click away.
  byId("open-settings", HTMLButtonElement).hidden = o.connection !== "not_watching";
  renderAlerts(o.alerts, o.snooze_minutes);
  if (o.data_at_unix !== agentsData) {
    agentsData = o.data_at_unix;
    void refreshAgents();
  }
  // "Nothing needs you" only while data flows: a desk that sees nothing must not sound calm.
  byId("no-alerts", HTMLParagraphElement).hidden = o.alerts.length > 0 || o.connection !== "live";
  renderServices(o.services);
  renderChat(o.urgent_chat);
  renderRules(o.rules);
  renderHistory(o.history);
}

byId("open-settings", HTMLButtonElement).addEventListener("click", () => call("open_settings", {}));
byId("open-wallboard", HTMLButtonElement).addEventListener("click", () => call("open_wallboard", {}));

/**
 * Show the overview compact (what needs a person now) or full.
 * @param {import("./types").OverviewSize} size
 */
function applySize(size) {
  document.documentElement.classList.toggle("compact", size === "compact");
  const b = byId("toggle-size", HTMLButtonElement);
  b.textContent = size === "compact" ? "Expand" : "Compact";
  b.dataset.size = size;
}
byId("toggle-size", HTMLButtonElement).addEventListener("click", () => {
  const next = byId("toggle-size", HTMLButtonElement).dataset.size === "compact" ? "full" : "compact";
  applySize(next);
  void call("set_overview_size", { size: next });
});
call("overview_size", {}).then(applySize);
on("overview", render);
call("overview", {}).then(render);

// The agents in view: again when the list scrolls, the team changes, or new data came (the
// overview event); never more than one request at a time.
byId("agents-scroll", HTMLDivElement).addEventListener("scroll", () => void refreshAgents());
for (const id of ["agents-team", "agents-service"]) {
  byId(id, HTMLSelectElement).addEventListener("change", () => {
    byId("agents-scroll", HTMLDivElement).scrollTop = 0;
    void refreshAgents();
  });
}
void refreshAgents();
