//! Rules rewritten with the helpers that work in Rust (`alert_each`, `tally`, `column`,
//! `change_since`) find exactly what their loops find: every rule of
//! `benches/reference-helpers/` against its twin in `benches/reference/`, and each shipped rule
//! that uses them against its loop version (`tests/loops/`), over synthetic tenants of several
//! shapes and over a recording of the simulated tenant's demo. Equal means every finding: key,
//! severity, title, body and labels, and every error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use lookout_alerting::Finding;
use lookout_keeper::{Grid, Snapshot, Value};
use lookout_rules::{Evaluator, Limits, RuleEngine, RuleSet};

#[path = "../benches/synthetic.rs"]
mod synthetic;

/// The snapshots both versions run over: the benchmark's tenant with three seeds and loads,
/// one with every value missing, one at a shift change, one with no rows, and one with
/// extreme numbers.
fn snapshots() -> Vec<Snapshot> {
    let mut out: Vec<Snapshot> = [(7, 300), (1, 0), (42, 5000)]
        .into_iter()
        .map(|(seed, waiting)| synthetic::synthetic(seed, waiting))
        .collect();
    let base = synthetic::synthetic(3, 100);
    let blank = |g: &Grid| Grid {
        columns: g.columns.clone(),
        rows: g.rows.iter().map(|r| vec![Value::None; r.len()]).collect(),
    };
    let mut missing = base.clone();
    missing.services = blank(&base.services);
    missing.agents = blank(&base.agents);
    out.push(missing);
    // A shift change: a third of the agents logged out (no state).
    let mut shift = base.clone();
    let state = shift.agents.column("acd_state").unwrap();
    for row in shift.agents.rows.iter_mut().step_by(3) {
        row[state] = Value::None;
    }
    out.push(shift);
    let mut empty = base.clone();
    empty.services.rows.clear();
    empty.agents.rows.clear();
    empty.chat.clear();
    out.push(empty);
    let mut extreme = base.clone();
    for g in [&mut extreme.services, &mut extreme.agents] {
        for row in &mut g.rows {
            for v in row.iter_mut() {
                if let Value::Int(i) = v {
                    *i = if *i % 2 == 0 { i64::MAX / 4 } else { -1 };
                }
            }
        }
    }
    // Text in other cases: a rule's `contains` and the helpers' must not differ on it.
    for m in &mut extreme.chat {
        m.content = m.content.to_uppercase();
    }
    out.push(extreme);
    out
}

/// Per snapshot: the findings, sorted, and each rule's error message (if it failed; a rule
/// that makes too many alerts fails the same way in both versions).
type Outcome = (Vec<Finding>, Vec<(String, Option<String>)>);

fn findings(engine: &RuleEngine, set: &RuleSet, snaps: &[Snapshot]) -> Vec<Outcome> {
    let mut ev = Evaluator::default();
    snaps
        .iter()
        .map(|s| {
            let e = ev.evaluate(engine, set, Arc::new(s.clone()), s.taken_at);
            let mut errors: Vec<(String, Option<String>)> = e
                .reports
                .iter()
                .map(|r| (r.id.clone(), r.error.as_ref().map(|d| d.message.clone())))
                .collect();
            errors.sort();
            let mut f = e.findings;
            f.sort_by(|a, b| (&a.rule, &a.key).cmp(&(&b.rule, &b.key)));
            (f, errors)
        })
        .collect()
}

