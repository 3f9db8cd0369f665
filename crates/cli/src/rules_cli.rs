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
