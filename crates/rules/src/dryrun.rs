//! `lookout rules check`'s dry runs: each rule runs over made-up snapshots before it ever meets
//! data, so a misspelled column in `where`, a misspelled row field (`s.nme`), a column read but
//! not declared in `needs`, a type error, or a throw on an empty tenant is found at
//! `file:line:col` with the same "did you mean" a live run gives.
//!
//! The snapshots: every column the rule's subscription carries has a value, and every grid has
//! rows (the *typical* shape, also one poll later); then a tenant with nothing in it (no rows,
//! no values); rows whose values are all missing; and extreme numbers. A failure of the typical
//! shape or of the empty tenant is an error (a quiet night is an empty tenant); a failure only
//! with missing values or extreme numbers is a warning.
//!
//! The keys are checked too: a rule whose alert key changes between the typical poll and the
//! next one while only numbers moved (a count or a duration in the key) makes a new alert every
//! poll: a warning.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use lookout_keeper::catalogue::{Kind, kind_of};
use lookout_keeper::snapshot::{ChatMessage, Grid, Plan, Snapshot, Value};

use crate::{Diagnostic, PollInput, Rule, RuleEngine, plan_for};

const SERVICES: [&str; 3] = ["Sales", "Support", "Billing"];
const LOGINS: [&str; 3] = ["ana.berg", "ben.kim", "cy.ortiz"];
const NAMES: [&str; 3] = ["Ana Berg", "Ben Kim", "Cy Ortiz"];
const STATES: [&str; 3] = ["ready", "not_ready", "after_call_work"];

/// The made-up snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Three rows a grid, low, middling and high values.
    Typical,
    /// [`Shape::Typical`] a poll later: counts one more, durations a second longer.
    Later,
    /// Columns but no rows, no totals, no chat, no availability.
    Empty,
    /// Three rows a grid, every value but the names missing.
    Missing,
    /// Three rows a grid, every number huge.
    Extreme,
}

impl Shape {
    /// How a diagnostic of this shape begins, and whether it is only a warning.
    fn said(self) -> (&'static str, bool) {
        match self {
            Shape::Typical | Shape::Later => ("", false),
            Shape::Empty => (
                "on a tenant with nothing in it (no rows, no values): ",
                false,
            ),
            Shape::Missing => ("when values are missing: ", true),
            Shape::Extreme => ("with very large numbers: ", true),
        }
    }
}

/// A value of `stat` in row `row` (0–2) of `shape`.
fn value(stat: &str, row: usize, shape: Shape) -> Value {
    let identity = matches!(stat, "name" | "login_id" | "first_last_name");
    if shape == Shape::Missing && !identity {
        return Value::None;
    }
    let later = i64::from(shape == Shape::Later);
    let huge = shape == Shape::Extreme;
    match stat {
        "name" => return Value::Text(SERVICES[row].into()),
        "login_id" => return Value::Text(LOGINS[row].into()),
        "first_last_name" => return Value::Text(NAMES[row].into()),
        "team_name" => return Value::Text("Front Line".into()),
        _ => {}
    }
    match kind_of(stat) {
        Kind::Count if huge => Value::Int(1_000_000_000),
        Kind::Count => Value::Int([0, 3, 12][row] + later),
        Kind::Seconds if huge => Value::Int(1_000_000_000),
        Kind::Seconds => Value::Int([0, 95, 420][row] + later),
        Kind::Percent if huge => Value::Float(100.0),
        Kind::Percent => Value::Float([100.0, 62.5, 0.0][row] + later as f64 / 2.0),
        Kind::State => Value::Text(STATES[row].into()),
        Kind::Text => Value::Text(["Meeting", "Lunch", "Training"][row].into()),
        Kind::Unknown if huge => Value::Int(1_000_000_000),
        Kind::Unknown => Value::Int([0, 3, 12][row] + later),
    }
}

fn grid(columns: &[String], rows: usize, shape: Shape) -> Grid {
    Grid {
        columns: columns.to_vec(),
        rows: (0..rows)
            .map(|r| columns.iter().map(|c| value(c, r, shape)).collect())
            .collect(),
    }
}

