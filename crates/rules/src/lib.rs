//! Rules: user-written Rhai scripts, one per `.rhai` file, each a pure function of the snapshot
//! that emits the conditions true *now* (`alert(key, title, body)`). The host keeps all state.
//!
//! - [`RuleEngine`] compiles and runs rules in a sandbox (see `engine.rs`), with the snapshot
//!   exposed as custom types and the row-set helpers in Rust (`api.rs`).
//! - [`RuleSet`] is a folder of rules, reloaded when files change; a file that stops compiling
//!   keeps its last good version.
//! - [`Evaluator`] runs a rule set over each snapshot within a deadline per rule and a budget per
//!   poll; a rule that fails keeps its last alert set.
//! - [`worker`] runs all that on its own thread; [`testfile`] is the rule test format.

mod api;
pub mod diag;
pub mod dryrun;
mod engine;
pub mod meta;
pub mod pack;
pub mod testfile;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rhai::{AST, Engine};

pub use diag::Diagnostic;
pub use lookout_alerting::Finding;
pub use meta::{AlertRule, Mode, Needs, RuleMeta, Severity};

use lookout_keeper::snapshot::{Plan, Snapshot};

/// How the alerts of each rule live, by rule id: what the alert lifecycle needs of `rules`.
pub fn alert_rules<'a>(
    rules: impl IntoIterator<Item = &'a Arc<Rule>>,
) -> BTreeMap<String, AlertRule> {
    rules
        .into_iter()
        .map(|r| (r.id.clone(), r.meta.alert.clone()))
        .collect()
}

/// The stack of a thread that runs rules. The deepest a rule can go (recursion to the call
/// limit, each level as deeply nested as a function body may be) was measured at up to 6 MiB
/// in a debug build (nested calls, `switch`, `to_string(…)`), over the 2 MiB Rust gives a thread
/// by default: that overflow would abort the whole program, which no deadline or `catch_unwind`
/// can stop. Only the pages used are ever touched.
pub const RULE_STACK: usize = 16 * 1024 * 1024;

/// A thread for rules: named, with [`RULE_STACK`].
pub(crate) fn rule_thread() -> std::thread::Builder {
    std::thread::Builder::new()
        .name("lookout-rules".into())
        .stack_size(RULE_STACK)
}

/// Run `f` on a thread with [`RULE_STACK`] and wait for it: for the tools that run rules on
/// the caller's behalf (`lookout rules test`, `replay`, `check`).
pub fn with_rule_stack<T: Send>(f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    std::thread::scope(|scope| {
        let handle = rule_thread().spawn_scoped(scope, f)?;
        handle
            .join()
            .map_err(|_| std::io::Error::other("the rule thread panicked"))
    })
}

/// How long and how much a rule may run.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Wall-clock time one rule may run per poll.
    pub deadline: Duration,
    /// Wall-clock time all rules together may run per poll; rules past it are skipped (and keep
    /// their last alerts).
    pub poll_budget: Duration,
    pub max_operations: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            poll_budget: Duration::from_millis(1000),
            max_operations: 2_000_000,
        }
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The file name without `.rhai`: alert keys are scoped by it, so renaming the rule's
    /// `name` keeps its alerts.
    pub id: String,
    pub path: PathBuf,
    pub meta: RuleMeta,
    pub source: Arc<str>,
    ast: Arc<AST>,
}

/// The sandboxed engine rules run in.
pub struct RuleEngine {
    engine: Engine,
    limits: Limits,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What one rule run gave.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub result: Result<Vec<Finding>, Diagnostic>,
    pub elapsed: Duration,
}

impl Default for RuleEngine {
    fn default() -> Self {
        RuleEngine::new(Limits::default())
    }
}

impl RuleEngine {
    pub fn new(limits: Limits) -> RuleEngine {
        RuleEngine::with_functions(limits, |_| {})
    }

