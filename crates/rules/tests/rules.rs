//! Rules as their authors meet them: files in a folder, compiled, run over snapshots, broken in
//! every way a rule can be broken, edited while running.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use lookout_keeper::{Grid, Snapshot, Value};
use lookout_rules::worker::{Event, RuleWorker};
use lookout_rules::{Change, Evaluator, Limits, RuleEngine, RuleSet, Severity};

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lookout-rules-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

/// Three services, four agents, two totals.
fn snapshot(waiting_billing: i64) -> Snapshot {
    let mut s = Snapshot::default();
    s.taken_at = 1_700_000_000;
    s.totals
        .insert("in_calls_waiting".into(), Value::Int(3 + waiting_billing));
    s.totals.insert("service_level".into(), Value::None);
    s.services = Grid {
        columns: [
            "name",
            "in_calls_waiting",
            "agents_ready",
            "in_max_wait_time",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![
            vec![text("Sales"), Value::Int(3), Value::Int(2), Value::Int(40)],
            vec![
                text("Billing"),
                Value::Int(waiting_billing),
                Value::Int(0),
                Value::Int(95),
            ],
            vec![text("VIP"), Value::Int(0), Value::Int(1), Value::None],
        ],
    };
    s.agents = Grid {
        columns: ["login_id", "team_name", "acd_state", "state_duration"]
            .map(String::from)
            .to_vec(),
        rows: vec![
            vec![text("anna"), text("North"), text("ready"), Value::Int(10)],
            vec![
                text("ben"),
                text("North"),
                text("after_call_work"),
                Value::Int(400),
            ],
            vec![
                text("cleo"),
                text("South"),
                text("after_call_work"),
                Value::Int(90),
            ],
            vec![text("dan"), text("South"), Value::None, Value::None],
        ],
    };
    s.availability.insert("Billing".into(), false);
    s
}

const HEADER: &str = r#"const RULE = #{ name: "Probe", severity: "warning",
    needs: #{ services: ["name", "in_calls_waiting", "agents_ready", "in_max_wait_time"],
              agents: ["login_id", "team_name", "acd_state", "state_duration"],
              totals: ["in_calls_waiting", "service_level"] } };
"#;

/// Run one rule body (after a standard header) over `snapshot(4)`; its alerts' titles, in
/// order, or the error.
fn titles(body: &str) -> Result<Vec<String>, String> {
    let dir = tempdir("one");
    write(&dir, "probe.rhai", &format!("{HEADER}{body}"));
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    if let Some(d) = set.diagnostics().first() {
        return Err(d.to_string());
    }
    let mut ev = Evaluator::default();
    let e = ev.evaluate(&engine, &set, Arc::new(snapshot(4)), 1_700_000_000);
    match &e.reports[0].error {
        Some(d) => Err(d.to_string()),
        None => Ok(e.findings.iter().map(|f| f.title.clone()).collect()),
    }
}

#[test]
fn the_helpers_answer_in_rust_over_the_snapshot() {
    let cases: &[(&str, &[&str])] = &[
        (
            r#"for s in services.where("agents_ready", 0).where("in_calls_waiting", ">", 0) { alert(s.name, s.name, ""); }"#,
            &["Billing"],
        ),
        (
            r#"alert("n", `${services.len()} ${agents.where("acd_state", "!=", "ready").len()} ${agents.where("login_id", "contains", "AN").len()}`, "");"#,
            &["3 2 2"],
        ),
        (
            r#"let c = agents.count_by("acd_state"); alert("c", `${c["after_call_work"]} ${c.ready}`, "");"#,
            &["2 1"],
        ),
        (
            r#"let g = agents.group_by("team_name"); for t in g.keys() { alert(t, `${t}:${join(g[t].values("login_id"), "+")}`, ""); }"#,
            &["North:anna+ben", "South:cleo+dan"],
        ),
        (
            r#"let t = agents.top(2, "state_duration"); alert("t", join(t.values("login_id"), ","), "");"#,
            &["ben,cleo"],
        ),
        (
            r#"alert("s", `${services.sum("in_calls_waiting")} ${services.min("in_max_wait_time")} ${services.max("in_max_wait_time")} ${services.avg("agents_ready")}`, "");"#,
            &["7 40 95 1.0"],
        ),
        (
            r#"alert("f", `${services.first().name} ${services[2].name} ${services.where("name", "Nope").first() == ()}`, "");"#,
            &["Sales VIP true"],
        ),
        (
            r#"alert("u", `${fmt_dur(3725)} ${fmt_dur(312)} ${fmt_dur(45)} ${pct(1, 4)} ${pct(1, 0) == ()}`, "");"#,
            &["1h 02m 5m 12s 45s 25.0 true"],
        ),
        (
            // No value compares false, never errors.
            r#"if totals.service_level < 80 { alert("sl", "low", ""); } else { alert("sl", "no value", ""); }"#,
            &["no value"],
        ),
        (
            r#"alert("a", `${available("in_calls_waiting")} ${available("service_level")} ${available("agents_ready")} ${available("in_ewt")} ${availability["Billing"]}`, "");"#,
            &["true false true false false"],
        ),
        (
            r#"alert("p", `${prev == ()} ${now}`, "");"#,
            &["true 1700000000"],
        ),
        (
            r#"let n = 0; for a in agents { if a["acd_state"] == () { n += 1; } } alert("x", `${n}`, "");"#,
            &["1"],
        ),
        (
            // Arithmetic with no value has no value, and compares false: no error.
            r#"let x = totals.service_level + 1; alert("x", `${x == ()} ${x > 5} ${2 * () == ()} ${() - () == ()} ${x <= ()}`, "");"#,
            &["true false true true false"],
        ),
        (
            // `where` against arithmetic on the row's own columns, computed in Rust.
            r#"let pressed = services.where("in_calls_waiting", ">", (column("agents_ready") + 1) * 2);
               let slow = services.where("in_max_wait_time", ">", column("in_calls_waiting") * 20);
               let thin = services.where("agents_ready", "<", 0.5 * column("in_calls_waiting"));
               let none = services.where("in_calls_waiting", ">", column("in_max_wait_time") / 0);
               let diff = services.where("in_calls_waiting", "==", column("agents_ready") - column("agents_ready") + 3);
               alert("c", `${join(pressed.values("name"), ",")} ${join(slow.values("name"), ",")} ${join(thin.values("name"), ",")} ${none.len()} ${join(diff.values("name"), ",")}`, "");"#,
            &["Billing Billing Billing 0 Sales"],
        ),
    ];
    for (body, want) in cases {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(titles(body), Ok(want), "{body}");
    }
}

