// The settings window. Messages from the app are shown as text.
"use strict";

const { invoke } = window.__TAURI__.core;

function form() {
  return {
    url: document.getElementById("url").value,
    tenant: document.getElementById("tenant").value,
    username: document.getElementById("username").value,
    auth: document.querySelector("input[name=auth]:checked").value,
    secret: document.getElementById("secret").value,
    poll_interval_secs: Number(document.getElementById("poll").value) || 0,
    rules_dir: document.getElementById("rules").value,
    availability: document.getElementById("availability").value,
    sound: document.getElementById("sound").checked,
    resolved: document.getElementById("resolved").value,
    quiet_hours: document.getElementById("quiet").value,
    start_at_login: document.getElementById("login").checked,
  };
}

function show(ok, text) {
  const r = document.getElementById("result");
  r.textContent = text;
  r.className = ok ? "ok" : "error";
  document.getElementById("session-choice").hidden = true;
  r.scrollIntoView({ block: "nearest" });
}

async function load() {
  const f = await invoke("settings_load");
  document.getElementById("url").value = f.url;
  document.getElementById("tenant").value = f.tenant;
  document.getElementById("username").value = f.username;
  document.getElementById("poll").value = f.poll_interval_secs || 2;
  document.getElementById("rules").value = f.rules_dir;
  document.getElementById("availability").value = f.availability;
  document.getElementById("sound").checked = f.sound;
  document.getElementById("resolved").value = f.resolved || "rule";
  document.getElementById("quiet").value = f.quiet_hours;
  document.getElementById("login").checked = f.start_at_login;
  const radio = document.querySelector(`input[name=auth][value=${f.auth === "password" ? "password" : "oauth"}]`);
  radio.checked = true;
}

document.getElementById("settings").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const saved = await invoke("settings_save", { form: form() });
    if (saved.keychain_unavailable) {
      // Saved, but the secret has nowhere to be kept: offer this session.
      show(false, saved.message);
      document.getElementById("session-choice").hidden = false;
    } else {
      show(true, saved.message);
      document.getElementById("secret").value = "";
    }
  } catch (err) {
    show(false, String(err));
  }
});

document.getElementById("session").addEventListener("click", async () => {
  try {
    show(true, await invoke("settings_keep_for_session", { form: form() }));
    document.getElementById("secret").value = "";
  } catch (err) {
    show(false, String(err));
  }
});

document.getElementById("test").addEventListener("click", async () => {
  show(true, "Testing…");
  try {
    show(true, await invoke("settings_test", { form: form() }));
  } catch (err) {
    show(false, String(err));
  }
});

document.getElementById("notify").addEventListener("click", async () => {
  try {
    show(true, await invoke("test_notification"));
  } catch (err) {
    show(false, String(err));
  }
});

load();