    /// An engine with extra functions registered by `extend` (an embedding's own helpers).
    /// They run inside the same sandbox; like the built-in helpers they must be quick, since a
    /// single native call cannot be interrupted.
    pub fn with_functions(limits: Limits, extend: impl FnOnce(&mut Engine)) -> RuleEngine {
        let mut engine = engine::build(&limits);
        extend(&mut engine);
        RuleEngine { engine, limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compile `source` (read from `path`) and read its `const RULE`.
    pub fn compile(&self, path: &Path, source: &str) -> Result<Rule, Diagnostic> {
        let mut ast = self
            .engine
            .compile_with_scope(&api::compile_scope(), source)
            .map_err(|e| diag::from_parse(path, &e))?;
        let meta = meta::read(&ast).map_err(|m| {
            let line = source
                .lines()
                .position(|l| l.trim_start().starts_with("const RULE"))
                .map_or(1, |i| i + 1);
            Diagnostic::error(path, line, 1, m)
        })?;
        if !meta.needs.chat
            && let Some(pos) = variable_use(&ast, "chat")
        {
            return Err(Diagnostic::error(
                path,
                pos.line().unwrap_or(0),
                pos.position().unwrap_or(1),
                "the rule reads `chat` but does not declare it; add `chat: true` to RULE.needs",
            ));
        }
        ast.set_source(path.display().to_string());
        Ok(Rule {
            id: rule_id(path),
            path: path.to_path_buf(),
            meta,
            source: source.into(),
            ast: Arc::new(ast),
        })
    }

    /// Warnings about a compiled rule: statistics the catalogue does not know (the server may
    /// reject them).
    pub fn lint(&self, rule: &Rule) -> Vec<Diagnostic> {
        let n = &rule.meta.needs;
        let line = rule
            .source
            .lines()
            .position(|l| l.contains("needs"))
            .map_or(1, |i| i + 1);
        [
            ("totals", &n.totals),
            ("services", &n.services),
            ("agents", &n.agents),
        ]
        .into_iter()
        .flat_map(|(section, stats)| stats.iter().map(move |s| (section, s)))
        .filter(|(_, s)| !lookout_keeper::catalogue::is_known(s))
        .map(|(section, s)| {
            let hint = lookout_keeper::suggest::closest(
                s,
                lookout_keeper::catalogue::CATALOGUE.iter().map(|(n, _)| *n),
            )
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_else(|| "; the server rejects statistics it does not have".into());
            Diagnostic::warning(
                &rule.path,
                line,
                1,
                format!("RULE.needs.{section}: `{s}` is not a statistic Lookout knows{hint}"),
            )
        })
        .collect()
    }

    /// Run `rule` over one poll's `input`, stopping at `deadline`.
    pub fn run(&self, rule: &Rule, input: &mut PollInput, deadline: Instant) -> RunOutcome {
        let started = Instant::now();
        api::RUN.with(|r| {
            *r.borrow_mut() = Some(api::RunCtx {
                rule: rule.id.clone(),
                needs: rule.meta.needs.clone(),
                severity: rule.meta.alert.severity,
                deadline,
                snap: input.snap.clone(),
                findings: Vec::new(),
                columns: Vec::new(),
            })
        });
        let scope = &mut input.scope;
        let hosts = scope.len();
        let ran = catch_unwind(AssertUnwindSafe(|| {
            self.engine.run_ast_with_scope(scope, &rule.ast)
        }));
        // The rule's own variables go; the host's stay for the next rule.
        scope.rewind(hosts);
        let ctx = api::RUN.with(|r| r.borrow_mut().take());
        let findings = ctx.map(|c| c.findings).unwrap_or_default();
        let result = match ran {
            Ok(Ok(())) => Ok(findings),
            Ok(Err(e)) => Err(diag::from_eval(&rule.path, &e, &self.limits)),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                Err(Diagnostic::error(
                    &rule.path,
                    0,
                    0,
                    format!(
                        "internal error while running the rule (it was stopped; please report this): {what}"
                    ),
                ))
            }
        };
        RunOutcome {
            result,
            elapsed: started.elapsed(),
        }
    }

    /// A definition file for the Rhai language server, so editors complete the rule API.
    pub fn write_definitions(&self, dir: &Path) -> std::io::Result<()> {
        let scope = api::definitions_scope();
        let text = self
            .engine
            .definitions_with_scope(&scope)
            .with_headers(true)
            .include_standard_packages(false)
            .single_file();
        std::fs::write(dir.join("lookout.d.rhai"), readable_definitions(&text))
    }
}

/// Rhai writes fallible functions' return type as the tail of `Result<T, Box<EvalAltResult>>`;
/// say what they return instead.
fn readable_definitions(text: &str) -> String {
    const RETURNS: &[(&str, &str)] = &[
        ("fn where(", "Rows"),
        ("fn top(", "Rows"),
        ("fn count_by(", "map"),
        ("fn group_by(", "map"),
        ("fn tally(", "Rows"),
        ("fn values(", "array"),
        ("fn alert(", "()"),
        ("fn alert_each(", "()"),
        ("fn sleep(", "()"),
    ];
    text.lines()
        .map(|line| match line.find("-> EvalAltResult>>") {
            Some(i) => {
                let ret = RETURNS
                    .iter()
                    .find(|(prefix, _)| line.starts_with(prefix))
                    .map_or("?", |(_, r)| r);
                format!("{}-> {ret};", &line[..i])
            }
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The line of `rule`'s source where `key` first appears (1 when it does not): where an error
/// about a key of `const RULE` points.
fn line_of(rule: &Rule, key: &str) -> usize {
    rule.source
        .lines()
        .position(|l| l.contains(key))
        .map_or(1, |i| i + 1)
}

/// Check the dispositions `rules` count against the tenant's list (`cfg/dispositions`): one
/// error per unknown name, at the rule's `needs`.
pub fn check_dispositions<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    tenant: &[String],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rule in rules {
        for d in &rule.meta.needs.dispositions {
            if tenant.iter().any(|t| t == d) {
                continue;
            }
            let hint = lookout_keeper::suggest::closest(d, tenant.iter().map(String::as_str))
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            let line = line_of(rule, "dispositions");
            out.push(Diagnostic::error(
                &rule.path,
                line,
                1,
                format!(
                    "RULE.needs.dispositions: `{d}` is not a disposition of this tenant; {hint}it has: {}",
                    tenant.join(", ")
                ),
            ));
        }
    }
    out
}

/// Check the schedules rules name in `RULE.active` against the config's `[schedules]`: one
/// error per unknown name, at the rule's `active`. Such a rule runs at all times.
pub fn check_schedules<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    schedules: &[String],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for rule in rules {
        let Some(name) = &rule.meta.alert.active else {
            continue;
        };
        if schedules.contains(name) {
            continue;
        }
        let hint = lookout_keeper::suggest::closest(name, schedules.iter().map(String::as_str))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        let line = line_of(rule, "active");
        out.push(Diagnostic::error(
            &rule.path,
            line,
            1,
            format!(
                "RULE.active: no schedule `{name}` in the config's [schedules]; {hint}add [schedules.{name}] (docs/config.md) or name one it has ({}); until then the rule runs at all times",
                if schedules.is_empty() { "none".to_string() } else { schedules.join(", ") }
            ),
        ));
    }
    out
}

/// Where the script first reads the host variable `name`, if it does.
fn variable_use(ast: &AST, name: &str) -> Option<rhai::Position> {
    let mut found = None;
    ast.walk(&mut |path| {
        if let Some(rhai::ASTNode::Expr(rhai::Expr::Variable(x, _, pos))) = path.last()
            && x.2.is_empty()
            && x.1.as_str() == name
        {
            found = Some(*pos);
        }
        found.is_none()
    });
    found
}

/// The host variables of one poll (`now`, `totals`, `services`, …), made once and shared by
/// every rule that runs over it.
pub struct PollInput {
    snap: Arc<Snapshot>,
    scope: rhai::Scope<'static>,
}

impl PollInput {
    pub fn new(now: i64, snap: &Arc<Snapshot>, prev: Option<&Arc<Snapshot>>) -> PollInput {
        PollInput {
            snap: snap.clone(),
            scope: api::scope_for(now, snap, prev),
        }
    }
}

/// `rules/no_ready.rhai` → `no_ready`.
pub fn rule_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// One file of a rule folder.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    /// The last version that compiled (it keeps running while the file is broken).
    pub rule: Option<Arc<Rule>>,
    /// Why the file as it is now does not compile.
    pub error: Option<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// The text the current state was made from.
    pub source: String,
    stamp: Option<(SystemTime, u64)>,
}

/// What a reload changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Added(String),
    Updated(String),
    /// The file no longer compiles; its last good version keeps running.
    Broken(String, Diagnostic),
    Removed(String),
}

