// @ts-check
// Times and durations, written as the app writes them (Rust's `lookout_keeper::fmt_dur`; a
// test in the desktop app checks that both agree).

/**
 * A duration in seconds: `45s`, `5m 12s`, `1h 02m`; `–` for none.
 * @param {number | null | undefined} secs
 * @returns {string}
 */
export function dur(secs) {
  if (secs === null || secs === undefined) return "–";
  const s = Math.max(0, Math.trunc(secs));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/**
 * How long ago a Unix time was: `1m 05s ago`.
 * @param {number} unix
 * @returns {string}
 */
export function since(unix) {
  return `${dur(Math.round(Date.now() / 1000 - unix))} ago`;
}

/** An agent's state in words. */
const STATE_WORDS = /** @type {Record<string, string>} */ ({
  not_ready: "not ready",
  after_call_work: "after-call work",
  busy: "busy",
  ready: "ready",
  logged_out: "logged out",
});

/**
 * An agent's state (`not_ready`, …) in words.
 * @param {string} state
 */
export function stateWords(state) {
  return STATE_WORDS[state] ?? state;
}
