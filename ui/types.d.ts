// The windows' contract with the app, generated from its Rust types (src-tauri/src/
// view.rs, settings.rs; src-tauri/src/contract.rs). Do not edit: `cargo xtask ui-types`
// writes it again, and a test fails while it is not what the code generates.

export type Connection = "starting" | "connecting" | "authenticating" | "subscribing" | "waiting_for_data" | "live" | "reconnecting" | "failed" | "not_watching";

export type Severity = "info" | "warning" | "critical";

export type AlertState = "pending" | "firing";

export type Overview = { connection: Connection, 
/**
 * The connection in words ("live, data 2 s old", "Not watching: …").
 */
detail: string, 
/**
 * When the latest data was taken (Unix seconds).
 */
data_at_unix: number | null, alerts: Array<AlertView>, services: Array<ServiceRow>, rules: Array<RuleView>, 
/**
 * Notifications are paused until then (Unix seconds; `null`: not paused; the largest
 * number: until resumed).
 */
paused_until_unix: number | null, 
/**
 * Urgent chat messages of the latest data, newest first.
 */
urgent_chat: Array<ChatView>, 
/**
 * The latest history entries, newest first.
 */
history: Array<HistoryView>, 
/**
 * How long the Snooze button silences an alert.
 */
snooze_minutes: number, };

export type AlertView = { rule: string, rule_name: string, key: string, severity: Severity, state: AlertState, title: string, body: string, 
/**
 * Firing since (or pending since), Unix seconds.
 */
since_unix: number, 
/**
 * Why it makes no noise, in words, when it does not.
 */
quiet: string | null, 
/**
 * The connection's own "no data" alert.
 */
no_data: boolean, 
/**
 * Whose it is, when the app reads several sources (a tenant, a team hub).
 */
source: string | null, 
/**
 * What to do about it, from its rule: text, or a link the app opens.
 */
runbook: string | null, 
/**
 * The runbook is a web link (an "Open runbook" button opens it).
 */
runbook_is_link: boolean, };

export type AlertRef = { rule: string, key: string, };

export type ServiceRow = { name: string, 
/**
 * Calls waiting, a sample a minute, oldest first (up to [`TREND_MINUTES`]).
 */
trend: Array<number>, waiting: number | null, longest_wait_secs: number | null, ready: number | null, service_level_pct: number | null, available: boolean | null, };

export type RuleView = { id: string, name: string, 
/**
 * The error of the latest run, with file:line:col.
 */
error: string | null, elapsed_us: number, alerts: number, 
/**
 * The schedule the rule is outside of now (`RULE.active`): not evaluated.
 */
inactive: string | null, 
/**
 * What it would fire now: the titles of its alerts, pending or firing (at most 5).
 */
would_fire: Array<string>, };

export type ChatView = { login_id: string, first_name: string, last_name: string, send_time_unix: number | null, content: string, };

export type HistoryView = { at_unix: number, rule: string, key: string, 
/**
 * `firing`, `resolved`, `acknowledge`, `snooze`, …
 */
what: string, title: string, };

export type AgentRow = { login_id: string, name: string, team: string, 
/**
 * `not_ready`, `after_call_work`, `busy`, `ready`, or `logged_out`.
 */
state: string, 
/**
 * Why not ready, when the tenant says.
 */
reason: string | null, 
/**
 * How long in this state.
 */
state_secs: number | null, };

export type AgentCounts = { not_ready: number, after_call_work: number, busy: number, ready: number, logged_out: number, };

export type AgentsPage = { 
/**
 * Agents that match the filter.
 */
total: number, offset: number, rows: Array<AgentRow>, counts: AgentCounts, 
/**
 * Every team of the data, for the filter.
 */
teams: Array<string>, 
/**
 * Every service of the data, for the filter.
 */
services: Array<string>, 
/**
 * The service filter is set, but the data does not list that service's agents yet (they
 * are asked for with the next subscription; the rows are then unfiltered by service).
 */
service_pending: boolean, 
/**
 * When the data was taken (Unix seconds).
 */
data_at_unix: number | null, };

export type OverviewSize = "compact" | "full";

export type AuthMode = "oauth" | "password";

export type ResolvedNotices = "rule" | "all" | "none";

export type Form = { url: string, tenant: string, username: string, auth: AuthMode, 
/**
 * Empty: keep the stored secret.
 */
secret: string, poll_interval_secs: number, rules_dir: string, 
/**
 * Services whose available agents are checked.
 */
availability: Array<string>, sound: boolean, resolved: ResolvedNotices, 
/**
 * `HH:MM-HH:MM`, or empty.
 */
quiet_hours: string, 
/**
 * Start the app at login. Not in the config file: the OS's login items are the truth.
 */
start_at_login: boolean, 
/**
 * Read a team hub instead of Bright Pattern (`desk.toml`).
 */
hub: HubForm, };

export type HubForm = { 
/**
 * Read the hub instead of Bright Pattern.
 */
enabled: boolean, 
/**
 * `nats://HOST:PORT` or `tls://HOST:PORT`.
 */
url: string, 
/**
 * This supervisor's user at the broker (empty: a broker without users).
 */
user: string, 
/**
 * Empty: keep the stored password.
 */
password: string, 
/**
 * Only these teams (empty: all the broker allows).
 */
teams: Array<string>, 
/**
 * Read Bright Pattern (`config.toml`) as well.
 */
with_tenant: boolean, };

export type Field = "url" | "tenant" | "username" | "secret" | "poll_interval_secs" | "availability" | "quiet_hours" | "hub_url" | "hub_user" | "hub_password";

export type FormError = { field: Field | null, message: string, };

export type Saved = { message: string, 
/**
 * The file is saved but the secret could not go to the keychain: the window offers to keep
 * it for this session only.
 */
keychain_unavailable: boolean, };

/** The commands a window may invoke: their arguments, answer and error. */
export interface Commands {
  overview: { args: {  }; answer: Overview; error: never };
  acknowledge: { args: { alert: AlertRef }; answer: null; error: never };
  snooze: { args: { alert: AlertRef }; answer: null; error: never };
  open_runbook: { args: { alert: AlertRef }; answer: null; error: string };
  agents: { args: { team: string | null; service: string | null; offset: number; limit: number }; answer: AgentsPage; error: never };
  open_wallboard: { args: {  }; answer: null; error: never };
  overview_size: { args: {  }; answer: OverviewSize; error: never };
  set_overview_size: { args: { size: OverviewSize }; answer: null; error: never };
  close_wallboard: { args: {  }; answer: null; error: never };
  run_rule_tests: { args: { rule: string }; answer: string; error: string };
  settings_load: { args: {  }; answer: Form; error: never };
  settings_save: { args: { form: Form }; answer: Saved; error: FormError };
  settings_test: { args: { form: Form }; answer: string; error: FormError };
  settings_keep_for_session: { args: { form: Form }; answer: string; error: FormError };
  start_demo: { args: {  }; answer: null; error: string };
  open_settings: { args: {  }; answer: null; error: never };
  test_notification: { args: {  }; answer: string; error: string };
}

/** The events the app sends to the windows. */
export interface Events {
  overview: Overview;
}
