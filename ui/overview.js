// The overview: everything from the engine is inserted as text, never as HTML.
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const announced = new Set();

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function since(unix) {
  const secs = Math.max(0, Math.round(Date.now() / 1000 - unix));
  return `${dur(secs)} ago`;
}

let shownAlerts = null;

// The alerts list is rebuilt only when an alert changed; otherwise only the "… ago" times move,
// so keyboard focus and the element a person is about to click stay where they are.
function renderAlerts(alerts) {
  const list = document.getElementById("alerts");
  const sig = JSON.stringify(alerts);
  if (sig === shownAlerts) {
    for (const m of list.querySelectorAll(".meta")) {
      m.textContent = `${m.dataset.state} · ${since(Number(m.dataset.since))}`;
    }
    return;
  }
  shownAlerts = sig;
  const focused = document.activeElement;
  const refocus = focused && focused.dataset && focused.dataset.action
    ? { alert: focused.closest("li").dataset.alert, action: focused.dataset.action }
    : null;
  list.replaceChildren();
  for (const a of alerts) {
    const id = `${a.rule}/${a.key}`;
    const li = el("li", null, `alert ${a.severity} ${a.state}`);
    li.dataset.alert = id;
    const head = el("div", null, "alert-head");
    const meta = el("span", `${a.state} · ${since(a.since_unix)}`, "meta");
    meta.dataset.state = a.state;
    meta.dataset.since = a.since_unix;
    head.append(el("span", a.severity, "badge"), el("strong", a.title), meta);
    li.append(head);
    if (a.body) li.append(el("p", a.body, "body"));
    if (a.quiet) li.append(el("p", `Quiet: ${a.quiet}`, "quiet"));
    const buttons = el("div", null, "buttons");
    const ack = el("button", "Acknowledge");
    ack.dataset.action = "acknowledge";
    ack.addEventListener("click", () => invoke("acknowledge", { rule: a.rule, key: a.key }));
    const snooze = el("button", "Snooze 15 min");
    snooze.dataset.action = "snooze";
    snooze.addEventListener("click", () => invoke("snooze", { rule: a.rule, key: a.key }));
    buttons.append(ack, snooze);
    li.append(buttons);
    list.append(li);
    if (refocus && refocus.alert === id) {
      (refocus.action === "snooze" ? snooze : ack).focus();
    }
    if (a.severity === "critical" && a.state === "firing" && !a.quiet && !announced.has(id)) {
      announced.add(id);
      document.getElementById("announce").textContent = `Critical: ${a.title}`;
    }
  }
}

const SVG = "http://www.w3.org/2000/svg";

// A small line of calls waiting per minute, drawn with DOM calls (no markup strings).
function sparkline(values) {
  const w = 90, h = 18;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("width", w);
  svg.setAttribute("height", h);
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

function renderChat(messages) {
  const list = document.getElementById("chat");
  list.replaceChildren();
  document.getElementById("no-chat").hidden = messages.length > 0;
  for (const m of messages) {
    const who = m.first_name ? `${m.first_name} ${m.last_name}` : m.login_id;
    const li = el("li", null, "chat-message");
    li.append(el("strong", who), el("span", m.send_time_unix ? ` · ${since(m.send_time_unix)}` : "", "meta"), el("p", m.content, "body"));
    list.append(li);
  }
}

function renderHistory(entries) {
  const list = document.getElementById("history");
  list.replaceChildren();
  for (const h of entries.slice(0, 20)) {
    const when = new Date(h.at_unix * 1000).toLocaleTimeString();
    list.append(el("li", `${when}  ${h.what}  ${h.title || h.key}`));
  }
}

function renderServices(rows) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren();
  for (const s of rows) {
    const tr = el("tr");
    const hot = (s.waiting || 0) > 0 && s.ready === 0;
    if (hot) tr.className = "hot";
    tr.append(
      el("th", s.name),
      el("td", s.waiting ?? "–"),
      (() => { const td = el("td"); td.append(sparkline(s.trend || [])); return td; })(),
      el("td", dur(s.longest_wait_secs)),
      el("td", s.ready ?? "–"),
      el("td", s.service_level_pct === null || s.service_level_pct === undefined ? "–" : `${Math.round(s.service_level_pct)}%`),
      el("td", s.available === null || s.available === undefined ? "–" : (s.available ? "yes" : "NO")),
    );
    tr.firstChild.setAttribute("scope", "row");
    body.append(tr);
  }
}

function renderRules(rules) {
  const list = document.getElementById("rules");
  list.replaceChildren();
  for (const r of rules) {
    const li = el("li", null, r.error ? "rule broken" : "rule");
    li.append(el("strong", r.name), el("span", ` ${r.alerts} alert(s) · ${(r.elapsed_us / 1000).toFixed(2)} ms`, "meta"));
    if (r.error) li.append(el("p", r.error, "error"));
    list.append(li);
  }
}

function render(o) {
  const c = document.getElementById("connection");
  c.textContent = o.detail || "Starting…";
  c.className = `connection ${o.connection}`;
  // Nothing is watched: the way to fix it is one click away.
  document.getElementById("open-settings").hidden = o.connection !== "not_watching";
  renderAlerts(o.alerts || []);
  // "Nothing needs you" only while data flows: a desk that sees nothing must not sound calm.
  document.getElementById("no-alerts").hidden = (o.alerts || []).length > 0 || o.connection !== "live";
  renderServices(o.services || []);
  renderChat(o.urgent_chat || []);
  renderRules(o.rules || []);
  renderHistory(o.history || []);
}

document.getElementById("open-settings").addEventListener("click", () => invoke("open_settings"));
listen("overview", (e) => render(e.payload));
invoke("overview").then(render);
