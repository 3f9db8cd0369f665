//! `lookout rules …`: the rule author's tools.

use std::path::Path;

use anyhow::{Context, Result, bail};
use lookout_rules::{RuleEngine, RuleSet, testfile};

use crate::RulesCommand;

pub fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
        RulesCommand::Check { dir } => check(&dir),
        RulesCommand::Test { dir } => test(&dir),
        RulesCommand::Replay { recording, dir } => replay(&recording, &dir),
        RulesCommand::Preview { .. } => bail!("`rules preview` runs on its own"),
        RulesCommand::Defs { out } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            RuleEngine::default()
                .write_definitions(&out)
                .with_context(|| format!("cannot write definitions to {}", out.display()))?;
            println!(
                "Definitions written to {}; point the Rhai language server at them.",
                out.display()
            );
            Ok(())
        }
    }
}

fn load(dir: &Path) -> Result<(RuleEngine, RuleSet)> {
    if !dir.is_dir() {
        bail!("{}: no such folder of rules", dir.display());
    }
    let engine = RuleEngine::default();
    let set = RuleSet::load(&engine, dir)
        .with_context(|| format!("cannot read the rules folder {}", dir.display()))?;
    Ok((engine, set))
}

fn check(dir: &Path) -> Result<()> {
    let (engine, set) = load(dir)?;
    let (mut errors, mut warnings) = (0, 0);
    // Rules that compile also run over made-up snapshots (lookout_rules::dryrun), on a thread
    // with the stack rules need.
    let dry: Vec<Vec<lookout_rules::Diagnostic>> = lookout_rules::with_rule_stack(|| {
        set.files
            .values()
            .map(|f| match (&f.rule, &f.error) {
                (Some(rule), None) => lookout_rules::dryrun::dry_run(&engine, rule),
                _ => Vec::new(),
            })
            .collect()
    })
    .context("cannot start a thread to run the rules")?;
    for (file, dry) in set.files.values().zip(dry) {
        for d in file
            .error
            .iter()
            .chain(file.warnings.iter())
            .chain(dry.iter())
        {
            eprintln!("{}\n", d.render(&file.source));
            if d.warning {
                warnings += 1;
            } else {
                errors += 1;
            }
        }
    }
    let n = set.files.len();
    if n == 0 {
        bail!("{}: no .rhai files", dir.display());
    }
    println!(
        "{n} rule{} checked: {errors} error{}, {warnings} warning{}",
        if n == 1 { "" } else { "s" },
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
    );
    if errors > 0 {
        bail!("{errors} error(s) in the rules");
    }
    Ok(())
}

fn test(dir: &Path) -> Result<()> {
    let (engine, set) = load(dir)?;
    let files = testfile::find(dir)
        .with_context(|| format!("cannot read {}", dir.join("tests").display()))?;
    if files.is_empty() {
        bail!("no tests in {}", dir.join("tests").display());
    }
    let (mut failed, mut checks) = (0, 0);
    let mut tested = std::collections::BTreeSet::new();
    for path in &files {
        let tf = match testfile::TestFile::load(path) {
            Ok(t) => t,
            Err(e) => {
                println!("FAIL {e}");
                failed += 1;
                continue;
            }
        };
        tested.insert(lookout_rules::rule_id(&tf.rule));
        let report = tf.run(&engine);
        checks += report.checks;
        if report.failures.is_empty() {
            println!("ok   {} ({} checks)", path.display(), report.checks);
        } else {
            failed += 1;
            println!("FAIL {}", path.display());
            for f in &report.failures {
                println!("  {}", f.replace('\n', "\n  "));
            }
        }
    }
    let untested: Vec<&String> = set
        .files
        .keys()
        .filter(|id| !tested.contains(*id))
        .collect();
    for id in &untested {
        println!("note: {id}.rhai has no test");
    }
    println!(
        "{} test file(s), {checks} checks, {failed} failed",
        files.len()
    );
    if failed > 0 {
        bail!("{failed} test file(s) failed");
    }
    Ok(())
}