#[test]
fn alerts_carry_the_rule_and_its_severity() {
    let dir = tempdir("severity");
    write(
        &dir,
        "sev.rhai",
        r#"const RULE = #{ name: "S", severity: "info", needs: #{} };
alert("a", "default", "b");
alert("c", "critical", "explicit", "d");"#,
    );
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    let e = Evaluator::default().evaluate(&engine, &set, Arc::new(snapshot(0)), 0);
    let got: Vec<(String, Severity)> = e
        .findings
        .iter()
        .map(|f| (format!("{}/{}", f.rule, f.key), f.severity))
        .collect();
    assert_eq!(
        got,
        [
            ("sev/a".to_string(), Severity::Info),
            ("sev/c".to_string(), Severity::Critical)
        ]
    );
}

#[test]
fn alerts_carry_the_labels_their_rule_gives() {
    let dir = tempdir("labels");
    write(
        &dir,
        "lab.rhai",
        r#"const RULE = #{ name: "L", severity: "warning", needs: #{} };
alert("a", "plain", "");
alert("b", "title", "body", #{ team: "Front Line", service: "Billing", empty: "" });
alert("c", "critical", "title", "body", #{ agent: 42 });
alert("d", "critical", "4 arguments, severity first", "");"#,
    );
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    let e = Evaluator::default().evaluate(&engine, &set, Arc::new(snapshot(0)), 0);
    assert!(
        e.reports.iter().all(|r| r.error.is_none()),
        "{:?}",
        e.reports
    );
    let got: Vec<String> = e
        .findings
        .iter()
        .map(|f| format!("{} {:?} {:?}", f.key, f.severity, f.labels))
        .collect();
    assert_eq!(
        got,
        [
            "a Warning {}",
            r#"b Warning {"service": "Billing", "team": "Front Line"}"#,
            r#"c Critical {"agent": "42"}"#,
            "d Critical {}",
        ]
    );
    // A label name that is no word is refused, with the rule's position.
    write(
        &dir,
        "lab.rhai",
        r#"const RULE = #{ name: "L", needs: #{} };
alert("x", "t", "", #{ "two words": "v" });"#,
    );
    let set = RuleSet::load(&engine, &dir).unwrap();
    let e = Evaluator::default().evaluate(&engine, &set, Arc::new(snapshot(0)), 0);
    let err = e.reports[0].error.as_ref().expect("an error").to_string();
    assert!(
        err.contains("lab.rhai:2:") && err.contains("label name `two words`"),
        "{err}"
    );
}

#[test]
fn reading_an_undeclared_or_unknown_column_says_what_to_do() {
    let e = titles(r#"for s in services { alert(s.name, `${s.in_ewt}`, ""); }"#).unwrap_err();
    assert!(
        e.contains("probe.rhai:5:")
            && e.contains("column `in_ewt` is not declared; add \"in_ewt\" to RULE.needs.services"),
        "{e}"
    );
    let e =
        titles(r#"for s in services { alert(s.name, `${s.in_calls_wating}`, ""); }"#).unwrap_err();
    assert!(
        e.contains("unknown column `in_calls_wating`; did you mean `in_calls_waiting`? the services grid has: name, in_calls_waiting, agents_ready, in_max_wait_time"),
        "{e}"
    );
    let e = titles(r#"alert("x", `${totals.in_calls_waitin}`, "");"#).unwrap_err();
    assert!(
        e.contains("unknown total `in_calls_waitin`; did you mean `in_calls_waiting`?"),
        "{e}"
    );
    let e = titles(r#"for m in chat { alert(m.id, "", ""); }"#).unwrap_err();
    assert!(
        e.contains("probe.rhai:5:10: the rule reads `chat` but does not declare it; add `chat: true` to RULE.needs"),
        "{e}"
    );
}

#[test]
fn bad_metadata_is_refused_with_the_key_at_fault() {
    let cases = [
        ("alert(\"a\", \"b\", \"c\");", "no `const RULE"),
        (
            r#"const RULE = #{ severity: "warning", needs: #{} };"#,
            "RULE.name: missing",
        ),
        (
            r#"const RULE = #{ name: "x", severity: "urgent", needs: #{} };"#,
            "RULE.severity: `urgent` is not one of",
        ),
        (
            r#"const RULE = #{ name: "x", for_sec: 5, needs: #{} };"#,
            "RULE.for_sec: unknown key; did you mean `for_secs`?",
        ),
        (
            r#"const RULE = #{ name: "x", for_secs: -5, needs: #{} };"#,
            "RULE.for_secs: -5 is negative",
        ),
        (
            r#"const RULE = #{ name: "x", mode: "once", needs: #{} };"#,
            "RULE.mode: `once` is not",
        ),
        (r#"const RULE = #{ name: "x" };"#, "RULE.needs: missing"),
        (
            r#"const RULE = #{ name: "x", needs: #{ queues: ["a"] } };"#,
            "RULE.needs.queues: unknown section",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{ services: "name" } };"#,
            "RULE.needs.services: must be a list",
        ),
        (
            r#"let n = 5; const RULE = #{ name: "x", for_secs: n, needs: #{} };"#,
            "must be a literal map",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{}, inhibits: ["no_ready"] };"#,
            "RULE.inhibits: must be a map, e.g. inhibits: #{ rules: [\"no_ready\"], equal: [\"service\"] }",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{}, inhibits: #{ rules: ["no_ready"] } };"#,
            "RULE.inhibits.equal: missing; name the labels both alerts must share",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{}, inhibits: #{ rule: ["a"], equal: [] } };"#,
            "RULE.inhibits.rule: unknown key",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{}, inhibits: #{ rules: [], equal: [] } };"#,
            "RULE.inhibits.rules: empty",
        ),
        (
            r#"const RULE = #{ name: "x", needs: #{}, runbook: 5 };"#,
            "RULE.runbook: must be a string",
        ),
    ];
    let engine = RuleEngine::default();
    for (src, want) in cases {
        let err = engine.compile(Path::new("r.rhai"), src).unwrap_err();
        assert!(err.message.contains(want), "{src}\n→ {err}");
        assert!(err.to_string().starts_with("r.rhai:1:"), "{err}");
    }
    // A statistic Lookout does not know is a warning (the server may reject it), not an error.
    let rule = engine
        .compile(
            Path::new("r.rhai"),
            r#"const RULE = #{ name: "x", needs: #{ services: ["in_calls_wating"] } };"#,
        )
        .unwrap();
    let w = engine.lint(&rule);
    assert_eq!(w.len(), 1);
    assert!(w[0].warning && w[0].message.contains("did you mean `in_calls_waiting`?"));
}

/// Every way a rule can go wrong, in one folder with a healthy rule that runs last: each is
/// rejected or stopped within its deadline, at its file:line:col, and the healthy rule's alert
/// is still produced in the same poll.
#[test]
fn hostile_rules_are_stopped_and_the_others_still_alert() {
    let dir = tempdir("hostile");
    let head = "const RULE = #{ name: \"hostile\", needs: #{ services: [\"name\"] } };\n";
    let hostile: &[(&str, &str, (usize, usize), &str)] = &[
        ("syntax.rhai", "let x = ;", (2, 9), "Unexpected ';'"),
        (
            "runtime.rhai",
            "let x = 1;\nlet y = x / 0;",
            (3, 11),
            "Division by zero",
        ),
        (
            "in_fn.rhai",
            "fn ratio(a, b) { a / b }\nlet r = ratio(1, 0);",
            (2, 20),
            "Division by zero",
        ),
        (
            "forever.rhai",
            "let n = 0;\nloop { n += 1; }",
            (3, 0),
            "deadline",
        ),
        (
            "helpers_forever.rhai",
            "loop { services.where(\"name\", \"x\"); }",
            (2, 0),
            "deadline",
        ),
        (
            "recursion.rhai",
            "fn f(n) { f(n + 1) }\nf(0);",
            (3, 1),
            "nested deeper than 32",
        ),
        (
            "string.rhai",
            "let s = \"x\";\nloop { s += s; }",
            (3, 0),
            "string",
        ),
        (
            "array.rhai",
            "let a = [];\nloop { a.push([1, 2, 3, 4, 5, 6, 7, 8]); }",
            (3, 0),
            "",
        ),
        (
            "sleep.rhai",
            "sleep(5);",
            (2, 1),
            "sleep() is not available",
        ),
        (
            "import.rhai",
            "import \"x\" as y;",
            (2, 1),
            "`import` is not available",
        ),
        (
            "eval.rhai",
            "eval(\"1\");",
            (2, 1),
            "`eval` is not available",
        ),
        (
            "typo.rhai",
            "alertt(\"k\", \"t\", \"b\");",
            (2, 1),
            "did you mean `alert`?",
        ),
        (
            "var.rhai",
            "for s in servics { }",
            (2, 10),
            "did you mean `services`?",
        ),
        ("panics.rhai", "boom();", (0, 0), "internal error"),
    ];
    for (name, body, _, _) in hostile {
        write(&dir, name, &format!("{head}{body}"));
    }
    write(
        &dir,
        "zz_healthy.rhai",
        "const RULE = #{ name: \"healthy\", needs: #{ services: [\"name\"] } };\nalert(\"ok\", \"still here\", \"\");",
    );
    let limits = Limits {
        deadline: Duration::from_millis(100),
        ..Limits::default()
    };
    let engine = RuleEngine::with_functions(limits, |e| {
        e.register_fn("boom", || -> i64 { panic!("a helper went wrong") });
    });
    let set = RuleSet::load(&engine, &dir).unwrap();
    let started = Instant::now();
    let e = Evaluator::default().evaluate(&engine, &set, Arc::new(snapshot(4)), 0);
    let took = started.elapsed();
    assert_eq!(
        e.findings
            .iter()
            .map(|f| f.title.as_str())
            .collect::<Vec<_>>(),
        ["still here"],
        "the healthy rule still alerts"
    );
    // Three runaway rules cost about three deadlines; the slack allows a busy machine.
    assert!(
        took < Duration::from_millis(100 * 3 + 900),
        "a poll with three runaway rules took {took:?}"
    );
    for (name, _, (line, col), want) in hostile {
        let id = name.trim_end_matches(".rhai");
        let d = set.files[id]
            .error
            .clone()
            .or_else(|| {
                e.reports
                    .iter()
                    .find(|r| r.id == id)
                    .and_then(|r| r.error.clone())
            })
            .unwrap_or_else(|| panic!("{name} was neither rejected nor stopped"));
        assert!(d.message.contains(want), "{name}: {d}");
        // Runaway loops stop wherever the limit catches them: on the loop's line, at some column.
        if *line > 0 {
            assert_eq!(d.line, *line, "{name}: {d}");
            let col = if *col > 0 { *col } else { d.col };
            assert_eq!(d.col, col, "{name}: {d}");
            assert!(
                d.to_string()
                    .starts_with(&format!("{}:{line}:{col}: ", dir.join(name).display())),
                "{d}"
            );
        }
    }
    // The runaway ones were each stopped near their deadline, not left to run.
    for r in &e.reports {
        assert!(
            r.elapsed < Duration::from_millis(100 + 250),
            "{}: {:?}",
            r.id,
            r.elapsed
        );
    }
    // A call chain says how the error was reached.
    let in_fn = e.reports.iter().find(|r| r.id == "in_fn").unwrap();
    let d = in_fn.error.as_ref().unwrap();
    assert_eq!(d.chain, ["in call to `ratio` at line 3, column 9"], "{d}");
    assert_eq!((d.line, d.col), (2, 20));
}

#[test]
fn the_subscription_is_the_union_of_the_rules_needs() {
    let dir = tempdir("plan");
    write(
        &dir,
        "a.rhai",
        r#"const RULE = #{ name: "a", needs: #{ services: ["name", "in_ewt"], totals: ["in_ewt"] } };"#,
    );
    write(
        &dir,
        "b.rhai",
        r#"const RULE = #{ name: "b", needs: #{ agents: ["login_id", "agent_total_ACW_time"], chat: true } };"#,
    );
    let engine = RuleEngine::default();
    let plan = RuleSet::load(&engine, &dir).unwrap().plan();
    let overview = lookout_keeper::Plan::overview();
    for s in &overview.services {
        assert!(plan.services.contains(s));
    }
    assert!(plan.services.contains(&"in_ewt".to_string()));
    assert!(plan.totals.contains(&"in_ewt".to_string()));
    assert!(plan.agents.contains(&"agent_total_ACW_time".to_string()));
    assert_eq!(
        plan.services.iter().filter(|s| *s == "name").count(),
        1,
        "no duplicates"
    );
    assert!(plan.chat_limit.is_some());
}

/// A rule thread over the rules in `dir`, and where its events arrive.
fn start_worker(dir: &Path) -> (RuleWorker, mpsc::Receiver<Event>) {
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, dir).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = RuleWorker::start(engine, set, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    (worker, rx)
}

/// Wait for the next evaluation whose findings satisfy `pred`; returns how long it took.
fn wait_eval(
    rx: &mpsc::Receiver<Event>,
    worker: &RuleWorker,
    pred: impl Fn(&[String]) -> bool,
    within: Duration,
) -> (Duration, Vec<Change>) {
    let start = Instant::now();
    let mut changes = Vec::new();
    while start.elapsed() < within {
        worker.submit(Arc::new(snapshot(4)), 0);
        let deadline = Instant::now() + Duration::from_millis(50);
        while let Ok(ev) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            match ev {
                Event::Evaluated(e) => {
                    let titles: Vec<String> = e.findings.iter().map(|f| f.title.clone()).collect();
                    if pred(&titles) {
                        return (start.elapsed(), changes);
                    }
                }
                Event::Reloaded { changes: c, .. } => changes.extend(c),
            }
        }
    }
    panic!("nothing matched within {within:?}; changes seen: {changes:?}");
}

#[test]
fn an_edited_rule_takes_effect_within_a_second_and_a_broken_edit_keeps_the_old_one() {
    let dir = tempdir("reload");
    let rule = |title: &str| {
        format!(
            "const RULE = #{{ name: \"r\", needs: #{{ services: [\"name\"] }} }};\nalert(\"k\", \"{title}\", \"\");\n"
        )
    };
    let path = write(&dir, "r.rhai", &rule("version 1"));
    let (worker, rx) = start_worker(&dir);
    wait_eval(&rx, &worker, |t| t == ["version 1"], Duration::from_secs(2));

    std::fs::write(&path, rule("version 2")).unwrap();
    let (took, changes) = wait_eval(&rx, &worker, |t| t == ["version 2"], Duration::from_secs(3));
    assert!(took < Duration::from_secs(1), "the edit took {took:?}");
    assert!(
        changes.contains(&Change::Updated("r".into())),
        "{changes:?}"
    );

    // A broken edit: the error is reported, version 2 keeps running.
    std::fs::write(
        &path,
        "const RULE = #{ name: \"r\", needs: #{} };\nalert(\"k\", \"v3\"\n",
    )
    .unwrap();
    let start = Instant::now();
    let mut broken = None;
    while start.elapsed() < Duration::from_secs(2) && broken.is_none() {
        worker.submit(Arc::new(snapshot(4)), 0);
        while let Ok(ev) = rx.recv_timeout(Duration::from_millis(50)) {
            match ev {
                Event::Reloaded { changes, .. } => {
                    for c in changes {
                        if let Change::Broken(id, d) = c {
                            broken = Some((id, d));
                        }
                    }
                }
                Event::Evaluated(e) => {
                    let titles: Vec<&str> = e.findings.iter().map(|f| f.title.as_str()).collect();
                    assert_eq!(titles, ["version 2"], "the last good version keeps running");
                }
            }
        }
    }
    let (id, d) = broken.expect("the broken edit is reported");
    assert_eq!(id, "r");
    assert_eq!(d.line, 3, "{d}");
    assert!(d.to_string().contains("r.rhai:3:"), "{d}");

    // Deleted: its alerts are gone (they resolve downstream).
    std::fs::remove_file(&path).unwrap();
    let (_, changes) = wait_eval(&rx, &worker, |t| t.is_empty(), Duration::from_secs(2));
    assert!(
        changes.contains(&Change::Removed("r".into())),
        "{changes:?}"
    );
    worker.stop();
}

#[test]
fn reload_reads_an_edit_the_folder_watch_cannot_see() {
    let dir = tempdir("reload-now");
    let rule = |title: &str| {
        format!(
            "const RULE = #{{ name: \"r\", needs: #{{ services: [\"name\"] }} }};\nalert(\"k\", \"{title}\", \"\");\n"
        )
    };
    let path = write(&dir, "r.rhai", &rule("version 1"));
    let (worker, rx) = start_worker(&dir);
    wait_eval(&rx, &worker, |t| t == ["version 1"], Duration::from_secs(2));
    // Same size, same modification time (a copy that kept its timestamp, a coarse clock): the
    // folder watch cannot tell; "Reload rules" reads the text.
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, rule("version 2")).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    while rx.try_recv().is_ok() {}
    let (_, changes) = wait_eval(&rx, &worker, |t| t == ["version 1"], Duration::from_secs(1));
    assert!(changes.is_empty(), "{changes:?}");
    worker.reload();
    let (took, changes) = wait_eval(&rx, &worker, |t| t == ["version 2"], Duration::from_secs(2));
    assert!(
        changes.contains(&Change::Updated("r".into())),
        "{changes:?}"
    );
    assert!(took < Duration::from_millis(500), "reloaded in {took:?}");
    worker.stop();
}

#[test]
fn a_busy_rule_thread_drops_older_snapshots_instead_of_queueing_them() {
    let dir = tempdir("coalesce");
    // About 50 ms per run.
    write(
        &dir,
        "slow.rhai",
        "const RULE = #{ name: \"slow\", needs: #{ totals: [\"in_calls_waiting\"] } };\nlet n = 0;\nwhile n < 200000 { n += 1; }\nalert(\"k\", `${totals.in_calls_waiting}`, \"\");",
    );
    let (worker, rx) = start_worker(&dir);
    for i in 0..50 {
        worker.submit(Arc::new(snapshot(i)), i);
    }
    let mut seen = Vec::new();
    while let Ok(ev) = rx.recv_timeout(Duration::from_secs(2)) {
        if let Event::Evaluated(e) = ev {
            seen.push(e.now);
            if e.now == 49 {
                break;
            }
        }
    }
    assert_eq!(seen.last(), Some(&49), "the newest snapshot is evaluated");
    assert!(seen.len() < 10, "evaluated {} of 50: {seen:?}", seen.len());
    assert!(worker.dropped() >= 40);
    worker.stop();
}

/// Dispositions end to end against the simulated tenant: the rule's `needs` put a counting
/// column per disposition into the subscription, the tenant's list validates the names, and the
/// rule reads the counts per agent and in total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disposition_counts_per_agent_and_in_total() {
    use lookout_statsapi::{Auth, Client, ClientOptions, DispositionFilter, PollOutcome, Secret};
    let dir = tempdir("dispositions");
    write(
        &dir,
        "sold.rhai",
        r#"const RULE = #{ name: "Sold", needs: #{ agents: ["login_id"], dispositions: ["Product sold"] } };
let per_agent = 0;
for a in agents { per_agent += a.disposition("Product sold"); }
alert("sold", `${per_agent} ${totals.disposition("Product sold")}`, "");"#,
    );
    let engine = RuleEngine::default();
    let mut set = RuleSet::load(&engine, &dir).unwrap();
    assert!(set.diagnostics().is_empty(), "{:?}", set.diagnostics());
    let plan = set.plan();
    assert_eq!(plan.dispositions, ["Product sold"]);

    let cfg = lookout_sim::SimConfig {
        speed: 600.0,
        ..lookout_sim::SimConfig::default()
    };
    let sim = lookout_sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let user = lookout_sim::demo_user();
    let auth = Auth::OAuth {
        client_id: user.name,
        client_secret: Secret::new(user.api_secret),
        scope: "demo.lookout.test".into(),
    };
    let mut client = Client::new(&sim.url(), auth, ClientOptions::default()).unwrap();
    client.authenticate().await.unwrap();
    let tenant = client
        .dispositions(DispositionFilter::default())
        .await
        .unwrap();
    assert!(set.check_dispositions(&tenant).is_empty());
    client.create_subscription(&plan.request()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let data = loop {
        match client.poll_data().await.unwrap() {
            PollOutcome::Data(d) => break d,
            PollOutcome::NotReady => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let snap = Arc::new(Snapshot::from_data(&plan, &data, 0));
    let e = Evaluator::default().evaluate(&engine, &set, snap, 0);
    assert!(e.reports[0].error.is_none(), "{:?}", e.reports[0].error);
    let title = &e.findings[0].title;
    let (per_agent, total) = title.split_once(' ').unwrap();
    assert_eq!(per_agent, total, "the total is the agents' sum");
    assert!(
        total.parse::<i64>().unwrap() > 0,
        "twenty simulated minutes sell something: {title}"
    );
    sim.stop().await;

    // A name the tenant does not have is an error at the rule, with a suggestion.
    write(
        &dir,
        "sold.rhai",
        r#"const RULE = #{ name: "Sold", needs: #{ dispositions: ["Product sol"] } };"#,
    );
    set = RuleSet::load(&engine, &dir).unwrap();
    let errs = set.check_dispositions(&tenant);
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].to_string().contains("sold.rhai:1:1: RULE.needs.dispositions: `Product sol` is not a disposition of this tenant; did you mean `Product sold`?"),
        "{}",
        errs[0]
    );
}

/// The deepest a rule may go: recursion to the call limit, each level inside as many nested
/// expressions as a function body may hold. On the rule thread (whose stack is what runs out),
/// this is stopped with an error like any other runaway rule; it never overflows the stack and
/// takes the whole program down.
#[test]
fn deep_nesting_inside_recursion_is_an_error_not_a_crash() {
    let dir = tempdir("deep");
    let engine = RuleEngine::default();
    // The deepest nesting a function body may hold: the compiler says how deep is too deep.
    let source = |depth: usize| {
        let mut nested = "f(n - 1)".to_string();
        for _ in 0..depth {
            nested = format!("abs({nested})");
        }
        format!(
            "const RULE = #{{ name: \"deep\", needs: #{{}} }};\nfn f(n) {{ if n > 0 {{ {nested} }} else {{ 0 }} }}\nf(1000);"
        )
    };
    let depth = (1..64)
        .take_while(|d| {
            write(&dir, "deep.rhai", &source(*d));
            RuleSet::load(&engine, &dir).unwrap().files["deep"]
                .error
                .is_none()
        })
        .last()
        .unwrap();
    assert!(depth >= 8, "only {depth} levels compile");
    write(&dir, "deep.rhai", &source(depth));
    write(
        &dir,
        "zz_healthy.rhai",
        "const RULE = #{ name: \"healthy\", needs: #{} };\nalert(\"ok\", \"still here\", \"\");",
    );
    let set = RuleSet::load(&engine, &dir).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = RuleWorker::start(engine, set, move |e| {
        let _ = tx.send(e);
    })
    .unwrap();
    worker.submit(Arc::new(snapshot(4)), 0);
    let start = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Event::Evaluated(e)) => {
                let deep = e.reports.iter().find(|r| r.id == "deep").unwrap();
                let d = deep.error.as_ref().expect("the deep rule is stopped");
                assert!(d.message.contains("nested deeper than"), "{d}");
                assert_eq!(e.findings.len(), 1, "the healthy rule still alerts");
                break;
            }
            Ok(_) => {}
            Err(_) => panic!("no evaluation within {:?}", start.elapsed()),
        }
    }
    worker.stop();
}

/// What a rule builds is checked before it is built: `join` cannot make gigabytes out of a big
/// array and a big separator, and an alert's key, title and body have a ceiling.
#[test]
fn joins_and_alerts_cannot_grow_without_bound() {
    let dir = tempdir("bounds");
    let head = "const RULE = #{ name: \"bounds\", needs: #{} };\n";
    write(
        &dir,
        "join.rhai",
        &format!(
            "{head}let sep = \"x\";\nfor i in 0..17 {{ sep += sep; }}\nlet a = [];\na.pad(2000, \"\");\nlet s = join(a, sep);"
        ),
    );
    write(
        &dir,
        "long.rhai",
        &format!(
            "{head}let t = \"y\";\nfor i in 0..17 {{ t += t; }}\nalert(t, t, t);\nalert(t + \"z\", \"short\", \"\");"
        ),
    );
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    let started = Instant::now();
    let e = Evaluator::default().evaluate(&engine, &set, Arc::new(snapshot(4)), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    let join = e.reports.iter().find(|r| r.id == "join").unwrap();
    let d = join.error.as_ref().expect("the join is refused");
    assert!(d.message.contains("join"), "{d}");
    assert_eq!(d.line, 6, "{d}");
    let long: Vec<_> = e.findings.iter().filter(|f| f.rule == "long").collect();
    assert_eq!(long.len(), 2, "two keys stay two alerts");
    assert_ne!(long[0].key, long[1].key);
    for f in &long {
        assert!(f.key.chars().count() <= 256, "key of {}", f.key.len());
        assert!(f.title.chars().count() <= 200, "title of {}", f.title.len());
        assert!(f.body.chars().count() <= 2000, "body of {}", f.body.len());
    }
    assert!(long[0].title.ends_with('…'));
}

/// A rules folder is read, not trusted: what is not a regular file (a pipe that would block
/// the read forever, a device) or is larger than 1 MiB is refused with a message, and the
/// other rules load.
#[cfg(unix)]
#[test]
fn only_small_regular_files_are_read_as_rules() {
    let dir = tempdir("files");
    let head = "const RULE = #{ name: \"ok\", needs: #{} };\n";
    write(&dir, "ok.rhai", head);
    write(
        &dir,
        "huge.rhai",
        &format!("{head}{}", "// pad\n".repeat(200_000)),
    );
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.rhai")).unwrap();
    let fifo = dir.join("pipe.rhai");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let started = Instant::now();
    let set = RuleSet::load(&RuleEngine::default(), &dir).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "nothing blocked"
    );
    let errors: Vec<String> = set.diagnostics().iter().map(|d| d.to_string()).collect();
    for (name, want) in [
        ("huge.rhai", "larger than 1 MiB"),
        ("zero.rhai", "not a regular file"),
        ("pipe.rhai", "not a regular file"),
    ] {
        assert!(
            errors.iter().any(|e| e.contains(name) && e.contains(want)),
            "{name}: {errors:?}"
        );
    }
    assert!(set.files["ok"].rule.is_some());
}

/// A tenant that writes percentages as 0–1 fractions, through the real keeper: the shipped
/// service-level rule reads "70% (target 80%)", not "1% (target 1%)".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fraction_percentages_reach_the_shipped_rules() {
    use lookout_keeper::{KeeperOptions, session};
    use lookout_statsapi::{Auth, Client, ClientOptions, Secret};
    let mut cfg = lookout_sim::SimConfig::default();
    cfg.quirks.fraction_percentages = true;
    let sim = lookout_sim::start(cfg, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    for (service, level) in [("Support", 70), ("Billing", 92)] {
        sim.pin_service(service, "service_level", level);
        sim.pin_service(service, "service_level_target", 80);
        sim.pin_service(service, "in_calls_received_per_day", 50);
    }
    let dir = tempdir("fraction");
    lookout_rules::pack::install(&dir).unwrap();
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    let user = lookout_sim::demo_user();
    let auth = Auth::OAuth {
        client_id: user.name,
        client_secret: Secret::new(user.api_secret),
        scope: "demo.lookout.test".into(),
    };
    let client = Client::new(&sim.url(), auth, ClientOptions::default()).unwrap();
    let options = KeeperOptions {
        poll_interval: Duration::from_millis(200),
        ..KeeperOptions::default()
    };
    let keeper = session::spawn(client, set.plan(), options);
    let mut snapshots = keeper.snapshots();
    let snap = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            snapshots.changed().await.expect("the keeper is alive");
            if let Some(s) = snapshots.borrow_and_update().clone()
                && !s.services.is_empty()
            {
                break s;
            }
        }
    })
    .await
    .expect("a snapshot within 15 s");
    let e = Evaluator::default().evaluate(&engine, &set, snap, 0);
    assert!(
        e.reports.iter().all(|r| r.error.is_none()),
        "{:?}",
        e.reports
    );
    let sl: Vec<&str> = e
        .findings
        .iter()
        .filter(|f| f.rule == "service_level")
        .map(|f| f.title.as_str())
        .collect();
    assert_eq!(sl, ["Support: service level 70% (target 80%)"]);
    keeper.shutdown().await;
    sim.stop().await;
}

