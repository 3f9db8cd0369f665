//! The rule test format: a TOML file that feeds one rule a timeline of values and checks what
//! fires, resolves and notifies when. Modelled on `promtool test rules`.
//!
//! ```toml
//! rule = "../no_ready.rhai"       # relative to this file
//! interval = "2s"                 # time between polls
//!
//! [[series]]
//! service = "Billing"             # or agent = "login", or totals = true
//! in_calls_waiting = "0 0 3x5"    # 0, 0, then 3 six times
//! agents_ready = "2 0x10"
//!
//! [[chat]]
//! at = "10s"
//! id = "m1"
//! from = "diana.yeh"
//! urgent = true
//! content = "help"
//!
//! [[availability]]
//! service = "Billing"
//! values = "true falsex5"
//!
//! [[expect]]
//! at = "20s"
//! firing = ["noready:Billing"]
//! notified = ["firing noready:Billing"]
//! labels = { "noready:Billing" = { service = "Billing" } }
//! ```
//!
//! Values: `_` is no value; `a+bxn` is `a, a+b, …, a+n·b`; `axn` is `a` n+1 times; words are
//! text (quote one that ends in x and digits). A series keeps its last value after its end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{Evaluator, RuleEngine, RuleFile, RuleSet};
use lookout_alerting::lifecycle::{Lifecycle, NoticeKind, State};
use lookout_keeper::catalogue::kind_of;
use lookout_keeper::snapshot::{ChatMessage, Grid, Snapshot, Value};
use lookout_statsapi::wire::Cell;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    rule: PathBuf,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    start: Option<i64>,
    #[serde(default)]
    series: Vec<RawSeries>,
    #[serde(default)]
    chat: Vec<RawChat>,
    #[serde(default)]
    availability: Vec<RawAvailability>,
    #[serde(default)]
    expect: Vec<RawExpect>,
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    totals: Option<bool>,
    #[serde(flatten)]
    stats: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    at: String,
    id: String,
    from: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
    #[serde(default)]
    urgent: bool,
    content: String,
    /// Seconds before `at` the message was sent (default 0).
    #[serde(default)]
    age: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAvailability {
    service: String,
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    at: String,
    #[serde(default)]
    firing: Option<Vec<String>>,
    #[serde(default)]
    pending: Option<Vec<String>>,
    #[serde(default)]
    resolved: Option<Vec<String>>,
    #[serde(default)]
    notified: Option<Vec<String>>,
    /// key → the alert's exact title.
    #[serde(default)]
    titles: BTreeMap<String, String>,
    /// key → text the alert's body contains.
    #[serde(default)]
    body_contains: BTreeMap<String, String>,
    /// key → the alert's labels, exactly.
    #[serde(default)]
    labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// Which row a series feeds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Totals,
    Service(String),
    Agent(String),
}

type Rows = BTreeMap<String, BTreeMap<String, Value>>;

/// A loaded test file.
#[derive(Debug)]
pub struct TestFile {
    pub path: PathBuf,
    pub rule: PathBuf,
    interval: i64,
    start: i64,
    series: Vec<(Target, String, Vec<Value>)>,
    chat: Vec<(i64, ChatMessage)>,
    availability: Vec<(String, Vec<Option<bool>>)>,
    expect: Vec<(i64, RawExpect)>,
}

/// One token of a series, expanded.
fn expand(token: &str, stat: &str) -> Result<Vec<Value>, String> {
    let typed = |t: &str| -> Value {
        if t == "_" {
            Value::None
        } else {
            Value::parse(&Cell::Text(t.to_string()), kind_of(stat))
        }
    };
    if let Some(q) = token.strip_prefix('"') {
        let (text, rest) = q
            .split_once('"')
            .ok_or_else(|| format!("`{token}`: unclosed quote"))?;
        let n = match rest.strip_prefix('x') {
            Some(n) => n
                .parse::<usize>()
                .map_err(|_| format!("`{token}`: `x` must be followed by a count"))?,
            None if rest.is_empty() => 0,
            None => return Err(format!("`{token}`: unexpected `{rest}` after the quote")),
        };
        return Ok(vec![Value::Text(text.into()); n + 1]);
    }
    let Some((head, count)) = token
        .rsplit_once('x')
        .filter(|(h, n)| !h.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(vec![typed(token)]);
    };
    let n: usize = count
        .parse()
        .map_err(|_| format!("`{token}`: the count is too large"))?;
    if n > 100_000 {
        return Err(format!("`{token}`: {n} repeats is more than a test needs"));
    }
    // a+b or a-b: a ramp.
    let ramp = head
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .and_then(|(i, _)| {
            let (a, b) = head.split_at(i);
            Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?))
        });
    if let Some((a, b)) = ramp {
        return Ok((0..=n)
            .map(|i| {
                let v = a + b * i as f64;
                typed(&if v.fract() == 0.0 {
                    format!("{}", v as i64)
                } else {
                    v.to_string()
                })
            })
            .collect());
    }
    Ok(vec![typed(head); n + 1])
}