fn replay(recording: &Path, dir: &Path) -> Result<()> {
    use lookout_alerting::lifecycle::{Lifecycle, NoticeKind};
    use lookout_rules::Evaluator;
    let (engine, set) = load(dir)?;
    for d in set.diagnostics() {
        if !d.warning {
            eprintln!("lookout: warning: {d} (its last good version runs, if any)");
        }
    }
    let snaps = lookout_keeper::recording::read(recording).map_err(anyhow::Error::msg)?;
    let metas = lookout_rules::alert_rules(set.rules());
    let mut evaluator = Evaluator::default();
    let mut lifecycle = Lifecycle::default();
    let (mut notices, mut errors) = (0, 0);
    for snap in snaps.iter().cloned() {
        let at = snap.taken_at;
        let e = evaluator.evaluate(&engine, &set, std::sync::Arc::new(snap), at);
        for r in &e.reports {
            if let Some(d) = &r.error {
                errors += 1;
                println!("{}  ERROR     {d}", crate::render::clock(at));
            }
        }
        for n in lifecycle
            .step(at, &metas, &e.findings)
            .into_iter()
            .filter(|n| n.notify)
        {
            notices += 1;
            let kind = match n.kind {
                NoticeKind::Firing => "FIRING  ",
                NoticeKind::Repeat => "REPEAT  ",
                NoticeKind::Resolved => "RESOLVED",
            };
            let body = if n.body.is_empty() {
                String::new()
            } else {
                format!(" — {}", n.body)
            };
            println!(
                "{}  {kind}  {:<8}  {}/{}  {}{body}",
                crate::render::clock(at),
                n.severity.as_str(),
                n.rule,
                n.key,
                n.title
            );
        }
    }
    let span = match (snaps.first(), snaps.last()) {
        (Some(a), Some(b)) => b.taken_at - a.taken_at,
        _ => 0,
    };
    println!(
        "{} snapshots over {}, {} rules: {notices} notifications, {errors} rule errors",
        snaps.len(),
        lookout_keeper::fmt_dur(span),
        set.rules().count()
    );
    Ok(())
}

