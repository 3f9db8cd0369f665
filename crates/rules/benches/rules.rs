//! The cost of rules: the 20-rule reference set (benches/reference/) and the shipped pack
//! (rules/) over a synthetic 5,000-agent × 500-service × 200-chat snapshot, against the same 20
//! rules written in native Rust, measured in the same run.
//!
//! `cargo xtask bench rules [--quick]`, or `cargo bench -p lookout-rules --bench rules -- [--quick]
//! [--json FILE]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_keeper::{Grid, Snapshot, Value};
use lookout_rules::{Evaluator, Limits, PollInput, RuleEngine, RuleSet};

#[path = "synthetic.rs"]
mod synthetic;
use synthetic::{AGENTS, CHAT, SERVICES, synthetic};

type Found = Vec<(String, String)>;

/// The same 20 rules, as a careful Rust programmer would write them over the same grids.
mod native {
    use super::*;

    fn col(g: &Grid, name: &str) -> usize {
        g.column(name).expect("column")
    }

    fn int(v: &Value) -> Option<i64> {
        v.as_i64()
    }

    fn txt(v: &Value) -> &str {
        v.as_str().unwrap_or("")
    }

    fn dur(s: i64) -> String {
        lookout_keeper::fmt_dur(s)
    }

    pub type Rule = fn(&Snapshot, &Snapshot) -> Found;

    pub fn rules() -> Vec<(&'static str, Rule)> {
        vec![
            ("r01_no_ready", |s, _| r01(s)),
            ("r02_acw_by_team", |s, _| r02(s)),
            ("r03_max_wait", |s, _| r03(s)),
            ("r04_urgent_chat", |s, _| r04(s)),
            ("r05_service_level", |s, _| r05(s)),
            ("r06_abandon_rate", |s, _| r06(s)),
            ("r07_service_sl", |s, _| r07(s)),
            ("r08_long_break", |s, _| r08(s)),
            ("r09_ready_vs_queue", |s, _| r09(s)),
            ("r10_queue_pressure", |s, _| r10(s)),
            ("r11_long_call", |s, _| r11(s)),
            ("r12_logged_out_by_team", |s, _| r12(s)),
            ("r13_chat_keyword", |s, _| r13(s)),
            ("r14_slow_answer", |s, _| r14(s)),
            ("r15_queue_growth", r15),
            ("r16_not_ready_by_team", |s, _| r16(s)),
            ("r17_top_waits", |s, _| r17(s)),
            ("r18_long_busy", |s, _| r18(s)),
            ("r19_vip_queue", |s, _| r19(s)),
            ("r20_chat_flood", |s, _| r20(s)),
        ]
    }

    pub fn all(s: &Snapshot, prev: &Snapshot) -> Vec<(&'static str, Found)> {
        rules()
            .into_iter()
            .map(|(id, f)| (id, f(s, prev)))
            .collect()
    }