/// The snapshot of `shape` for a rule whose subscription is `plan`, at `now`.
fn snapshot(plan: &Plan, shape: Shape, now: i64) -> Snapshot {
    let rows = if shape == Shape::Empty { 0 } else { 3 };
    let mut agents: Vec<String> = plan.agents.clone();
    agents.extend(
        plan.dispositions
            .iter()
            .map(|d| lookout_keeper::snapshot::disposition_column(d)),
    );
    let mut snap = Snapshot::default();
    snap.taken_at = now;
    snap.services = grid(&plan.services, rows, shape);
    snap.agents = grid(&agents, rows, shape);
    if shape != Shape::Empty {
        for t in &plan.totals {
            snap.totals.insert(t.clone(), value(t, 2, shape));
        }
        for (i, s) in SERVICES.iter().enumerate() {
            snap.availability.insert(s.to_string(), i != 1);
        }
    }
    if plan.chat_limit.is_some() && shape != Shape::Empty {
        for (i, (urgent, content)) in [(true, "please join my call"), (false, "lunch?")]
            .into_iter()
            .enumerate()
        {
            snap.chat.push(ChatMessage {
                id: format!("msg-{}", ["a", "b"][i]),
                login_id: LOGINS[i].into(),
                first_name: NAMES[i].split(' ').next().unwrap_or_default().into(),
                last_name: NAMES[i].split(' ').nth(1).unwrap_or_default().into(),
                send_time: Some(now - 30 * (i as i64 + 1)),
                is_urgent: urgent,
                content: if shape == Shape::Missing {
                    String::new()
                } else {
                    content.into()
                },
            });
        }
    }
    snap
}

/// Run `rule` over every made-up snapshot; what went wrong, each at its `file:line:col`.
pub fn dry_run(engine: &RuleEngine, rule: &Rule) -> Vec<Diagnostic> {
    let plan = plan_for(std::iter::once(rule));
    let now = 1_764_000_000;
    let mut out: Vec<Diagnostic> = Vec::new();
    let mut seen: BTreeSet<(usize, usize, String)> = BTreeSet::new();
    let run = |snap: &Arc<Snapshot>, prev: Option<&Arc<Snapshot>>| {
        let mut input = PollInput::new(snap.taken_at, snap, prev);
        engine
            .run(rule, &mut input, Instant::now() + engine.limits().deadline)
            .result
    };
    let typical = Arc::new(snapshot(&plan, Shape::Typical, now));
    let empty = Arc::new(snapshot(&plan, Shape::Empty, now - 2));
    let mut keys: [Option<BTreeSet<String>>; 2] = [None, None];
    for (shape, prev) in [
        (Shape::Typical, Some(&empty)),
        (Shape::Later, Some(&typical)),
        (Shape::Empty, None),
        (Shape::Missing, Some(&typical)),
        (Shape::Extreme, Some(&typical)),
    ] {
        let snap = match shape {
            Shape::Typical => typical.clone(),
            Shape::Empty => empty.clone(),
            other => Arc::new(snapshot(&plan, other, now + 2)),
        };
        match run(&snap, prev) {
            Ok(found) => {
                let slot = match shape {
                    Shape::Typical => 0,
                    Shape::Later => 1,
                    _ => continue,
                };
                keys[slot] = Some(found.into_iter().map(|f| f.key).collect());
            }
            Err(mut d) => {
                // Once per place and message, at the first shape that shows it.
                if !seen.insert((d.line, d.col, d.message.clone())) {
                    continue;
                }
                let (prefix, warning) = shape.said();
                d.message = format!("{prefix}{}", d.message);
                d.warning = warning;
                out.push(d);
            }
        }
    }
    if let [Some(a), Some(b)] = &keys
        && let Some(d) = moving_key(rule, a, b)
    {
        out.push(d);
    }
    out
}

/// A key of one poll that is another key the next poll, where only digits moved: the key holds
/// a number or a duration.
fn moving_key(
    rule: &Rule,
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
) -> Option<Diagnostic> {
    let shape = |k: &str| -> String {
        let mut out = String::new();
        for c in k.chars() {
            if c.is_ascii_digit() {
                if !out.ends_with('#') {
                    out.push('#');
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    let gone = before
        .difference(after)
        .find(|k| k.chars().any(|c| c.is_ascii_digit()))?;
    let came = after.difference(before).find(|k| shape(k) == shape(gone))?;
    let line = crate::line_of(rule, "alert(");
    let col = rule
        .source
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find("alert("))
        .map_or(1, |c| c + 1);
    let mut d = Diagnostic::error(
        &rule.path,
        line,
        col,
        format!(
            "the alert key changes from one poll to the next (`{gone}`, then `{came}`): a number or a duration in a key makes a new alert every poll; key by what the alert is about (a service, an agent) and put the numbers in the title or body"
        ),
    );
    d.warning = true;
    Some(d)
}
