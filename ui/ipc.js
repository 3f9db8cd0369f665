// @ts-check
// Calls into the app and events from it, typed by the generated contract (types.d.ts): a
// window can only send what a command takes and read what it answers.

/** @typedef {import("./types").Commands} Commands */
/** @typedef {import("./types").Events} Events */

/**
 * Invoke a command of the app.
 * @template {keyof Commands} K
 * @param {K} name
 * @param {Commands[K]["args"]} args
 * @returns {Promise<Commands[K]["answer"]>}
 */
export function call(name, args) {
  return /** @type {Promise<Commands[K]["answer"]>} */ (window.__TAURI__.core.invoke(name, args));
}

/**
 * Listen to an event the app sends.
 * @template {keyof Events} K
 * @param {K} name
 * @param {(payload: Events[K]) => void} handler
 */
export function on(name, handler) {
  return window.__TAURI__.event.listen(name, (e) => handler(/** @type {Events[K]} */ (e.payload)));
}

/**
 * What a failed command said: its `message` when it answers with a structured error, else the
 * text it failed with.
 * @param {unknown} err
 * @returns {string}
 */
export function messageOf(err) {
  if (err !== null && typeof err === "object" && "message" in err) return String(err.message);
  return String(err);
}