/// A folder of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub dir: PathBuf,
    pub files: BTreeMap<String, RuleFile>,
    /// Files seen changing at the last look, with their stamp: read once they hold still.
    settling: HashMap<PathBuf, (SystemTime, u64)>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn rule_paths(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Not only regular files: a pipe or a device named `*.rhai` is reported, not ignored.
        .filter(|p| p.extension().is_some_and(|e| e == "rhai") && !p.is_dir())
        .collect();
    paths.sort();
    Ok(paths)
}

impl RuleSet {
    /// Compile every `.rhai` file in `dir`.
    pub fn load(engine: &RuleEngine, dir: &Path) -> std::io::Result<RuleSet> {
        let mut set = RuleSet {
            dir: dir.to_path_buf(),
            ..RuleSet::default()
        };
        for path in rule_paths(dir)? {
            set.read(engine, &path);
        }
        Ok(set)
    }

    /// Look at the folder again: compile files that changed and have held still since the last
    /// look (a debounce of one look interval), add new ones, drop deleted ones.
    pub fn refresh(&mut self, engine: &RuleEngine) -> std::io::Result<Vec<Change>> {
        let (paths, mut changes) = self.drop_deleted()?;
        for path in paths {
            let now = stamp(&path);
            let id = rule_id(&path);
            let known = self.files.get(&id).and_then(|f| f.stamp);
            if now == known {
                self.settling.remove(&path);
                continue;
            }
            match (self.settling.get(&path), now) {
                (Some(before), Some(now)) if *before == now => {
                    self.settling.remove(&path);
                    if let Some(c) = self.read(engine, &path) {
                        changes.push(c);
                    }
                }
                (_, Some(now)) => {
                    self.settling.insert(path, now);
                }
                (_, None) => {}
            }
        }
        Ok(changes)
    }

