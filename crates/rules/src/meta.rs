//! `const RULE = #{ … }`: a rule's metadata, read from the compiled script without running it.

use std::collections::BTreeSet;

use rhai::{AST, Dynamic, Map};

pub use lookout_alerting::{AlertRule, Inhibits, Mode, Severity};

/// The statistics a rule reads, per section. The subscription is built from every rule's
/// `needs`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub totals: BTreeSet<String>,
    pub services: BTreeSet<String>,
    pub agents: BTreeSet<String>,
    pub chat: bool,
    /// Dispositions whose per-agent counts (`calls_dispositions_per_day`) the rule reads.
    pub dispositions: BTreeSet<String>,
}

/// A rule's metadata: how its alerts live, and what it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMeta {
    pub alert: AlertRule,
    pub needs: Needs,
}

/// The keys `const RULE` may have.
pub const KEYS: [&str; 11] = [
    "name",
    "severity",
    "for_secs",
    "keep_firing_secs",
    "mode",
    "repeat_secs",
    "notify_resolved",
    "needs",
    "inhibits",
    "runbook",
    "active",
];

/// The longest runbook kept (a rule file is someone else's text).
pub const MAX_RUNBOOK: usize = 2000;

/// Read and check `const RULE`. Errors say which key is wrong and what it should be.
pub fn read(ast: &AST) -> Result<RuleMeta, String> {
    let value = ast
        .iter_literal_variables(true, false)
        .find(|(name, _, _)| *name == "RULE")
        .map(|(_, _, v)| v);
    let Some(value) = value else {
        return Err(if declares_rule(ast) {
            "`const RULE` must be a literal map (#{ name: \"…\", … }) with no calculations in it"
                .into()
        } else {
            "no `const RULE = #{ name: \"…\", severity: \"…\", needs: #{ … } };` at the top of the file".into()
        });
    };
    let Some(map) = value.try_cast::<Map>() else {
        return Err("`const RULE` must be a map: #{ name: \"…\", … }".into());
    };
    for key in map.keys() {
        if !KEYS.contains(&key.as_str()) {
            let hint = lookout_keeper::suggest::closest(key, KEYS.iter().copied())
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_else(|| format!("; RULE takes {}", KEYS.join(", ")));
            return Err(format!("RULE.{key}: unknown key{hint}"));
        }
    }
    let name = match map.get("name") {
        Some(v) => string(v, "name")?,
        None => return Err("RULE.name: missing; every rule needs a name people will read".into()),
    };
    if name.trim().is_empty() {
        return Err("RULE.name: must not be empty".into());
    }
    let severity = match map.get("severity") {
        None => Severity::Warning,
        Some(v) => {
            let s = string(v, "severity")?;
            Severity::parse(&s).ok_or_else(|| {
                format!("RULE.severity: `{s}` is not one of \"info\", \"warning\", \"critical\"")
            })?
        }
    };
    let mode = match map.get("mode") {
        None => Mode::State,
        Some(v) => match string(v, "mode")?.as_str() {
            "state" => Mode::State,
            "event" => Mode::Event,
            other => {
                return Err(format!(
                    "RULE.mode: `{other}` is not \"state\" (fires and resolves) or \"event\" (notifies once per key)"
                ));
            }
        },
    };
    let notify_resolved = match map.get("notify_resolved") {
        None => severity == Severity::Critical,
        Some(v) => v
            .as_bool()
            .map_err(|t| format!("RULE.notify_resolved: must be true or false, not {t}"))?,
    };
    let needs = match map.get("needs") {
        None => {
            return Err(
                "RULE.needs: missing; list the statistics the rule reads, e.g. needs: #{ services: [\"name\", \"in_calls_waiting\"] }"
                    .into(),
            );
        }
        Some(v) => read_needs(v)?,
    };
    Ok(RuleMeta {
        alert: AlertRule {
            name,
            severity,
            for_secs: secs(map.get("for_secs"), "for_secs")?,
            keep_firing_secs: secs(map.get("keep_firing_secs"), "keep_firing_secs")?,
            mode,
            repeat_secs: secs(map.get("repeat_secs"), "repeat_secs")?,
            notify_resolved,
            inhibits: map.get("inhibits").map(read_inhibits).transpose()?,
            runbook: map.get("runbook").map(read_runbook).transpose()?,
            active: match map.get("active") {
                None => None,
                Some(v) => {
                    let name = string(v, "active")?;
                    if name.trim().is_empty() {
                        return Err(
                            "RULE.active: empty; name a schedule of the config's [schedules], e.g. active: \"business\"".into(),
                        );
                    }
                    Some(name)
                }
            },
        },
        needs,
    })
}