/// The rules that are in both folders, each version in a set of its own.
fn pair(engine: &RuleEngine, loops: &Path, with_helpers: &Path) -> (RuleSet, RuleSet) {
    let (loops, helpers) = (
        RuleSet::load(engine, loops).unwrap(),
        RuleSet::load(engine, with_helpers).unwrap(),
    );
    let ids: Vec<String> = helpers
        .rules()
        .filter(|h| loops.rules().any(|l| l.id == h.id))
        .map(|r| r.id.clone())
        .collect();
    assert!(!ids.is_empty(), "no rule is in both folders");
    let only = |set: &RuleSet, name: &str| {
        let dir = std::env::temp_dir().join(format!(
            "lookout-differential-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for r in set.rules().filter(|r| ids.contains(&r.id)) {
            std::fs::write(dir.join(format!("{}.rhai", r.id)), &*r.source).unwrap();
        }
        let out = RuleSet::load(engine, &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(out.diagnostics().is_empty(), "{:?}", out.diagnostics());
        assert_eq!(out.rules().count(), ids.len());
        out
    };
    (only(&loops, "loops"), only(&helpers, "helpers"))
}

/// `tests/recorded/demo.jsonl`: what `lookout record --rules` wrote from the simulated
/// tenant's demo scenario (`lookout sim --scenario demo`), subscribed to the columns of every
/// reference and shipped rule; every second poll of two minutes (30), in order, so rules that
/// read `prev` compare consecutive recorded polls.
fn recorded() -> Vec<Snapshot> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/recorded/demo.jsonl");
    let snaps = lookout_keeper::recording::read(&path).unwrap();
    assert!(snaps.len() >= 30, "{} snapshots", snaps.len());
    snaps
}

#[test]
fn rules_rewritten_with_the_helpers_find_exactly_what_their_loops_find() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let engine = RuleEngine::new(Limits::default());
    let tenants = [("synthetic", snapshots()), ("recorded", recorded())];
    for (loops, helpers) in [
        (
            root.join("benches/reference"),
            root.join("benches/reference-helpers"),
        ),
        (root.join("tests/loops"), root.join("../../rules")),
    ] {
        let (loops, helpers) = pair(&engine, &loops, &helpers);
        // Per rule, how many findings both versions agreed on.
        let mut fired: BTreeMap<String, usize> = loops.rules().map(|r| (r.id.clone(), 0)).collect();
        for (tenant, snaps) in &tenants {
            let (a, b) = (
                findings(&engine, &loops, snaps),
                findings(&engine, &helpers, snaps),
            );
            for (i, ((a, a_errors), (b, b_errors))) in a.iter().zip(&b).enumerate() {
                assert_eq!(
                    a_errors, b_errors,
                    "{tenant} snapshot {i}: the same rules fail, the same way"
                );
                assert_eq!(a.len(), b.len(), "{tenant} snapshot {i}: as many findings");
                for (x, y) in a.iter().zip(b) {
                    assert_eq!(
                        (&x.rule, &x.key, x.severity, &x.title, &x.body, &x.labels),
                        (&y.rule, &y.key, y.severity, &y.title, &y.body, &y.labels),
                        "{tenant} snapshot {i}"
                    );
                    *fired.entry(x.rule.clone()).or_default() += 1;
                }
            }
        }
        // A rule that never fires is compared on nothing.
        let silent: Vec<&String> = fired
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| id)
            .collect();
        assert!(
            silent.is_empty(),
            "never fired, so never compared: {silent:?} ({fired:?})"
        );
    }
}

/// What a template cannot say is an error that says how, not a wrong alert.
#[test]
fn a_bad_template_is_an_error_that_says_what_to_write() {
    let engine = RuleEngine::new(Limits::default());
    let dir = std::env::temp_dir().join(format!("lookout-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let call = |key: &str| format!("alert_each(services, {key}, \"t\", \"\")");
    let cases = [
        (call("\"k:{nme}\""), "did you mean `name`"),
        (call("\"k:{name\""), "write `{{` for a brace"),
        (call("\"k:name}\""), "write `}}` for a brace"),
        (call("\"k:{}\""), "names no column"),
        (call("\"\""), "the key must not be empty"),
        (call("\"k:{name:rnd}\""), "unknown format `:rnd`"),
        (
            "alert_each(services.tally(\"name\").where(\"coun\", \">\", 1), \"k:{name}\", \"t\", \"\")"
                .to_string(),
            "did you mean `count`",
        ),
        // A tally carries only the columns the rule declared.
        (
            "alert_each(services.tally(\"name\", \"in_calls_waiting\"), \"k:{name}\", \"{agents_ready}\", \"\")"
                .to_string(),
            "unknown column `agents_ready`",
        ),
    ];
    let snap = Arc::new(synthetic::synthetic(7, 300));
    for (i, (line, want)) in cases.iter().enumerate() {
        let file = dir.join(format!("t{i}.rhai"));
        std::fs::write(
            &file,
            format!(
                "const RULE = #{{ name: \"t\", needs: #{{ services: [\"name\", \"in_calls_waiting\"] }} }};\n{line};\n"
            ),
        )
        .unwrap();
        let set = RuleSet::load(&engine, &dir).unwrap();
        let e = Evaluator::default().evaluate(&engine, &set, snap.clone(), 0);
        let err = e.reports.iter().find_map(|r| r.error.clone()).expect(want);
        assert!(err.message.contains(want), "{line}: {}", err.message);
        assert_eq!(err.line, 2, "{line}: at the call");
        std::fs::remove_file(&file).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
