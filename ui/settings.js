// @ts-check
// The settings window. Messages from the app are shown as text; an error about one field marks
// that field.
import { call, messageOf } from "./ipc.js";
import { byId } from "./dom.js";

/** @typedef {import("./types").Form} Form */
/** @typedef {import("./types").Field} Field */

/** The input of each field the app may name in an error. @type {Record<Field, string>} */
const INPUTS = {
  url: "url",
  tenant: "tenant",
  username: "username",
  secret: "secret",
  poll_interval_secs: "poll",
  availability: "availability",
  quiet_hours: "quiet",
  hub_url: "hub-url",
  hub_user: "hub-user",
  hub_password: "hub-password",
};

/** @param {string} text */
const list = (text) => text.split(",").map((s) => s.trim()).filter((s) => s !== "");

/** Show the fields of what is read: the hub's, the tenant's, or both. */
function showSource() {
  byId("hub-fields", HTMLDivElement).hidden = !input("read-hub").checked;
  byId("tenant-fields", HTMLDivElement).hidden = !input("read-tenant").checked;
}

/** @param {string} id */
const input = (id) => byId(id, HTMLInputElement);

/** @returns {Form} */
function form() {
  const auth = document.querySelector("input[name=auth]:checked");
  const resolved = byId("resolved", HTMLSelectElement).value;
  return {
    url: input("url").value,
    tenant: input("tenant").value,
    username: input("username").value,
    auth: auth instanceof HTMLInputElement && auth.value === "password" ? "password" : "oauth",
    secret: input("secret").value,
    poll_interval_secs: Number(input("poll").value) || 0,
    rules_dir: input("rules").value,
    availability: list(input("availability").value),
    sound: input("sound").checked,
    resolved: resolved === "all" || resolved === "none" ? resolved : "rule",
    quiet_hours: input("quiet").value,
    start_at_login: input("login").checked,
    hub: {
      enabled: input("read-hub").checked,
      with_tenant: input("read-tenant").checked,
      url: input("hub-url").value,
      user: input("hub-user").value,
      password: input("hub-password").value,
      teams: list(input("hub-teams").value),
    },
  };
}

/** Take the marks of an earlier error off every field. */
function unmark() {
  for (const id of Object.values(INPUTS)) input(id).removeAttribute("aria-invalid");
}

/**
 * @param {boolean} ok
 * @param {string} text
 */
function show(ok, text) {
  unmark();
  const r = byId("result", HTMLParagraphElement);
  r.textContent = text;
  r.className = ok ? "ok" : "error";
  byId("session-choice", HTMLDivElement).hidden = true;
  r.scrollIntoView({ block: "nearest" });
}

/**
 * A command failed: say why, and mark the field it is about.
 * @param {unknown} err
 */
function failed(err) {
  show(false, messageOf(err));
  if (err !== null && typeof err === "object" && "field" in err && typeof err.field === "string" && err.field in INPUTS) {
    const field = input(INPUTS[/** @type {Field} */ (err.field)]);
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

async function load() {
  const f = await call("settings_load", {});
  input("url").value = f.url;
  input("tenant").value = f.tenant;
  input("username").value = f.username;
  input("poll").value = String(f.poll_interval_secs || 2);
  input("rules").value = f.rules_dir;
  input("availability").value = f.availability.join(", ");
  input("sound").checked = f.sound;
  byId("resolved", HTMLSelectElement).value = f.resolved;
  input("quiet").value = f.quiet_hours;
  input("login").checked = f.start_at_login;
  const radio = document.querySelector(`input[name=auth][value=${f.auth}]`);
  if (radio instanceof HTMLInputElement) radio.checked = true;
  input("hub-url").value = f.hub.url;
  input("hub-user").value = f.hub.user;
  input("hub-teams").value = f.hub.teams.join(", ");
  input("read-hub").checked = f.hub.enabled;
  input("read-tenant").checked = !f.hub.enabled || f.hub.with_tenant;
  showSource();
}

for (const id of ["read-hub", "read-tenant"]) input(id).addEventListener("change", showSource);

byId("settings", HTMLFormElement).addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!input("read-hub").checked && !input("read-tenant").checked) {
    show(false, "Choose what to read: Bright Pattern, a team hub, or both.");
    return;
  }
  try {
    const saved = await call("settings_save", { form: form() });
    if (saved.keychain_unavailable) {
      // Saved, but the secret has nowhere to be kept: offer this session.
      show(false, saved.message);
      byId("session-choice", HTMLDivElement).hidden = false;
    } else {
      show(true, saved.message);
      input("secret").value = "";
      input("hub-password").value = "";
    }
  } catch (err) {
    failed(err);
  }
});

byId("session", HTMLButtonElement).addEventListener("click", async () => {
  try {
    show(true, await call("settings_keep_for_session", { form: form() }));
    input("secret").value = "";
    input("hub-password").value = "";
  } catch (err) {
    failed(err);
  }
});

byId("test", HTMLButtonElement).addEventListener("click", async () => {
  show(true, "Testing…");
  try {
    show(true, await call("settings_test", { form: form() }));
  } catch (err) {
    failed(err);
  }
});

byId("notify", HTMLButtonElement).addEventListener("click", async () => {
  try {
    show(true, await call("test_notification", {}));
  } catch (err) {
    failed(err);
  }
});

load();