#[test]
fn an_inhibition_that_names_no_rule_is_refused_and_the_last_good_version_keeps_running() {
    let dir = tempdir("inhibits");
    let rule = |target: &str| {
        format!(
            "const RULE = #{{ name: \"Outage\", needs: #{{}},\n    inhibits: #{{ rules: [\"{target}\"], equal: [\"service\"] }} }};\nalert(\"k\", \"t\", \"\");\n"
        )
    };
    write(
        &dir,
        "no_ready.rhai",
        "const RULE = #{ name: \"Nobody ready\", needs: #{} };\n",
    );
    let path = write(&dir, "outage.rhai", &rule("no_redy"));
    let engine = RuleEngine::default();
    let mut set = RuleSet::load(&engine, &dir).unwrap();
    let errors: Vec<String> = set.diagnostics().iter().map(|d| d.to_string()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("outage.rhai:2:1: RULE.inhibits.rules: no rule `no_redy` in this folder; did you mean `no_ready`?"),
        "{errors:?}"
    );
    assert!(set.rules().all(|r| r.id != "outage"), "refused");
    // Fixed, it runs; broken again, its last good version keeps running.
    std::fs::write(&path, rule("no_ready")).unwrap();
    set.reload(&engine).unwrap();
    let good = set
        .rules()
        .find(|r| r.id == "outage")
        .expect("runs")
        .clone();
    assert_eq!(
        good.meta.alert.inhibits.as_ref().unwrap().rules,
        ["no_ready"]
    );
    std::fs::write(&path, rule("nobody")).unwrap();
    let changes = set.reload(&engine).unwrap();
    assert!(
        matches!(&changes[..], [Change::Broken(id, d)] if id == "outage" && d.message.contains("no rule `nobody`")),
        "{changes:?}"
    );
    let kept = set.rules().find(|r| r.id == "outage").unwrap();
    assert!(Arc::ptr_eq(kept, &good));
}