/// `lookout rules preview`: what each rule would fire now against the tenant (two polls, so
/// rules that compare with the previous one can), or at each point of a recording. No
/// notifier exists here: nothing is told to anyone.
pub async fn preview(
    config: Option<std::path::PathBuf>,
    recording: Option<std::path::PathBuf>,
    rules: Option<std::path::PathBuf>,
    only: Vec<std::path::PathBuf>,
) -> Result<()> {
    let live = match &recording {
        Some(_) => None,
        None => Some(lookout_keeper::Config::load(config.as_deref())?),
    };
    // The folder: given, the one a single rule path lives in, the config's, or `rules`.
    let single = only
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "rhai"))
        .and_then(|p| p.parent())
        .filter(|d| !d.as_os_str().is_empty());
    let dir = match (&rules, single, &live) {
        (Some(d), _, _) => d.clone(),
        (None, Some(d), _) => d.to_path_buf(),
        (None, None, Some(c)) => {
            let path = match &config {
                Some(p) => p.clone(),
                None => lookout_keeper::Config::default_path()
                    .context("no config folder on this system")?,
            };
            c.rules_dir(&path)
        }
        (None, None, None) => "rules".into(),
    };
    let (engine, mut set) = load(&dir)?;
    for d in set.diagnostics() {
        if !d.warning {
            eprintln!("lookout: warning: {d}");
        }
    }
    if !only.is_empty() {
        let ids: Vec<String> = only.iter().map(|p| lookout_rules::rule_id(p)).collect();
        if let Some(missing) = ids.iter().find(|id| !set.files.contains_key(*id)) {
            let hint =
                lookout_keeper::suggest::closest(missing, set.files.keys().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
            bail!(
                "no rule `{missing}` in {}; {hint}it has: {}",
                dir.display(),
                set.files.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        set.files.retain(|id, _| ids.contains(id));
    }
    if set.rules().next().is_none() {
        bail!("no rule to preview in {}", dir.display());
    }
    match (recording, live) {
        (Some(r), _) => {
            lookout_rules::with_rule_stack(move || preview_recording(&engine, &set, &r))
                .map_err(anyhow::Error::from)
                .and_then(|r| r)
        }
        (None, Some(config)) => {
            let client = lookout_pipeline::secrets::connect(&config)
                .await
                .map_err(anyhow::Error::msg)?;
            let mut keeper = crate::start_keeper(&config, client, set.plan());
            let polls = two_polls(&mut keeper).await;
            crate::stop_keeper(keeper).await;
            let (prev, snap) = polls?;
            let tenant = config.tenant();
            lookout_rules::with_rule_stack(move || {
                print_preview(&engine, &set, &tenant, prev, snap);
            })
            .map_err(anyhow::Error::from)
        }
        (None, None) => unreachable!("a config is read when there is no recording"),
    }
}

/// The first snapshot and the next, a poll later.
async fn two_polls(
    keeper: &mut lookout_keeper::session::KeeperHandle,
) -> Result<(
    std::sync::Arc<lookout_keeper::Snapshot>,
    std::sync::Arc<lookout_keeper::Snapshot>,
)> {
    let timeout = std::time::Duration::from_secs(30);
    let first = crate::first_snapshot(keeper, timeout).await?;
    eprintln!("lookout: a second poll, for the rules that compare with the previous one…");
    let mut snapshots = keeper.snapshots();
    let next = tokio::time::timeout(timeout, async {
        loop {
            if snapshots.changed().await.is_err() {
                return None;
            }
            if let Some(s) = snapshots.borrow_and_update().clone()
                && s.taken_at != first.taken_at
            {
                return Some(s);
            }
        }
    })
    .await
    .ok()
    .flatten()
    .context("no second poll within 30 s")?;
    Ok((first, next))
}

/// What each rule says about the latest of two polls.
fn print_preview(
    engine: &RuleEngine,
    set: &RuleSet,
    tenant: &str,
    prev: std::sync::Arc<lookout_keeper::Snapshot>,
    snap: std::sync::Arc<lookout_keeper::Snapshot>,
) {
    use lookout_statsapi::printable;
    let mut evaluator = lookout_rules::Evaluator::default();
    evaluator.evaluate(engine, set, prev, snap.taken_at - 1);
    let at = snap.taken_at;
    let e = evaluator.evaluate(engine, set, snap, at);
    println!(
        "What the rules would fire now at {tenant} ({}); nothing is notified.\n",
        crate::render::clock(at)
    );
    for report in &e.reports {
        let Some(rule) = set.rules().find(|r| r.id == report.id) else {
            continue;
        };
        let file = rule
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mine: Vec<&lookout_rules::Finding> =
            e.findings.iter().filter(|f| f.rule == report.id).collect();
        let head = format!("{} ({file})", printable(&report.name, 200));
        if let Some(d) = &report.error {
            println!("{head}: error: {}", printable(&d.to_string(), 2000));
        } else if mine.is_empty() {
            println!("{head}: nothing");
        } else {
            let when = match rule.meta.alert.for_secs {
                0 => "fires".to_string(),
                s => format!(
                    "true now; fires once it has held for {}",
                    lookout_keeper::fmt_dur(s as i64)
                ),
            };
            println!(
                "{head}: {} alert{}, {when}",
                mine.len(),
                if mine.len() == 1 { "" } else { "s" }
            );
            for f in mine {
                println!(
                    "  {:<8}  {}  {}",
                    f.severity.as_str(),
                    printable(&f.key, 300),
                    printable(&f.title, 300)
                );
            }
        }
    }
}

/// At each point of a recording, what the rules find.
fn preview_recording(engine: &RuleEngine, set: &RuleSet, recording: &Path) -> Result<()> {
    use lookout_statsapi::printable;
    let snaps = lookout_keeper::recording::read(recording).map_err(anyhow::Error::msg)?;
    let mut evaluator = lookout_rules::Evaluator::default();
    println!(
        "What the rules would fire at each of {} points of {}; nothing is notified.",
        snaps.len(),
        recording.display()
    );
    for snap in snaps {
        let at = snap.taken_at;
        let e = evaluator.evaluate(engine, set, std::sync::Arc::new(snap), at);
        let mut parts: Vec<String> = Vec::new();
        for r in &e.reports {
            if let Some(d) = &r.error {
                parts.push(format!("{}: error: {}", r.id, printable(&d.message, 300)));
                continue;
            }
            let keys: Vec<String> = e
                .findings
                .iter()
                .filter(|f| f.rule == r.id)
                .map(|f| printable(&f.key, 200))
                .collect();
            if !keys.is_empty() {
                parts.push(format!("{}: {}", r.id, keys.join(", ")));
            }
        }
        println!(
            "{}  {}",
            crate::render::clock(at),
            if parts.is_empty() {
                "nothing".to_string()
            } else {
                parts.join("; ")
            }
        );
    }
    Ok(())
}
