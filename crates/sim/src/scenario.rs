//! Scenario files: a TOML script of events over time, run against the simulated tenant.
//!
//! ```toml
//! name = "demo"
//!
//! [tenant]                 # optional: the shape of the tenant
//! seed = 7
//! agents = 40
//! services = [{ name = "Sales", rate = 2.0 }, { name = "Support", rate = 3.0 }]
//!
//! [[event]]
//! at = "20s"               # time since the tenant started ("1m30s", or a number of seconds)
//! do = "agents"            # what happens; the other keys depend on it
//! service = "Sales"
//! state = "not_ready"
//! reason = "Meeting"
//! for = "2m"
//! ```
//!
//! The full list of actions and their keys is in `docs/scenarios.md`. Every key is checked:
//! a typo is an error naming the event and the key, never silently ignored.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::model::{AgentState, Model, ModelConfig};

/// A scenario that failed to load: what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// A duration written as `"90s"`, `"1m30s"`, `"500ms"` or a whole number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn secs(self) -> u64 {
        self.0.as_secs()
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Dur(Duration::from_secs(s))),
            Raw::Text(t) => humantime::parse_duration(t.trim()).map(Dur).map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a duration ({e}); write e.g. \"30s\", \"2m\" or 45"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub name: String,
    /// Calls per minute.
    #[serde(default = "default_rate")]
    pub rate: f64,
}

fn default_rate() -> f64 {
    1.0
}

/// The optional `[tenant]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantShape {
    pub seed: Option<u64>,
    pub agents: Option<usize>,
    pub services: Option<Vec<ServiceDef>>,
    /// Chat messages per minute across the tenant.
    pub chat_per_minute: Option<f64>,
}

impl TenantShape {
    /// Apply this shape over `base`.
    pub fn apply(&self, base: &mut ModelConfig) {
        if let Some(s) = self.seed {
            base.seed = s;
        }
        if let Some(a) = self.agents {
            base.agents = a;
        }
        if let Some(svcs) = &self.services {
            base.services = svcs.iter().map(|s| (s.name.clone(), s.rate)).collect();
        }
        if let Some(c) = self.chat_per_minute {
            base.chat_rate = (c / 60.0).clamp(0.0, 1.0);
        }
    }
}

/// Where a `set` applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Totals,
    Service(String),
    Agent(String),
}

/// One thing a scenario can make happen.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Pin a statistic to a value (for a while, or until the end).
    Set {
        service: Option<String>,
        agent: Option<String>,
        #[serde(default)]
        totals: bool,
        stat: String,
        value: toml::Value,
        #[serde(rename = "for")]
        duration: Option<Dur>,
    },
    /// Move agents (of a service, a team, by login, or all) into a state and hold them there.
    Agents {
        service: Option<String>,
        team: Option<String>,
        logins: Option<Vec<String>>,
        count: Option<usize>,
        state: String,
        reason: Option<String>,
        #[serde(rename = "for")]
        duration: Option<Dur>,
    },
    /// Put calls in a service's queue.
    Calls { service: String, count: u64 },
    /// Post an internal chat message.
    Chat {
        from: Option<String>,
        #[serde(default)]
        urgent: bool,
        content: String,
    },
    /// Another login of the same user takes the legacy session (once, or again and again for a
    /// while, like a wallboard that keeps logging in).
    Takeover {
        user: Option<String>,
        #[serde(rename = "for")]
        duration: Option<Dur>,
    },
    /// The tenant forgets every subscription (a restart or a cache clear): polls get 404.
    DropSubscriptions,
    /// Every OAuth token stops working: calls get 401.
    ExpireTokens,
    /// Every API call answers this status for a while.
    Errors {
        #[serde(default = "default_error_status")]
        status: u16,
        #[serde(rename = "for")]
        duration: Dur,
    },
    /// Every API call waits this long before answering, for a while.
    Slow {
        delay: Dur,
        #[serde(rename = "for")]
        duration: Dur,
    },
    /// Data polls answer 200 with a body that is not JSON, for a while.
    Malformed {
        #[serde(rename = "for")]
        duration: Dur,
    },
    /// Data polls answer 204 (not ready), for a while.
    NotReady {
        #[serde(rename = "for")]
        duration: Dur,
    },
    /// API calls have their connection cut mid-answer, for a while.
    Disconnect {
        #[serde(rename = "for")]
        duration: Dur,
    },
    /// Change the tenant's limit of active subscriptions (for a while, or for good).
    SubscriptionLimit {
        limit: usize,
        #[serde(rename = "for")]
        duration: Option<Dur>,
    },
}