    /// Read every file now (the tray's "Reload rules"): no waiting for an edit to hold still,
    /// and an edit that kept the file's timestamp and size is seen too.
    pub fn reload(&mut self, engine: &RuleEngine) -> std::io::Result<Vec<Change>> {
        let (paths, mut changes) = self.drop_deleted()?;
        self.settling.clear();
        for path in paths {
            if let Some(c) = self.read(engine, &path) {
                changes.push(c);
            }
        }
        Ok(changes)
    }

    /// The folder's rule files, after forgetting the ones that are gone (reported as removed).
    fn drop_deleted(&mut self) -> std::io::Result<(Vec<PathBuf>, Vec<Change>)> {
        let paths = rule_paths(&self.dir)?;
        let mut changes = Vec::new();
        let ids: Vec<String> = self.files.keys().cloned().collect();
        for id in ids {
            if !paths.iter().any(|p| rule_id(p) == id) {
                self.files.remove(&id);
                changes.push(Change::Removed(id));
            }
        }
        Ok((paths, changes))
    }

    /// Read and compile one file; returns what changed (nothing when the text is the same).
    fn read(&mut self, engine: &RuleEngine, path: &Path) -> Option<Change> {
        let id = rule_id(path);
        let st = stamp(path);
        let source =
            match lookout_keeper::files::read_text(path, lookout_keeper::files::MAX_TEXT_FILE) {
                Ok(s) => s,
                Err(e) => {
                    let d = Diagnostic::error(path, 0, 0, format!("cannot read the file: {e}"));
                    return Some(self.broken(id, path, String::new(), st, d));
                }
            };
        if let Some(f) = self.files.get_mut(&id)
            && f.source == source
        {
            f.stamp = st;
            return None;
        }
        match engine.compile(path, &source) {
            Ok(rule) => {
                if let Some(d) = self.check_inhibits(&rule) {
                    return Some(self.broken(id, path, source, st, d));
                }
                let warnings = engine.lint(&rule);
                let existed = self.files.contains_key(&id);
                self.files.insert(
                    id.clone(),
                    RuleFile {
                        path: path.to_path_buf(),
                        rule: Some(Arc::new(rule)),
                        error: None,
                        warnings,
                        source,
                        stamp: st,
                    },
                );
                Some(if existed {
                    Change::Updated(id)
                } else {
                    Change::Added(id)
                })
            }
            Err(d) => Some(self.broken(id, path, source, st, d)),
        }
    }