#[test]
fn a_rule_runs_only_inside_its_schedule_and_an_unknown_schedule_is_said() {
    let dir = tempdir("active");
    write(
        &dir,
        "sl.rhai",
        "const RULE = #{ name: \"Service level\", needs: #{}, active: \"business\" };\nalert(\"k\", \"t\", \"\");\n",
    );
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    let business = lookout_keeper::schedule::Schedule::parse(
        "business",
        &lookout_keeper::schedule::ScheduleConfig {
            time_zone: Some("UTC".into()),
            when: vec!["daily 08:00-18:00".into()],
            dates_off: vec![],
        },
    )
    .unwrap();
    let mut ev = Evaluator::with_schedules([("business".to_string(), business)].into());
    // 1_700_000_000 is 22:13 UTC: outside. Not run, no findings, said in its report.
    let e = ev.evaluate(&engine, &set, Arc::new(snapshot(0)), 1_700_000_000);
    assert!(e.findings.is_empty());
    assert_eq!(e.reports[0].inactive.as_deref(), Some("business"));
    assert_eq!(e.reports[0].elapsed, Duration::ZERO);
    // Ten hours later (08:13 UTC): inside.
    let e = ev.evaluate(&engine, &set, Arc::new(snapshot(0)), 1_700_036_000);
    assert_eq!(e.findings.len(), 1);
    assert_eq!(e.reports[0].inactive, None);
    // A schedule the config does not have: said, with the names it has.
    let d = lookout_rules::check_schedules(set.rules().map(|r| &**r), &["busines".to_string()]);
    assert_eq!(d.len(), 1);
    assert!(
        d[0].to_string().contains("sl.rhai:1:1: RULE.active: no schedule `business` in the config's [schedules]; did you mean `busines`?"),
        "{}",
        d[0]
    );
}