    fn r01(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, r, w, m) = (
            col(g, "name"),
            col(g, "agents_ready"),
            col(g, "in_calls_waiting"),
            col(g, "in_max_wait_time"),
        );
        g.rows
            .iter()
            .filter(|row| int(&row[r]) == Some(0) && int(&row[w]).is_some_and(|x| x > 0))
            .map(|row| {
                (
                    format!("noready:{}", txt(&row[n])),
                    format!(
                        "Nobody ready on {} {} {}",
                        txt(&row[n]),
                        int(&row[w]).unwrap_or(0),
                        dur(int(&row[m]).unwrap_or(0))
                    ),
                )
            })
            .collect()
    }

    fn r02(s: &Snapshot) -> Found {
        let g = &s.agents;
        let (l, st, d, t) = (
            col(g, "login_id"),
            col(g, "acd_state"),
            col(g, "state_duration"),
            col(g, "team_name"),
        );
        let mut by: BTreeMap<&str, Vec<&Vec<Value>>> = BTreeMap::new();
        for row in &g.rows {
            if txt(&row[st]) == "after_call_work" && int(&row[d]).is_some_and(|x| x > 300) {
                by.entry(txt(&row[t])).or_default().push(row);
            }
        }
        by.into_iter()
            .map(|(team, rows)| {
                let worst = rows
                    .iter()
                    .max_by_key(|r| int(&r[d]).unwrap_or(0))
                    .expect("non-empty");
                (
                    format!("acw:{team}"),
                    format!(
                        "{} in ACW on {team} {} {}",
                        rows.len(),
                        txt(&worst[l]),
                        dur(int(&worst[d]).unwrap_or(0))
                    ),
                )
            })
            .collect()
    }

    fn total(s: &Snapshot, k: &str) -> Option<f64> {
        s.totals.get(k).and_then(|v| v.as_f64())
    }

    fn r03(s: &Snapshot) -> Found {
        match total(s, "in_max_wait_time") {
            Some(w) if w > 120.0 => vec![("maxwait".into(), format!("Oldest {}", dur(w as i64)))],
            _ => vec![],
        }
    }

    fn r04(s: &Snapshot) -> Found {
        s.chat
            .iter()
            .filter(|m| m.is_urgent)
            .map(|m| {
                (
                    format!("chat:{}", m.id),
                    format!("Urgent from {}", m.login_id),
                )
            })
            .collect()
    }

    fn r05(s: &Snapshot) -> Found {
        match total(s, "service_level") {
            Some(v) if v < 80.0 => vec![("sl".into(), format!("SL {v}"))],
            _ => vec![],
        }
    }

    fn r06(s: &Snapshot) -> Found {
        match (
            total(s, "in_calls_abandoned_in_queue_per_day"),
            total(s, "in_calls_received_per_day"),
        ) {
            (Some(a), Some(r)) if r != 0.0 && a / r * 100.0 > 5.0 => {
                vec![("abandon".into(), format!("Abandon rate {}", a / r * 100.0))]
            }
            _ => vec![],
        }
    }

    fn r07(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, sl, t) = (
            col(g, "name"),
            col(g, "service_level"),
            col(g, "service_level_target"),
        );
        g.rows
            .iter()
            .filter(|row| {
                let v = row[sl].as_f64();
                v.is_some_and(|v| v < 80.0 && row[t].as_f64().is_some_and(|t| v < t))
            })
            .map(|row| {
                (
                    format!("sl:{}", txt(&row[n])),
                    format!("{} SL {:?}", txt(&row[n]), row[sl].as_f64()),
                )
            })
            .collect()
    }

    fn agents_where(s: &Snapshot, state: &str, stat: &str, over: i64, key: &str) -> Found {
        let g = &s.agents;
        let (l, st, d) = (col(g, "login_id"), col(g, "acd_state"), col(g, stat));
        g.rows
            .iter()
            .filter(|row| txt(&row[st]) == state && int(&row[d]).is_some_and(|x| x > over))
            .map(|row| {
                (
                    format!("{key}:{}", txt(&row[l])),
                    format!("{} {}", txt(&row[l]), dur(int(&row[d]).unwrap_or(0))),
                )
            })
            .collect()
    }

    fn r08(s: &Snapshot) -> Found {
        agents_where(s, "not_ready", "state_duration", 900, "break")
    }

    fn r09(s: &Snapshot) -> Found {
        let g = &s.agents;
        let st = col(g, "acd_state");
        let ready = g.rows.iter().filter(|r| txt(&r[st]) == "ready").count() as f64;
        match total(s, "in_calls_waiting") {
            Some(w) if w > ready * 2.0 => vec![("pressure".into(), format!("{w} {ready}"))],
            _ => vec![],
        }
    }

    fn r10(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, w, r) = (
            col(g, "name"),
            col(g, "in_calls_waiting"),
            col(g, "agents_ready"),
        );
        g.rows
            .iter()
            .filter(|row| match (int(&row[w]), int(&row[r])) {
                (Some(w), Some(r)) => w > (r + 1) * 3,
                _ => false,
            })
            .map(|row| {
                (
                    format!("qp:{}", txt(&row[n])),
                    format!("{} under pressure", txt(&row[n])),
                )
            })
            .collect()
    }

    fn r11(s: &Snapshot) -> Found {
        agents_where(s, "busy", "active_item_talk_duration", 1200, "call")
    }

    fn count_by_team(s: &Snapshot, state: Option<&str>, over: usize, key: &str) -> Found {
        let g = &s.agents;
        let (st, t) = (col(g, "acd_state"), col(g, "team_name"));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for row in &g.rows {
            let hit = match state {
                Some(x) => txt(&row[st]) == x,
                None => row[st].is_none(),
            };
            if hit {
                *counts.entry(txt(&row[t])).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n > over)
            .map(|(team, n)| (format!("{key}:{team}"), format!("{n} on {team}")))
            .collect()
    }

    fn r12(s: &Snapshot) -> Found {
        count_by_team(s, None, 20, "out")
    }

    fn r13(s: &Snapshot) -> Found {
        s.chat
            .iter()
            .filter(|m| m.content.contains("supervisor"))
            .map(|m| (format!("kw:{}", m.id), format!("Asks: {}", m.login_id)))
            .collect()
    }

    fn r14(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, a) = (col(g, "name"), col(g, "in_average_speed_of_answer"));
        g.rows
            .iter()
            .filter(|row| int(&row[a]).is_some_and(|x| x > 60))
            .map(|row| {
                (
                    format!("asa:{}", txt(&row[n])),
                    format!("{} {}", txt(&row[n]), dur(int(&row[a]).unwrap_or(0))),
                )
            })
            .collect()
    }

    fn r15(s: &Snapshot, prev: &Snapshot) -> Found {
        match (
            total(s, "in_calls_waiting"),
            total(prev, "in_calls_waiting"),
        ) {
            (Some(a), Some(b)) if a - b > 20.0 => {
                vec![("growth".into(), format!("grew by {}", a - b))]
            }
            _ => vec![],
        }
    }

    fn r16(s: &Snapshot) -> Found {
        count_by_team(s, Some("not_ready"), 10, "nr")
    }

    fn r17(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, m) = (col(g, "name"), col(g, "in_max_wait_time"));
        let mut rows: Vec<&Vec<Value>> = g.rows.iter().filter(|r| int(&r[m]).is_some()).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(int(&r[m])));
        rows.into_iter()
            .take(5)
            .filter(|r| int(&r[m]).is_some_and(|x| x > 60))
            .map(|r| {
                (
                    format!("top:{}", txt(&r[n])),
                    format!("{} waits", txt(&r[n])),
                )
            })
            .collect()
    }

    fn r18(s: &Snapshot) -> Found {
        agents_where(s, "busy", "state_duration", 1800, "busy")
    }

    fn r19(s: &Snapshot) -> Found {
        let g = &s.services;
        let (n, w) = (col(g, "name"), col(g, "in_calls_waiting"));
        let vip: i64 = g
            .rows
            .iter()
            .filter(|r| txt(&r[n]).to_lowercase().contains("vip"))
            .filter_map(|r| int(&r[w]))
            .sum();
        if vip > 10 {
            vec![("vip".into(), format!("{vip} VIP callers waiting"))]
        } else {
            vec![]
        }
    }

    fn r20(s: &Snapshot) -> Found {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &s.chat {
            *counts.entry(m.login_id.as_str()).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n > 5)
            .map(|(who, n)| (format!("flood:{who}"), format!("{who} sent {n}")))
            .collect()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(n: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..n.min(3) {
        f();
    }
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Instructions of one full poll of `profile` (`full`, `full-alert-each`, `native`), counted by
/// callgrind: this benchmark again under valgrind with `--profile P --runs 10`, then `--runs
/// 30`; the difference over 20 runs, so loading and checking cancel out. `None` without
/// valgrind (an instruction count does not vary from run to run or machine to machine the
/// way a time does).
fn instructions(profile: &str) -> Option<f64> {
    let exe = std::env::current_exe().ok()?;
    let count = |runs: &str| -> Option<f64> {
        let out = std::process::Command::new("valgrind")
            .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
            .arg(&exe)
            .args(["--profile", profile, "--runs", runs])
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "callgrind --profile {profile} failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return None;
        }
        // "==123== Collected : 207660235"
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .find_map(|l| l.split("Collected :").nth(1))
            .and_then(|n| n.trim().parse().ok())
    };
    Some((count("30")? - count("10")?) / 20.0)
}

/// One rule's inputs in one poll, hashed: its declared columns of each grid it reads, the
/// totals it reads, the chat and availability if it reads them, and the whole of the same from
/// the previous poll if it reads `prev` (what a rule that is skipped when its inputs did not
/// change would hash each poll).
fn input_hash(rule: &lookout_rules::Rule, snap: &Snapshot, prev: Option<&Snapshot>) -> u64 {
    use std::hash::{Hash, Hasher};
    fn value(v: &Value, h: &mut rustc_hash::FxHasher) {
        match v {
            Value::None => 0u8.hash(h),
            Value::Int(i) => i.hash(h),
            Value::Float(f) => f.to_bits().hash(h),
            Value::Text(t) => t.hash(h),
            Value::Bool(b) => b.hash(h),
        }
    }
    fn one(rule: &lookout_rules::Rule, s: &Snapshot, h: &mut rustc_hash::FxHasher) {
        let needs = &rule.meta.needs;
        for t in &needs.totals {
            value(s.totals.get(t).unwrap_or(&Value::None), h);
        }
        for (grid, cols) in [(&s.services, &needs.services), (&s.agents, &needs.agents)] {
            let at: Vec<Option<usize>> = cols.iter().map(|c| grid.column(c)).collect();
            grid.rows.len().hash(h);
            for row in &grid.rows {
                for c in &at {
                    value(c.and_then(|c| row.get(c)).unwrap_or(&Value::None), h);
                }
            }
        }
        if needs.chat {
            for m in &s.chat {
                (&m.id, &m.content, m.is_urgent, m.send_time).hash(h);
            }
        }
        if rule.source.contains("availability") {
            s.availability.hash(h);
        }
    }
    let mut h = rustc_hash::FxHasher::default();
    one(rule, snap, &mut h);
    if rule.source.contains("prev") {
        prev.is_some().hash(&mut h);
        if let Some(p) = prev {
            one(rule, p, &mut h);
        }
    }
    h.finish()
}

/// `--skip-study RECORDING DIR`: for each rule of DIR over each poll of a recording, whether
/// its inputs equal the last poll's, what running it costs and what hashing its inputs costs:
/// what skipping a rule whose inputs did not change would save, and what it would cost. (A
/// rule that reads `now` could never be skipped; none of the shipped rules does.)
fn skip_study(engine: &RuleEngine, recording: &Path, dir: &Path) {
    let snaps: Vec<Arc<Snapshot>> = lookout_keeper::recording::read(recording)
        .expect("recording")
        .into_iter()
        .map(Arc::new)
        .collect();
    let set = RuleSet::load(engine, dir).expect("rules");
    println!(
        "{} polls of {}; medians of 5 runs per poll\n\n| rule | inputs unchanged | run (µs/poll) | hash (µs/poll) | saved − hashing (µs/poll) |\n|---|---:|---:|---:|---:|",
        snaps.len(),
        recording.display()
    );
    let (mut run_all, mut net_all) = (0.0, 0.0);
    for rule in set.rules() {
        let (mut hits, mut run_us, mut hash_us, mut saved_us) = (0usize, 0.0, 0.0, 0.0);
        let mut last = None;
        for i in 1..snaps.len() {
            let (snap, prev) = (&snaps[i], &snaps[i - 1]);
            let mut input = PollInput::new(snap.taken_at, snap, Some(prev));
            let run = us(time(5, || {
                let _ = engine.run(rule, &mut input, Instant::now() + Duration::from_secs(5));
            }));
            let mut h = 0;
            let hash = us(time(5, || {
                h = std::hint::black_box(input_hash(rule, snap, Some(prev)));
            }));
            if last == Some(h) {
                hits += 1;
                saved_us += run;
            }
            last = Some(h);
            run_us += run;
            hash_us += hash;
        }
        let polls = (snaps.len() - 1) as f64;
        let net = (saved_us - hash_us) / polls;
        run_all += run_us / polls;
        net_all += net;
        println!(
            "| {} | {:.0} % | {:.1} | {:.1} | {net:+.1} |",
            rule.id,
            hits as f64 * 100.0 / polls,
            run_us / polls,
            hash_us / polls
        );
    }
    println!(
        "\nAll rules: {run_all:.1} µs a poll; skipping unchanged inputs would change that by {:+.1} µs ({:+.0} %).",
        -net_all,
        -net_all * 100.0 / run_all
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let json_out = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let n = if quick { 5 } else { 60 };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let snap = Arc::new(synthetic(7, 300));
    let prev = Arc::new(synthetic(7, 250));
    let engine = RuleEngine::new(Limits {
        deadline: Duration::from_secs(5),
        poll_budget: Duration::from_secs(30),
        ..Limits::default()
    });
    let reference =
        RuleSet::load(&engine, &root.join("benches/reference")).expect("reference rules");
    assert!(
        reference.diagnostics().is_empty(),
        "{:?}",
        reference.diagnostics()
    );
    // The reference rules as a rule author writes them now: those that alert once per row use
    // `alert_each` (benches/reference-helpers/, the same findings: tests/differential.rs).
    let helpers_dir =
        std::env::temp_dir().join(format!("lookout-bench-helpers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&helpers_dir);
    std::fs::create_dir_all(&helpers_dir).expect("a scratch folder");
    // The ids of the rewritten rules (a file's name without `.rhai`).
    let mut rewritten: Vec<String> = Vec::new();
    for dir in ["benches/reference", "benches/reference-helpers"] {
        for f in std::fs::read_dir(root.join(dir)).expect("rules").flatten() {
            std::fs::copy(f.path(), helpers_dir.join(f.file_name())).expect("copy");
            if dir.ends_with("helpers")
                && let Some(id) = f.path().file_stem().and_then(|s| s.to_str())
            {
                rewritten.push(id.to_string());
            }
        }
    }
    let with_helpers = RuleSet::load(&engine, &helpers_dir).expect("reference rules with helpers");
    let _ = std::fs::remove_dir_all(&helpers_dir);
    assert!(
        with_helpers.diagnostics().is_empty(),
        "{:?}",
        with_helpers.diagnostics()
    );
    let shipped = RuleSet::load(&engine, &root.join("../../rules")).expect("shipped rules");
    assert!(
        shipped.diagnostics().iter().all(|d| d.warning),
        "{:?}",
        shipped.diagnostics()
    );

    // The same alerts, or the comparison means nothing.
    let mut ev = Evaluator::default();
    ev.evaluate(&engine, &reference, prev.clone(), 0);
    let e = ev.evaluate(&engine, &reference, snap.clone(), 0);
    for r in &e.reports {
        assert!(r.error.is_none(), "{}: {:?}", r.id, r.error);
    }
    let mut ev = Evaluator::default();
    ev.evaluate(&engine, &with_helpers, prev.clone(), 0);
    let e_helpers = ev.evaluate(&engine, &with_helpers, snap.clone(), 0);
    let keys = |e: &lookout_rules::Evaluation| {
        let mut k: Vec<(String, String)> = e
            .findings
            .iter()
            .map(|f| (f.rule.clone(), f.key.clone()))
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&e),
        keys(&e_helpers),
        "the rules with helpers find what the loops find"
    );
    let native_found = native::all(&snap, &prev);
    let mut total_alerts = 0;
    for (id, found) in &native_found {
        let mut want: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        let mut got: Vec<&str> = e
            .findings
            .iter()
            .filter(|f| f.rule == *id)
            .map(|f| f.key.as_str())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{id}: Rhai and native disagree");
        total_alerts += want.len();
    }

    // Per rule.
    let mut input = PollInput::new(0, &snap, Some(&prev));
    // `--time DIR`: the median of each rule in DIR over the same snapshot.
    // `--profile RULE`: only that rule (from the reference set, the shipped pack or DIR; `full`
    // for the whole reference set as a poll runs it, `full-alert-each` for it with the rules
    // rewritten with the helpers, `native` for their Rust twins; `helpers:RULE` and
    // `native:RULE` for one reference rule's), over and over for 20 s, for a profiler.
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(recording) = flag("--skip-study") {
        let dir = args
            .iter()
            .position(|a| a == "--skip-study")
            .and_then(|i| args.get(i + 2))
            .map_or(root.join("../../rules"), PathBuf::from);
        skip_study(&engine, Path::new(recording), &dir);
        return;
    }
    let mine = flag("--time").map(|dir| {
        let set = RuleSet::load(&engine, Path::new(dir)).expect("rules");
        for d in set.diagnostics() {
            println!("{d:?}");
        }
        set
    });
    if let Some(id) = flag("--profile") {
        // `full`: the whole reference set, as a poll runs it.
        let mut ev = Evaluator::default();
        let mut run: Box<dyn FnMut()> = if id == "native" {
            Box::new(|| {
                std::hint::black_box(native::all(&snap, &prev));
            })
        } else if id == "full" || id == "full-alert-each" {
            let set = if id == "full" {
                &reference
            } else {
                &with_helpers
            };
            ev.evaluate(&engine, set, prev.clone(), 0);
            Box::new(|| {
                std::hint::black_box(ev.evaluate(&engine, set, snap.clone(), 0));
            })
        } else if let Some(id) = id.strip_prefix("native:") {
            let (_, twin) = native::rules()
                .into_iter()
                .find(|(i, _)| *i == id)
                .unwrap_or_else(|| panic!("no native twin `{id}`"));
            let (snap, prev) = (&snap, &prev);
            Box::new(move || {
                std::hint::black_box(twin(snap, prev));
            })
        } else {
            // `helpers:RULE`: the reference rule as rewritten with the helpers.
            let (set, id) = match id.strip_prefix("helpers:") {
                Some(id) => (&with_helpers, id),
                None => (&reference, id.as_str()),
            };
            let rule = set
                .rules()
                .chain(shipped.rules())
                .chain(mine.iter().flat_map(|m| m.rules()))
                .find(|r| r.id == *id)
                .unwrap_or_else(|| panic!("no rule `{id}`"));
            let input = &mut input;
            let engine = &engine;
            Box::new(move || {
                let out = engine.run(rule, input, Instant::now() + Duration::from_secs(5));
                assert!(out.result.is_ok());
            })
        };
        // `--runs N`: exactly N runs (for an instruction counter such as callgrind).
        let runs: Option<usize> = flag("--runs").map(|n| n.parse().expect("--runs N"));
        let start = Instant::now();
        let mut each = Vec::new();
        while runs.map_or(start.elapsed() < Duration::from_secs(20), |n| {
            each.len() < n
        }) {
            let t = Instant::now();
            run();
            each.push(t.elapsed());
        }
        let runs = each.len();
        if let Some(&fastest) = each.iter().min() {
            println!(
                "{id}: {runs} runs, median {:.1} µs, fastest {:.1} µs",
                us(median(each)),
                us(fastest)
            );
        }
        return;
    }
    if let Some(set) = &mine {
        for rule in set.rules() {
            let t = time(200, || {
                let out = engine.run(rule, &mut input, Instant::now() + Duration::from_secs(5));
                assert!(out.result.is_ok(), "{}: {:?}", rule.id, out.result);
            });
            println!("{}: {:.1} µs", rule.id, us(t));
        }
        return;
    }

    let mut rows = Vec::new();
    for rule in reference.rules() {
        let rhai = time(n, || {
            let out = engine.run(rule, &mut input, Instant::now() + Duration::from_secs(5));
            assert!(out.result.is_ok());
        });
        let (_, twin) = native::rules()
            .into_iter()
            .find(|(id, _)| *id == rule.id)
            .expect("native twin");
        let native_t = time(n * 4, || {
            std::hint::black_box(twin(&snap, &prev));
        });
        let helped = rewritten.contains(&rule.id).then(|| {
            let r = with_helpers
                .rules()
                .find(|r| r.id == rule.id)
                .expect("rewritten");
            time(n, || {
                let out = engine.run(r, &mut input, Instant::now() + Duration::from_secs(5));
                assert!(out.result.is_ok());
            })
        });
        rows.push((rule.id.clone(), rhai, helped, native_t));
    }

    let mut shipped_rows = Vec::new();
    for rule in shipped.rules() {
        let t = time(n, || {
            let out = engine.run(rule, &mut input, Instant::now() + Duration::from_secs(5));
            assert!(out.result.is_ok(), "{}: {:?}", rule.id, out.result);
        });
        shipped_rows.push((rule.id.clone(), t));
    }

    // Full polls.
    let mut ev = Evaluator::default();
    ev.evaluate(&engine, &reference, prev.clone(), 0);
    let full_rhai = time(n, || {
        let e = ev.evaluate(&engine, &reference, snap.clone(), 0);
        std::hint::black_box(e);
    });
    let mut ev3 = Evaluator::default();
    ev3.evaluate(&engine, &with_helpers, prev.clone(), 0);
    let full_helpers = time(n, || {
        let e = ev3.evaluate(&engine, &with_helpers, snap.clone(), 0);
        std::hint::black_box(e);
    });
    let full_native = time(n * 4, || {
        std::hint::black_box(native::all(&snap, &prev));
    });
    let mut ev2 = Evaluator::default();
    let full_shipped = time(n, || {
        let e = ev2.evaluate(&engine, &shipped, snap.clone(), 0);
        std::hint::black_box(e);
    });
    let ratio = full_rhai.as_secs_f64() / full_native.as_secs_f64();
    eprintln!("rules bench: counting instructions with callgrind (about 20 s)");
    let counts: Vec<Option<f64>> = ["full", "full-alert-each", "native"]
        .into_iter()
        .map(instructions)
        .collect();
    let millions = |c: Option<f64>| c.map_or("–".to_string(), |c| format!("{:.1} M", c / 1e6));
    // Per rule (the full run only: about two minutes): loops, helpers, native.
    let per_rule: Vec<[Option<f64>; 3]> = if quick || counts[0].is_none() {
        vec![[None; 3]; rows.len()]
    } else {
        eprintln!("rules bench: counting each rule's instructions (about two minutes)");
        let profiles: Vec<[Option<String>; 3]> = rows
            .iter()
            .map(|(id, _, helped, _)| {
                [
                    Some(id.clone()),
                    helped.map(|_| format!("helpers:{id}")),
                    Some(format!("native:{id}")),
                ]
            })
            .collect();
        let flat: Vec<&Option<String>> = profiles.iter().flatten().collect();
        let counted: Vec<Option<f64>> = std::thread::scope(|s| {
            let half = flat.len().div_ceil(2);
            let jobs: Vec<_> = flat
                .chunks(half)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .map(|p| p.as_deref().and_then(instructions))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            jobs.into_iter()
                .flat_map(|j| j.join().expect("counting"))
                .collect()
        });
        counted.chunks(3).map(|c| [c[0], c[1], c[2]]).collect()
    };
    let thousands = |c: Option<f64>| c.map_or("–".to_string(), |c| format!("{:.0}", c / 1e3));
    let ratio_helpers = full_helpers.as_secs_f64() / full_native.as_secs_f64();

    println!(
        "## Rules benchmark ({})\n",
        if quick { "quick" } else { "full" }
    );
    println!(
        "Snapshot: {AGENTS} agents × {} columns, {SERVICES} services × {} columns, {} totals, {CHAT} chat messages; {total_alerts} alerts, identical in Rhai and native Rust. Medians of {n} runs.\n",
        snap.agents.columns.len(),
        snap.services.columns.len(),
        snap.totals.len()
    );
    println!(
        "| rule | Rhai, loops (µs) | Rhai, helpers (µs) | native (µs) | what ships, to native | instructions, K: loops / helpers / native | alerts |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for ((id, r, h, nat), count) in rows.iter().zip(&per_rule) {
        let alerts = native_found
            .iter()
            .find(|(i, _)| i == id)
            .map_or(0, |(_, f)| f.len());
        let ships = h.unwrap_or(*r).as_secs_f64() / nat.as_secs_f64();
        let h = h.map_or("–".to_string(), |h| format!("{:.1}", us(h)));
        println!(
            "| {id} | {:.1} | {h} | {:.1} | {ships:.1}× | {} / {} / {} | {alerts} |",
            us(*r),
            us(*nat),
            thousands(count[0]),
            thousands(count[1]),
            thousands(count[2]),
        );
    }
    println!(
        "\n| full poll | median | to native | instructions (callgrind) |\n|---|---:|---:|---:|\n| 20 reference rules, Rhai, as written (loops) | {:.2} ms | {ratio:.1}× | {} |\n| 20 reference rules, Rhai, {} of them rewritten with the helpers | {:.2} ms | **{ratio_helpers:.1}×** | **{}** |\n| 20 reference rules, native Rust | {:.3} ms | 1× | {} |\n| shipped pack ({} rules), Rhai | {:.2} ms | | |",
        full_rhai.as_secs_f64() * 1e3,
        millions(counts[0]),
        rewritten.len(),
        full_helpers.as_secs_f64() * 1e3,
        millions(counts[1]),
        full_native.as_secs_f64() * 1e3,
        millions(counts[2]),
        shipped.rules().count(),
        full_shipped.as_secs_f64() * 1e3,
    );
    println!("\n| shipped rule | Rhai (µs) |\n|---|---:|");
    for (id, t) in &shipped_rows {
        println!("| {id} | {:.1} |", us(*t));
    }
    let met = |ok: bool| if ok { "Met." } else { "Not met." };
    println!(
        "\nTargets: full poll ≤ 4× native and ≤ 2 ms median (release). {}",
        met(ratio <= 4.0 && full_rhai <= Duration::from_millis(2))
    );
    println!(
        "With the helpers: ≤ 2× native and ≤ 8 M instructions. {}",
        match counts[1] {
            Some(c) => met(ratio_helpers <= 2.0 && c <= 8e6),
            None => "Instructions not counted (no valgrind).",
        }
    );
    if let Some(path) = json_out {
        let json = serde_json::json!({
            "quick": quick,
            "runs": n,
            "alerts": total_alerts,
            "per_rule_us": rows.iter().map(|(id, r, h, nat)| serde_json::json!({"rule": id, "rhai": us(*r), "alert_each": h.map(us), "native": us(*nat)})).collect::<Vec<_>>(),
            "per_rule_instructions": rows.iter().zip(&per_rule).map(|((id, ..), c)| serde_json::json!({"rule": id, "rhai": c[0], "alert_each": c[1], "native": c[2]})).collect::<Vec<_>>(),
            "full_poll_ms": {
                "rhai": full_rhai.as_secs_f64() * 1e3,
                "alert_each": full_helpers.as_secs_f64() * 1e3,
                "ratio_alert_each": ratio_helpers,
                "native": full_native.as_secs_f64() * 1e3,
                "ratio": ratio,
                "shipped": full_shipped.as_secs_f64() * 1e3,
            },
            "instructions_per_poll": {
                "rhai": counts[0],
                "alert_each": counts[1],
                "native": counts[2],
            }
        });
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).expect("write json");
        println!("\nJSON: {}", path.display());
    }
}