/// `inhibits: #{ rules: ["no_ready", "long_wait"], equal: ["service"] }`.
fn read_inhibits(v: &Dynamic) -> Result<Inhibits, String> {
    const EXAMPLE: &str = "e.g. inhibits: #{ rules: [\"no_ready\"], equal: [\"service\"] }";
    let Some(map) = v.clone().try_cast::<Map>() else {
        return Err(format!("RULE.inhibits: must be a map, {EXAMPLE}"));
    };
    for key in map.keys() {
        if !["rules", "equal"].contains(&key.as_str()) {
            return Err(format!(
                "RULE.inhibits.{key}: unknown key; inhibits takes rules and equal, {EXAMPLE}"
            ));
        }
    }
    let names = |key: &str, what: &str| -> Result<Vec<String>, String> {
        let Some(v) = map.get(key) else {
            return Err(format!(
                "RULE.inhibits.{key}: missing; name the {what}, {EXAMPLE}{}",
                if key == "equal" {
                    " (or equal: [] to hold back every alert of those rules)"
                } else {
                    ""
                }
            ));
        };
        let list = v
            .clone()
            .into_array()
            .map_err(|t| format!("RULE.inhibits.{key}: must be a list of {what}, not {t}"))?;
        list.into_iter()
            .map(|x| {
                let s = x.into_string().map_err(|t| {
                    format!("RULE.inhibits.{key}: every entry must be a string, not {t}")
                })?;
                if s.trim().is_empty() {
                    return Err(format!("RULE.inhibits.{key}: an entry is empty"));
                }
                Ok(s)
            })
            .collect()
    };
    let rules = names("rules", "rules (file names without .rhai) it holds back")?;
    if rules.is_empty() {
        return Err(format!(
            "RULE.inhibits.rules: empty; name the rules it holds back, {EXAMPLE}"
        ));
    }
    Ok(Inhibits {
        rules,
        equal: names("equal", "labels both alerts must share")?,
    })
}

/// `runbook: "https://wiki.example.com/billing"` or a line of text.
fn read_runbook(v: &Dynamic) -> Result<String, String> {
    let s = string(v, "runbook")?;
    let s = s.trim();
    if s.is_empty() {
        return Err("RULE.runbook: empty; give a link or a line of what to do".into());
    }
    if s.chars().count() > MAX_RUNBOOK {
        return Err(format!(
            "RULE.runbook: longer than {MAX_RUNBOOK} characters; link to a page instead"
        ));
    }
    Ok(s.to_string())
}

fn declares_rule(ast: &AST) -> bool {
    let mut found = false;
    ast.walk(&mut |path| {
        if let Some(rhai::ASTNode::Stmt(rhai::Stmt::Var(x, ..))) = path.last()
            && x.0.as_str() == "RULE"
        {
            found = true;
        }
        !found
    });
    found
}

fn string(v: &Dynamic, key: &str) -> Result<String, String> {
    v.clone()
        .into_string()
        .map_err(|t| format!("RULE.{key}: must be a string, not {t}"))
}

fn secs(v: Option<&Dynamic>, key: &str) -> Result<u64, String> {
    match v {
        None => Ok(0),
        Some(v) => match v.as_int() {
            Ok(n) if n >= 0 => Ok(n as u64),
            Ok(n) => Err(format!(
                "RULE.{key}: {n} is negative; use 0 or more seconds"
            )),
            Err(t) => Err(format!(
                "RULE.{key}: must be a whole number of seconds, not {t}"
            )),
        },
    }
}

fn read_needs(v: &Dynamic) -> Result<Needs, String> {
    let Some(map) = v.clone().try_cast::<Map>() else {
        return Err(
            "RULE.needs: must be a map, e.g. #{ services: [\"name\", \"in_calls_waiting\"] }"
                .into(),
        );
    };
    let mut needs = Needs::default();
    for (key, value) in map {
        let list = |section: &str| -> Result<BTreeSet<String>, String> {
            let arr = value.clone().into_array().map_err(|t| {
                format!("RULE.needs.{section}: must be a list of statistic names, not {t}")
            })?;
            arr.into_iter()
                .map(|s| {
                    s.into_string().map_err(|t| {
                        format!("RULE.needs.{section}: every entry must be a statistic name (a string), not {t}")
                    })
                })
                .collect()
        };
        match key.as_str() {
            "totals" => needs.totals = list("totals")?,
            "services" => needs.services = list("services")?,
            "agents" => needs.agents = list("agents")?,
            "dispositions" => needs.dispositions = list("dispositions")?,
            "chat" => {
                // `chat: true`, or the list of chat fields (all of them come anyway).
                needs.chat = match value.as_bool() {
                    Ok(b) => b,
                    Err(_) => !list("chat")?.is_empty(),
                }
            }
            other => {
                return Err(format!(
                    "RULE.needs.{other}: unknown section; use totals, services, agents, chat or dispositions"
                ));
            }
        }
    }
    Ok(needs)
}