#[test]
fn change_since_pairs_each_row_with_the_previous_poll_s_by_key() {
    let dir = tempdir("change");
    write(
        &dir,
        "probe.rhai",
        &format!(
            "{HEADER}{}",
            r#"if prev != () {
                let c = services.change_since(prev.services, "name", "in_calls_waiting");
                for s in c { alert(s.name, `${s.name} ${s.change} ${s.agents_ready}`, ""); }
                alert_each(c.where("change", ">", 2), "grew:{name}", "{name} +{change}", "");
            }"#
        ),
    );
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, &dir).unwrap();
    assert!(set.diagnostics().is_empty(), "{:?}", set.diagnostics());
    let mut ev = Evaluator::default();
    // The first poll has nothing to compare with.
    let first = ev.evaluate(&engine, &set, Arc::new(snapshot(4)), 1_700_000_000);
    assert!(first.findings.is_empty());
    // Billing grew by 5; VIP has no reading now; a new service has no previous poll.
    let mut next = snapshot(9);
    next.services.rows[2][1] = Value::None;
    next.services.rows.push(vec![
        text("New"),
        Value::Int(7),
        Value::Int(0),
        Value::Int(1),
    ]);
    let e = ev.evaluate(&engine, &set, Arc::new(next), 1_700_000_001);
    assert!(e.reports[0].error.is_none(), "{:?}", e.reports[0].error);
    let titles: Vec<&str> = e.findings.iter().map(|f| f.title.as_str()).collect();
    assert_eq!(titles, ["Sales 0 2", "Billing 5 0", "VIP  1", "Billing +5"]);
}

#[test]
fn a_column_expression_cannot_grow_without_bound() {
    // Built in a loop, an expression would nest deeper than the stack that reads and drops it.
    let r = titles(
        r#"let c = column("agents_ready"); for i in 0..100000 { c = c + 1; }
           alert("n", `${services.where("in_calls_waiting", ">", c).len()}`, "");"#,
    );
    let err = r.expect_err("refused");
    assert!(err.contains("column expression"), "{err}");
    // A sensible one is fine.
    assert_eq!(
        titles(
            r#"let c = column("agents_ready"); for i in 0..10 { c = c + 1; }
               alert("n", `${services.where("in_calls_waiting", ">", c).len()}`, "");"#
        ),
        Ok(vec!["0".to_string()])
    );
}
