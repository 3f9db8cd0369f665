// @ts-check
// The first run: try the demo, or connect to a tenant.
import { call, messageOf } from "./ipc.js";
import { byId } from "./dom.js";

const result = byId("result", HTMLParagraphElement);
const demo = byId("demo", HTMLButtonElement);
demo.addEventListener("click", async () => {
  result.textContent = "Starting the demo…";
  try {
    await call("start_demo", {});
  } catch (e) {
    result.textContent = messageOf(e);
  }
});
byId("connect", HTMLButtonElement).addEventListener("click", () => call("open_settings", {}));
demo.focus();