fn values(text: &str, stat: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for token in tokens(text) {
        out.extend(expand(&token, stat)?);
    }
    Ok(out)
}

/// Split on whitespace, keeping quoted text together.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn secs(text: &str, what: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        return Ok(n);
    }
    humantime::parse_duration(t)
        .map(|d: Duration| d.as_secs() as i64)
        .map_err(|e| format!("{what}: `{text}` is not a duration like \"30s\" or \"2m\": {e}"))
}

impl TestFile {
    /// Read and check a test file. Errors name the file and what is wrong.
    pub fn load(path: &Path) -> Result<TestFile, String> {
        let text = lookout_keeper::files::read_text(path, lookout_keeper::files::MAX_TEXT_FILE)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        TestFile::parse(path, &text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(path: &Path, text: &str) -> Result<TestFile, String> {
        let raw: Raw = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        let interval = secs(raw.interval.as_deref().unwrap_or("2s"), "interval")?;
        if interval < 1 {
            return Err("interval: must be at least 1 second".into());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut series = Vec::new();
        for (i, s) in raw.series.iter().enumerate() {
            let n = i + 1;
            let target = match (&s.service, &s.agent, s.totals) {
                (Some(svc), None, None) => Target::Service(svc.clone()),
                (None, Some(a), None) => Target::Agent(a.clone()),
                (None, None, Some(true)) => Target::Totals,
                _ => {
                    return Err(format!(
                        "series {n}: say which row it feeds: exactly one of service = \"…\", agent = \"…\" or totals = true"
                    ));
                }
            };
            if s.stats.is_empty() {
                return Err(format!(
                    "series {n}: no statistics; add e.g. in_calls_waiting = \"0 1 2\""
                ));
            }
            for (stat, v) in &s.stats {
                let text = match v {
                    toml::Value::String(t) => t.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    other => {
                        return Err(format!(
                            "series {n}: {stat}: values are a string like \"0 1 2x3\", not {}",
                            other.type_str()
                        ));
                    }
                };
                let vals = values(&text, stat).map_err(|e| format!("series {n}: {stat}: {e}"))?;
                series.push((target.clone(), stat.clone(), vals));
            }
        }
        let mut chat = Vec::new();
        for (i, c) in raw.chat.iter().enumerate() {
            let at = secs(&c.at, &format!("chat {}: at", i + 1))?;
            chat.push((
                at,
                ChatMessage {
                    id: c.id.clone(),
                    login_id: c.from.clone(),
                    first_name: c.first_name.clone(),
                    last_name: c.last_name.clone(),
                    send_time: None,
                    is_urgent: c.urgent,
                    content: c.content.clone(),
                },
            ));
            if let Some(age) = c.age {
                chat.last_mut().expect("pushed").1.send_time = Some(-age);
            }
        }
        let mut availability = Vec::new();
        for (i, a) in raw.availability.iter().enumerate() {
            let mut vals = Vec::new();
            for token in tokens(&a.values) {
                for v in expand(&token, "").map_err(|e| format!("availability {}: {e}", i + 1))? {
                    vals.push(match v {
                        Value::None => None,
                        Value::Int(1) => Some(true),
                        Value::Int(0) => Some(false),
                        Value::Text(t) if &*t == "true" => Some(true),
                        Value::Text(t) if &*t == "false" => Some(false),
                        other => {
                            return Err(format!(
                                "availability {}: `{other:?}` is not true, false or _",
                                i + 1
                            ));
                        }
                    });
                }
            }
            availability.push((a.service.clone(), vals));
        }
        let mut expect = Vec::new();
        for (i, e) in raw.expect.into_iter().enumerate() {
            let at = secs(&e.at, &format!("expect {}: at", i + 1))?;
            if at % interval != 0 {
                return Err(format!(
                    "expect {}: at {at}s is not a poll time; polls are every {interval}s",
                    i + 1
                ));
            }
            expect.push((at, e));
        }
        if expect.is_empty() {
            return Err("no [[expect]]: a test must check something".into());
        }
        expect.sort_by_key(|(t, _)| *t);
        Ok(TestFile {
            path: path.to_path_buf(),
            rule: normalize(&base.join(&raw.rule)),
            interval,
            start: raw.start.unwrap_or(1_700_000_000),
            series,
            chat,
            availability,
            expect,
        })
    }

    /// The snapshot of poll `i`.
    fn snapshot(&self, i: usize) -> Snapshot {
        let at = i as i64 * self.interval;
        let pick = |vals: &[Value]| vals.get(i).or(vals.last()).cloned().unwrap_or(Value::None);
        let mut snap = Snapshot::default();
        snap.taken_at = self.start + at;
        // agents? → (columns in order of appearance, row name → stat → value)
        let mut grids: BTreeMap<bool, (Vec<String>, Rows)> = BTreeMap::new();
        for (target, stat, vals) in &self.series {
            match target {
                Target::Totals => {
                    snap.totals.insert(stat.clone(), pick(vals));
                }
                Target::Service(name) | Target::Agent(name) => {
                    let is_agent = matches!(target, Target::Agent(_));
                    let (cols, rows) = grids.entry(is_agent).or_default();
                    if !cols.contains(stat) {
                        cols.push(stat.clone());
                    }
                    rows.entry(name.clone())
                        .or_default()
                        .insert(stat.clone(), pick(vals));
                }
            }
        }
        for (is_agent, (cols, rows)) in grids {
            let key = if is_agent { "login_id" } else { "name" };
            let mut columns = vec![key.to_string()];
            columns.extend(cols.into_iter().filter(|c| c != key));
            let grid = Grid {
                rows: rows
                    .into_iter()
                    .map(|(name, mut vals)| {
                        columns
                            .iter()
                            .map(|c| {
                                if c == key {
                                    Value::Text(name.as_str().into())
                                } else {
                                    vals.remove(c).unwrap_or(Value::None)
                                }
                            })
                            .collect()
                    })
                    .collect(),
                columns,
            };
            if is_agent {
                snap.agents = grid;
            } else {
                snap.services = grid;
            }
        }
        // Newest first, like the server.
        for (t, m) in self.chat.iter().rev() {
            if *t <= at {
                let mut m = m.clone();
                m.send_time = Some(self.start + t + m.send_time.unwrap_or(0));
                snap.chat.push(m);
            }
        }
        snap.chat.sort_by_key(|m| std::cmp::Reverse(m.send_time));
        for (service, vals) in &self.availability {
            if let Some(v) = vals.get(i).or(vals.last()).copied().flatten() {
                snap.availability.insert(service.clone(), v);
            }
        }
        snap
    }

    /// Run the test: feed the rule every poll up to the last expectation and compare.
    pub fn run(&self, engine: &RuleEngine) -> TestReport {
        let mut report = TestReport {
            path: self.path.clone(),
            checks: 0,
            failures: Vec::new(),
        };
        let source = match lookout_keeper::files::read_text(
            &self.rule,
            lookout_keeper::files::MAX_TEXT_FILE,
        ) {
            Ok(s) => s,
            Err(e) => {
                report
                    .failures
                    .push(format!("cannot read the rule {}: {e}", self.rule.display()));
                return report;
            }
        };
        let rule = match engine.compile(&self.rule, &source) {
            Ok(r) => Arc::new(r),
            Err(d) => {
                report.failures.push(d.render(&source));
                return report;
            }
        };
        let id = rule.id.clone();
        let metas = BTreeMap::from([(id.clone(), rule.meta.alert.clone())]);
        let mut set = RuleSet {
            dir: self.rule.parent().unwrap_or(Path::new(".")).to_path_buf(),
            ..RuleSet::default()
        };
        set.files.insert(
            id.clone(),
            RuleFile {
                path: self.rule.clone(),
                rule: Some(rule),
                error: None,
                warnings: Vec::new(),
                source,
                stamp: None,
            },
        );
        let mut evaluator = Evaluator::default();
        let mut lifecycle = Lifecycle::default();
        let last = self.expect.last().map_or(0, |(t, _)| *t) / self.interval;
        let mut expects = self.expect.iter().peekable();
        let (mut notified, mut resolved) = (Vec::new(), Vec::new());
        let mut firing_before: BTreeSet<String> = BTreeSet::new();
        for i in 0..=last as usize {
            let at = i as i64 * self.interval;
            let snap = Arc::new(self.snapshot(i));
            let now = snap.taken_at;
            let eval = evaluator.evaluate(engine, &set, snap, now);
            if let Some(err) = eval.reports.iter().find_map(|r| r.error.as_ref()) {
                report
                    .failures
                    .push(format!("at {at}s the rule failed: {err}"));
                return report;
            }
            for n in lifecycle
                .step(now, &metas, &eval.findings)
                .into_iter()
                .filter(|n| n.notify)
            {
                let kind = match n.kind {
                    NoticeKind::Firing => "firing",
                    NoticeKind::Repeat => "repeat",
                    NoticeKind::Resolved => "resolved",
                };
                notified.push(format!("{kind} {}", n.key));
            }
            let firing_now: BTreeSet<String> = lifecycle
                .alerts()
                .filter(|a| a.state == State::Firing)
                .map(|a| a.key.clone())
                .collect();
            let present: BTreeSet<String> = lifecycle.alerts().map(|a| a.key.clone()).collect();
            resolved.extend(firing_before.difference(&present).cloned());
            firing_before = firing_now;
            while let Some((t, e)) = expects.peek() {
                if *t != at {
                    break;
                }
                let pending: BTreeSet<String> = lifecycle
                    .alerts()
                    .filter(|a| a.state == State::Pending)
                    .map(|a| a.key.clone())
                    .collect();
                let mut check = |what: &str, want: &Option<Vec<String>>, got: Vec<String>| {
                    if let Some(want) = want {
                        report.checks += 1;
                        let mut want = want.clone();
                        want.sort();
                        let mut got = got;
                        got.sort();
                        if want != got {
                            report.failures.push(format!(
                                "at {at}s {what}:\n    expected {want:?}\n         got {got:?}"
                            ));
                        }
                    }
                };
                check("firing", &e.firing, firing_before.iter().cloned().collect());
                check("pending", &e.pending, pending.into_iter().collect());
                check("resolved", &e.resolved, std::mem::take(&mut resolved));
                check("notified", &e.notified, std::mem::take(&mut notified));
                for (key, title) in &e.titles {
                    report.checks += 1;
                    match lifecycle.alerts().find(|a| &a.key == key) {
                        Some(a) if &a.title == title => {}
                        Some(a) => report.failures.push(format!(
                            "at {at}s the title of {key}:\n    expected {title:?}\n         got {:?}",
                            a.title
                        )),
                        None => report
                            .failures
                            .push(format!("at {at}s {key} has no alert, so no title")),
                    }
                }
                for (key, want) in &e.labels {
                    report.checks += 1;
                    match lifecycle.alerts().find(|a| &a.key == key) {
                        Some(a) if &a.labels == want => {}
                        Some(a) => report.failures.push(format!(
                            "at {at}s the labels of {key}:\n    expected {want:?}\n         got {:?}",
                            a.labels
                        )),
                        None => report
                            .failures
                            .push(format!("at {at}s {key} has no alert, so no labels")),
                    }
                }
                for (key, part) in &e.body_contains {
                    report.checks += 1;
                    match lifecycle.alerts().find(|a| &a.key == key) {
                        Some(a) if a.body.contains(part.as_str()) => {}
                        Some(a) => report.failures.push(format!(
                            "at {at}s the body of {key} does not contain {part:?}: {:?}",
                            a.body
                        )),
                        None => report
                            .failures
                            .push(format!("at {at}s {key} has no alert, so no body")),
                    }
                }
                expects.next();
            }
        }
        report
    }
}

/// Run the tests in `dir/tests` of the rule `id` (the test files whose `rule` names it); the
/// error says what could not be read. Call it on a thread with [`crate::RULE_STACK`].
pub fn run_rule(dir: &Path, id: &str, engine: &RuleEngine) -> Result<Vec<TestReport>, String> {
    let files =
        find(dir).map_err(|e| format!("cannot read {}: {e}", dir.join("tests").display()))?;
    let mut out = Vec::new();
    for path in files {
        let tf = TestFile::load(&path)?;
        if crate::rule_id(&tf.rule) == id {
            out.push(tf.run(engine));
        }
    }
    Ok(out)
}

/// What a test file's run found.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub path: PathBuf,
    pub checks: usize,
    pub failures: Vec<String>,
}

/// `rules/tests/../x.rhai` → `rules/x.rhai`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The test files of a rules folder: `DIR/tests/*.toml`.
pub fn find(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let tests = dir.join("tests");
    if !tests.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(&tests)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(v: Vec<Value>) -> Vec<Option<i64>> {
        v.iter().map(|v| v.as_i64()).collect()
    }

    #[test]
    fn the_repeat_notation() {
        let v = |t| ints(values(t, "in_calls_waiting").unwrap());
        assert_eq!(v("1 2 3"), [Some(1), Some(2), Some(3)]);
        assert_eq!(v("0x3"), [Some(0); 4]);
        assert_eq!(v("1+2x3"), [Some(1), Some(3), Some(5), Some(7)]);
        assert_eq!(v("10-5x2"), [Some(10), Some(5), Some(0)]);
        assert_eq!(v("_ _x1 4"), [None, None, None, Some(4)]);
        let states = values("ready busyx1 \"max3\"x1", "acd_state").unwrap();
        let texts: Vec<&str> = states.iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(texts, ["ready", "busy", "busy", "max3", "max3"]);
        assert!(values("\"open", "x").is_err());
    }
}