    /// A rule whose `inhibits` names a rule this folder does not have: an error at
    /// `inhibits`, with the names it has.
    fn check_inhibits(&self, rule: &Rule) -> Option<Diagnostic> {
        let inhibits = rule.meta.alert.inhibits.as_ref()?;
        let ids: Vec<String> = rule_paths(&self.dir)
            .ok()?
            .iter()
            .map(|p| rule_id(p))
            .collect();
        let missing = inhibits.rules.iter().find(|r| !ids.contains(r))?;
        let hint = lookout_keeper::suggest::closest(missing, ids.iter().map(String::as_str))
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        let line = line_of(rule, "inhibits");
        Some(Diagnostic::error(
            &rule.path,
            line,
            1,
            format!(
                "RULE.inhibits.rules: no rule `{missing}` in this folder; {hint}name rules by their file name without .rhai ({})",
                ids.join(", ")
            ),
        ))
    }

    fn broken(
        &mut self,
        id: String,
        path: &Path,
        source: String,
        st: Option<(SystemTime, u64)>,
        d: Diagnostic,
    ) -> Change {
        let f = self.files.entry(id.clone()).or_insert_with(|| RuleFile {
            path: path.to_path_buf(),
            rule: None,
            error: None,
            warnings: Vec::new(),
            source: String::new(),
            stamp: None,
        });
        f.error = Some(d.clone());
        f.warnings.clear();
        f.source = source;
        f.stamp = st;
        Change::Broken(id, d)
    }

    /// The rules that run: each file's last good version.
    pub fn rules(&self) -> impl Iterator<Item = &Arc<Rule>> {
        self.files.values().filter_map(|f| f.rule.as_ref())
    }

    /// Every error and warning, file by file.
    pub fn diagnostics(&self) -> Vec<&Diagnostic> {
        self.files
            .values()
            .flat_map(|f| f.error.iter().chain(f.warnings.iter()))
            .collect()
    }

    /// Check the dispositions the rules count against the tenant's list (`cfg/dispositions`).
    pub fn check_dispositions(&self, tenant: &[String]) -> Vec<Diagnostic> {
        check_dispositions(self.rules().map(|r| &**r), tenant)
    }

    /// The subscription: what the overview shows plus everything the rules need.
    pub fn plan(&self) -> Plan {
        plan_for(self.rules().map(|r| &**r))
    }
}

/// The subscription `rules` need: what the overview shows plus every rule's `needs`.
pub fn plan_for<'a>(rules: impl Iterator<Item = &'a Rule>) -> Plan {
    let mut plan = Plan::overview();
    for rule in rules {
        let n = &rule.meta.needs;
        for (have, want) in [
            (&mut plan.totals, &n.totals),
            (&mut plan.services, &n.services),
            (&mut plan.agents, &n.agents),
        ] {
            for s in want {
                if !have.contains(s) {
                    have.push(s.clone());
                }
            }
        }
        if n.chat && plan.chat_limit.is_none() {
            plan.chat_limit = Some(50);
        }
        for d in &n.dispositions {
            if !plan.dispositions.contains(d) {
                plan.dispositions.push(d.clone());
            }
        }
    }
    plan
}

