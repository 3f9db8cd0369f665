// @ts-check
// The wallboard: what the overview shows that matters across a room, in large type, with no
// buttons to mis-click. Escape leaves. Everything from the engine is inserted as text.
import { call, on } from "./ipc.js";
import { byId, el } from "./dom.js";
import { dur, stateWords } from "./format.js";

/** @typedef {import("./types").Overview} Overview */
/** @typedef {import("./types").AgentsPage} AgentsPage */

/** Agents shown: the ones that need attention first. */
const AGENTS_SHOWN = 12;

/** @param {Overview} o */
function render(o) {
  const c = byId("connection", HTMLParagraphElement);
  c.textContent = o.detail || "Starting…";
  c.className = `connection ${o.connection}`;
  // Firing alerts only, the loud ones (not silenced, not held back) first as the engine sorts them.
  const firing = o.alerts.filter((a) => a.state === "firing");
  const list = byId("wb-alerts", HTMLUListElement);
  list.replaceChildren();
  for (const a of firing) {
    const li = el("li", null, `alert ${a.severity}${a.quiet ? " quiet-alert" : ""}`);
    li.dataset.alert = `${a.rule}/${a.key}`;
    li.append(el("span", a.severity, "badge"), el("strong", a.title));
    if (a.quiet) li.append(el("p", a.quiet, "quiet"));
    list.append(li);
  }
  byId("wb-no-alerts", HTMLParagraphElement).hidden = firing.length > 0 || o.connection !== "live";
  const body = byId("wb-services", HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const s of o.services) {
    const tr = el("tr");
    if ((s.waiting ?? 0) > 0 && s.ready === 0) tr.className = "hot";
    const name = el("th", s.name);
    name.setAttribute("scope", "row");
    tr.append(
      name,
      el("td", s.waiting === null ? "–" : String(s.waiting)),
      el("td", dur(s.longest_wait_secs)),
      el("td", s.ready === null ? "–" : String(s.ready)),
      el("td", s.service_level_pct === null ? "–" : `${Math.round(s.service_level_pct)}%`),
    );
    body.append(tr);
  }
  void refreshAgents();
}

async function refreshAgents() {
  /** @type {AgentsPage} */
  const page = await call("agents", { team: null, service: null, offset: 0, limit: AGENTS_SHOWN });
  const c = page.counts;
  byId("wb-agents-counts", HTMLParagraphElement).textContent =
    `${c.not_ready} not ready · ${c.after_call_work} after-call work · ${c.busy} busy · ${c.ready} ready`;
  const body = byId("wb-agents", HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const a of page.rows.filter((r) => r.state === "not_ready" || r.state === "after_call_work")) {
    const tr = el("tr", null, a.state);
    tr.dataset.agent = a.login_id;
    const name = el("th", a.name || a.login_id);
    name.setAttribute("scope", "row");
    tr.append(name, el("td", a.team), el("td", stateWords(a.state), "state"), el("td", a.reason ?? ""), el("td", dur(a.state_secs)));
    body.append(tr);
  }
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") void call("close_wallboard", {});
});

on("overview", render);
call("overview", {}).then(render);
