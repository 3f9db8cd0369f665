"use strict";
const { invoke } = window.__TAURI__.core;
document.getElementById("demo").addEventListener("click", async () => {
  document.getElementById("result").textContent = "Starting the demo…";
  try {
    await invoke("start_demo");
  } catch (e) {
    document.getElementById("result").textContent = String(e);
  }
});
document.getElementById("connect").addEventListener("click", () => invoke("open_settings"));
document.getElementById("demo").focus();