/// How one rule did in one poll.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleReport {
    pub id: String,
    pub name: String,
    /// The error of this poll's run (the alerts are then the last good run's).
    #[serde(serialize_with = "display")]
    pub error: Option<Diagnostic>,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    pub alerts: usize,
    /// The schedule (`RULE.active`) the rule is outside of now: it was not evaluated.
    pub inactive: Option<String>,
}

fn display<S: serde::Serializer>(d: &Option<Diagnostic>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&d.to_string()),
        None => s.serialize_none(),
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// One poll's findings from every rule.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub now: i64,
    pub findings: Vec<Finding>,
    pub reports: Vec<RuleReport>,
}

/// Runs a rule set over snapshots, one after another.
#[derive(Debug, Default)]
pub struct Evaluator {
    last_good: HashMap<String, Vec<Finding>>,
    prev: Option<Arc<Snapshot>>,
    /// The config's schedules: a rule whose `active` names one runs only inside it.
    schedules: BTreeMap<String, lookout_keeper::schedule::Schedule>,
}

impl Evaluator {
    /// An evaluator that runs a rule whose `RULE.active` names one of `schedules` only while
    /// the poll's time is inside it (a schedule it does not know never stops a rule).
    pub fn with_schedules(
        schedules: BTreeMap<String, lookout_keeper::schedule::Schedule>,
    ) -> Evaluator {
        Evaluator {
            schedules,
            ..Evaluator::default()
        }
    }

    /// Run every rule over `snap`. A rule that fails (or is skipped because the poll's budget
    /// is spent) keeps its last good alerts: an error never looks like "resolved". A rule no
    /// longer in the set has no alerts.
    pub fn evaluate(
        &mut self,
        engine: &RuleEngine,
        rules: &RuleSet,
        snap: Arc<Snapshot>,
        now: i64,
    ) -> Evaluation {
        let limits = engine.limits().clone();
        let poll_end = Instant::now() + limits.poll_budget;
        let mut input = PollInput::new(now, &snap, self.prev.as_ref());
        let mut findings = Vec::new();
        let mut reports = Vec::new();
        self.last_good
            .retain(|id, _| rules.files.get(id).is_some_and(|f| f.rule.is_some()));
        for rule in rules.rules() {
            if let Some(name) = &rule.meta.alert.active
                && self.schedules.get(name).is_some_and(|s| !s.contains(now))
            {
                // Outside its schedule: not run, and nothing of it holds.
                self.last_good.remove(&rule.id);
                reports.push(RuleReport {
                    id: rule.id.clone(),
                    name: rule.meta.alert.name.clone(),
                    error: None,
                    elapsed: Duration::ZERO,
                    alerts: 0,
                    inactive: Some(name.clone()),
                });
                continue;
            }
            let start = Instant::now();
            let (result, elapsed) = if start >= poll_end {
                (
                    Err(Diagnostic::error(
                        &rule.path,
                        0,
                        0,
                        format!(
                            "skipped: the rules used up this poll's budget of {} ms before this one ran",
                            limits.poll_budget.as_millis()
                        ),
                    )),
                    Duration::ZERO,
                )
            } else {
                let deadline = (start + limits.deadline).min(poll_end);
                let out = engine.run(rule, &mut input, deadline);
                (out.result, out.elapsed)
            };
            let error = match result {
                Ok(found) => {
                    self.last_good.insert(rule.id.clone(), found);
                    None
                }
                Err(d) => Some(d),
            };
            let mine = self.last_good.get(&rule.id).cloned().unwrap_or_default();
            reports.push(RuleReport {
                id: rule.id.clone(),
                name: rule.meta.alert.name.clone(),
                error,
                elapsed,
                alerts: mine.len(),
                inactive: None,
            });
            findings.extend(mine);
        }
        self.prev = Some(snap);
        Evaluation {
            now,
            findings,
            reports,
        }
    }

    /// Forget the previous snapshot (`prev` is `()` in the next poll), e.g. after the
    /// subscription was made again.
    pub fn forget_prev(&mut self) {
        self.prev = None;
    }
}