fn default_error_status() -> u16 {
    503
}

impl Action {
    pub fn set_target(&self) -> Option<Target> {
        match self {
            Action::Set {
                service,
                agent,
                totals,
                ..
            } => Some(if *totals {
                Target::Totals
            } else if let Some(s) = service {
                Target::Service(s.clone())
            } else {
                Target::Agent(agent.clone().unwrap_or_default())
            }),
            _ => None,
        }
    }
}

/// An action at a time.
#[derive(Debug, Clone)]
pub struct Event {
    pub at: u64,
    pub action: Action,
}

/// A loaded scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tenant: TenantShape,
    /// Sorted by time; events at the same second keep file order.
    pub events: Vec<Event>,
}

impl Scenario {
    /// Read and parse a scenario file.
    pub fn load(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::parse(&text).map_err(|message| ScenarioError::Invalid {
            path: path.display().to_string(),
            message,
        })
    }

    /// Parse scenario text. The error says which event and which key is wrong.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            name: Option<String>,
            description: Option<String>,
            #[serde(default)]
            tenant: TenantShape,
            #[serde(default)]
            event: Vec<toml::Table>,
        }
        let file: File = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        let mut events = Vec::with_capacity(file.event.len());
        for (i, mut table) in file.event.into_iter().enumerate() {
            let n = i + 1;
            let at = table.remove("at").ok_or_else(|| {
                format!("event {n}: missing `at` (when it happens, e.g. at = \"30s\")")
            })?;
            let at = Dur::deserialize(at).map_err(|e| format!("event {n}: `at`: {e}"))?;
            let what = table
                .get("do")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            let action = Action::deserialize(toml::Value::Table(table)).map_err(|e| {
                format!(
                    "event {n} (do = \"{what}\", at {}s): {}",
                    at.secs(),
                    e.to_string().trim()
                )
            })?;
            if let Action::Set {
                service,
                agent,
                totals,
                ..
            } = &action
            {
                let targets = service.is_some() as u8 + agent.is_some() as u8 + *totals as u8;
                if targets != 1 {
                    return Err(format!(
                        "event {n} (do = \"set\"): name exactly one of `service`, `agent` or `totals = true`"
                    ));
                }
            }
            if let Action::Agents { state, .. } = &action
                && AgentState::parse(state).is_none()
            {
                return Err(format!(
                    "event {n} (do = \"agents\"): unknown state `{state}`; use ready, busy, after_call_work, not_ready or logged_out"
                ));
            }
            if let Action::Errors { status, .. } = &action
                && !(400..=599).contains(status)
            {
                return Err(format!(
                    "event {n} (do = \"errors\"): status {status} is not an error status (400–599)"
                ));
            }
            events.push(Event {
                at: at.secs(),
                action,
            });
        }
        events.sort_by_key(|e| e.at);
        Ok(Scenario {
            name: file.name,
            description: file.description,
            tenant: file.tenant,
            events,
        })
    }

    /// Check that every service, agent and user the events name exists in `model` / `users`.
    pub fn check_names(&self, model: &Model, users: &[String]) -> Result<(), String> {
        for (i, e) in self.events.iter().enumerate() {
            let n = i + 1;
            let service_ok = |s: &str| {
                model
                    .service_index(s)
                    .is_some()
                    .then_some(())
                    .ok_or_else(|| {
                        format!(
                            "event {n}: no service `{s}`; the tenant has: {}",
                            model
                                .services
                                .iter()
                                .map(|s| s.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
            };
            let agent_ok = |a: &str| {
                model
                    .agent_index(a)
                    .is_some()
                    .then_some(())
                    .ok_or_else(|| format!("event {n}: no agent with login `{a}`"))
            };
            match &e.action {
                Action::Set { service, agent, .. } => {
                    if let Some(s) = service {
                        service_ok(s)?;
                    }
                    if let Some(a) = agent {
                        agent_ok(a)?;
                    }
                }
                Action::Agents {
                    service,
                    team,
                    logins,
                    ..
                } => {
                    if let Some(s) = service {
                        service_ok(s)?;
                    }
                    if let Some(t) = team
                        && !model.teams.iter().any(|x| x.name.eq_ignore_ascii_case(t))
                    {
                        return Err(format!("event {n}: no team `{t}`"));
                    }
                    for l in logins.iter().flatten() {
                        agent_ok(l)?;
                    }
                }
                Action::Calls { service, .. } => service_ok(service)?,
                Action::Chat { from: Some(a), .. } => agent_ok(a)?,
                Action::Takeover { user: Some(u), .. } if !users.iter().any(|x| x == u) => {
                    return Err(format!("event {n}: no API user `{u}`"));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The scenario shipped for demos: within a minute the shipped rules have something to say.
pub const DEMO_SCENARIO: &str = include_str!("../scenarios/demo.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_parses_and_names_exist() {
        let s = Scenario::parse(DEMO_SCENARIO).unwrap();
        assert!(!s.events.is_empty());
        let mut cfg = ModelConfig::default();
        s.tenant.apply(&mut cfg);
        let m = Model::new(&cfg);
        s.check_names(&m, &["supervisor".into()]).unwrap();
    }

    #[test]
    fn durations_in_both_forms() {
        let s = Scenario::parse(
            "[[event]]\nat = 90\ndo = \"calls\"\nservice = \"Sales\"\ncount = 2\n\n[[event]]\nat = \"1m\"\ndo = \"drop_subscriptions\"\n",
        )
        .unwrap();
        assert_eq!(s.events[0].at, 60, "sorted by time");
        assert_eq!(s.events[1].at, 90);
    }

    #[test]
    fn errors_say_which_event_and_what() {
        let cases = [
            ("[[event]]\ndo = \"calls\"\n", "event 1: missing `at`"),
            (
                "[[event]]\nat = \"soon\"\ndo = \"calls\"\n",
                "`soon` is not a duration",
            ),
            (
                "[[event]]\nat = 1\ndo = \"explode\"\n",
                "unknown variant `explode`",
            ),
            (
                "[[event]]\nat = 1\ndo = \"calls\"\nservice = \"Sales\"\ncount = 1\ncolour = 3\n",
                "unknown field `colour`",
            ),
            (
                "[[event]]\nat = 1\ndo = \"agents\"\nstate = \"dancing\"\n",
                "unknown state `dancing`",
            ),
            (
                "[[event]]\nat = 1\ndo = \"set\"\nstat = \"x\"\nvalue = 1\n",
                "exactly one of",
            ),
            (
                "[[event]]\nat = 1\ndo = \"errors\"\nstatus = 200\nfor = 5\n",
                "not an error status",
            ),
            ("[tenant]\nagentz = 3\n", "unknown field `agentz`"),
            ("this is not toml", "expected"),
        ];
        for (text, want) in cases {
            let err = Scenario::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn unknown_names_are_reported() {
        let s =
            Scenario::parse("[[event]]\nat = 1\ndo = \"calls\"\nservice = \"Nope\"\ncount = 1\n")
                .unwrap();
        let m = Model::new(&ModelConfig::default());
        let err = s.check_names(&m, &[]).unwrap_err();
        assert!(
            err.contains("no service `Nope`") && err.contains("Sales"),
            "{err}"
        );
    }
}
