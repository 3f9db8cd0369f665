//! What a rule sees: the snapshot as registered custom types over one shared `Arc<Snapshot>`
//! (never converted into Rhai maps: measured 25–30× slower, and deep-copied by every `for`),
//! the row-set helpers implemented here in Rust, and `alert`.
//!
//! Per-run state (the rule's `needs`, its deadline, the alerts it emits) lives in a thread-local
//! set by the runner: rules run one at a time on one thread.

use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

use lookout_keeper::fmt_dur;
use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, Position};
use rustc_hash::FxHashMap;

use super::meta::{Needs, Severity};
use lookout_alerting::{Finding, Labels};
use lookout_keeper::snapshot::{Grid, Snapshot, Value};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn fail<T>(msg: impl Into<String>) -> Fallible<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        msg.into().into(),
        Position::NONE,
    )))
}

/// The most alerts one rule may emit in one run.
pub const MAX_ALERTS_PER_RUN: usize = 1000;

/// The longest string a rule may make (Rhai's own limit, set in `engine.rs`).
pub const MAX_STRING: usize = 256 * 1024;

/// What the runner sets before each rule run.
pub(crate) struct RunCtx {
    pub(crate) rule: String,
    pub(crate) needs: Needs,
    pub(crate) severity: Severity,
    pub(crate) deadline: Instant,
    /// The snapshot being evaluated, for `available`.
    pub(crate) snap: Arc<Snapshot>,
    pub(crate) findings: Vec<Finding>,
    /// Columns already looked up in this run by a field getter: (snapshot, grid, name) →
    /// column. Identities are addresses: the snapshots outlive the run, and getter names are
    /// `'static`.
    pub(crate) columns: Vec<(usize, Table, usize, Option<usize>)>,
}

thread_local! {
    pub(crate) static RUN: RefCell<Option<RunCtx>> = const { RefCell::new(None) };
}

fn with_ctx<T>(f: impl FnOnce(&mut RunCtx) -> T) -> Option<T> {
    RUN.with(|r| r.borrow_mut().as_mut().map(f))
}

/// Which grid of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Services,
    Agents,
    Chat,
    /// Rows a helper made (`tally`, `change_since`), kept as the `services` grid of a
    /// snapshot of their own.
    Tally,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Services => "services",
            Table::Agents => "agents",
            Table::Chat => "chat",
            Table::Tally => "tally",
        }
    }

    fn grid(self, snap: &Snapshot) -> &Grid {
        match self {
            Table::Services => &snap.services,
            Table::Agents => &snap.agents,
            Table::Chat => snap.chat_grid(),
            Table::Tally => &snap.services,
        }
    }
}

/// A set of rows of one grid: all of them, or a selection.
#[derive(Clone)]
pub struct Rows {
    snap: Arc<Snapshot>,
    table: Table,
    sel: Option<Arc<Vec<u32>>>,
}

/// One row.
#[derive(Clone)]
pub struct Row {
    snap: Arc<Snapshot>,
    table: Table,
    row: u32,
}

/// The totals of a snapshot.
#[derive(Clone)]
pub struct Totals {
    snap: Arc<Snapshot>,
}

/// A whole snapshot (`prev`).
#[derive(Clone)]
pub struct SnapView {
    snap: Arc<Snapshot>,
}

/// What a missing cell or an undelivered column reads as.
static NO_VALUE: Value = Value::None;

/// Row `r`'s cell in column `c`: no value where the row is short.
fn cell(grid: &Grid, r: u32, c: usize) -> &Value {
    grid.rows
        .get(r as usize)
        .and_then(|row| row.get(c))
        .unwrap_or(&NO_VALUE)
}

impl Rows {
    pub(crate) fn all(snap: Arc<Snapshot>, table: Table) -> Rows {
        Rows {
            snap,
            table,
            sel: None,
        }
    }

    fn grid(&self) -> &Grid {
        self.table.grid(&self.snap)
    }

    fn len(&self) -> usize {
        match &self.sel {
            Some(s) => s.len(),
            None => self.grid().len(),
        }
    }

    fn index(&self, i: usize) -> u32 {
        match &self.sel {
            Some(s) => s[i],
            None => i as u32,
        }
    }

    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len()).map(|i| self.index(i))
    }

    fn select(&self, rows: Vec<u32>) -> Rows {
        Rows {
            snap: self.snap.clone(),
            table: self.table,
            sel: Some(Arc::new(rows)),
        }
    }

    fn row(&self, r: u32) -> Row {
        Row {
            snap: self.snap.clone(),
            table: self.table,
            row: r,
        }
    }

    /// The column's index, after checking the rule declared it.
    fn col(&self, name: &str) -> Fallible<Option<usize>> {
        column(&self.snap, self.table, name)
    }

    fn value(&self, r: u32, c: Option<usize>) -> &Value {
        match c {
            Some(c) => cell(self.grid(), r, c),
            None => &NO_VALUE,
        }
    }
}

impl IntoIterator for Rows {
    type Item = Row;
    type IntoIter = RowsIter;

    fn into_iter(self) -> RowsIter {
        RowsIter {
            rows: self,
            next: 0,
        }
    }
}

/// The rows of a [`Rows`], one at a time (a `for` loop over thousands of rows makes them as it
/// goes, not all up front).
pub struct RowsIter {
    rows: Rows,
    next: usize,
}

impl Iterator for RowsIter {
    type Item = Row;

    fn next(&mut self) -> Option<Row> {
        if self.next >= self.rows.len() {
            return None;
        }
        let r = self.rows.index(self.next);
        self.next += 1;
        Some(self.rows.row(r))
    }
}

/// Check that the running rule declared `name` for `table`, and find it in the grid. A
/// declared column the data does not carry reads as no value.
fn column(snap: &Snapshot, table: Table, name: &str) -> Fallible<Option<usize>> {
    let declared = with_ctx(|ctx| match table {
        Table::Services => ctx.needs.services.contains(name),
        Table::Agents => ctx.needs.agents.contains(name),
        Table::Chat => ctx.needs.chat,
        // Its columns are the ones counted (declared when counted) and `count`.
        Table::Tally => true,
    })
    .unwrap_or(true);
    let grid = table.grid(snap);
    let found = grid.column(name);
    if !declared {
        if table == Table::Chat {
            return fail(
                "the rule reads chat but does not declare it; add `chat: true` to RULE.needs",
            );
        }
        if found.is_none() && !lookout_keeper::catalogue::is_known(name) {
            return fail(unknown_column(table, name, &grid.columns));
        }
        return fail(format!(
            "column `{name}` is not declared; add \"{name}\" to RULE.needs.{}",
            table.name()
        ));
    }
    match found {
        Some(c) => Ok(Some(c)),
        None if matches!(table, Table::Chat | Table::Tally) => {
            fail(unknown_column(table, name, &grid.columns))
        }
        None => Ok(None),
    }
}

/// [`column`] for the field getters: the same checks, done once per run for each
/// (snapshot, grid, name).
fn column_cached(snap: &Snapshot, table: Table, name: &'static str) -> Fallible<Option<usize>> {
    let key = (
        snap as *const Snapshot as usize,
        table,
        name.as_ptr() as usize,
    );
    let hit = with_ctx(|ctx| {
        ctx.columns
            .iter()
            .find(|(s, t, n, _)| (*s, *t, *n) == key)
            .map(|e| e.3)
    })
    .flatten();
    if let Some(c) = hit {
        return Ok(c);
    }
    let c = column(snap, table, name)?;
    with_ctx(|ctx| ctx.columns.push((key.0, key.1, key.2, c)));
    Ok(c)
}

fn unknown_column(table: Table, name: &str, columns: &[String]) -> String {
    let hint = lookout_keeper::suggest::closest(name, columns.iter().map(String::as_str))
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    format!(
        "unknown column `{name}`; {hint}the {} grid has: {}",
        table.name(),
        if columns.is_empty() {
            "(no columns)".to_string()
        } else {
            columns.join(", ")
        }
    )
}

pub(crate) fn to_dynamic(v: &Value) -> Dynamic {
    match v {
        Value::None => Dynamic::UNIT,
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::Text(t) => Dynamic::from(ImmutableString::from(&**t)),
        Value::Bool(b) => Dynamic::from_bool(*b),
    }
}

/// A script value to compare cells with, classified once per helper call rather than per row.
/// It borrows its text: from the script's value, or from another cell of the grid.
enum Needle<'a> {
    Unit,
    /// Integers compare exactly with integer cells, as Rhai compares two integers.
    Int(i64),
    Number(f64),
    Bool(bool),
    Text(Cow<'a, str>),
    Other,
}

impl<'a> Needle<'a> {
    fn of(d: &Dynamic) -> Needle<'a> {
        if d.is_unit() {
            Needle::Unit
        } else if let Ok(i) = d.as_int() {
            Needle::Int(i)
        } else if let Ok(f) = d.as_float() {
            Needle::Number(f)
        } else if let Ok(b) = d.as_bool() {
            Needle::Bool(b)
        } else if let Ok(s) = d.as_immutable_string_ref() {
            Needle::Text(Cow::Owned(s.to_string()))
        } else {
            Needle::Other
        }
    }

    /// A cell as what another cell is compared with (`where(…, column(…))`).
    fn of_value(v: &'a Value) -> Needle<'a> {
        match v {
            Value::None => Needle::Unit,
            Value::Int(i) => Needle::Int(*i),
            Value::Float(f) => Needle::Number(*f),
            Value::Bool(b) => Needle::Bool(*b),
            Value::Text(t) => Needle::Text(Cow::Borrowed(t)),
        }
    }

    /// `None` when they cannot be compared (no value, or a number against text).
    fn compare(&self, cell: &Value) -> Option<Ordering> {
        match (self, cell) {
            (Needle::Int(n), Value::Int(c)) => Some(c.cmp(n)),
            (Needle::Int(n), cell) => cell.as_f64()?.partial_cmp(&(*n as f64)),
            (Needle::Number(n), cell) => cell.as_f64()?.partial_cmp(n),
            (Needle::Bool(b), Value::Bool(c)) => Some(c.cmp(b)),
            (Needle::Text(s), Value::Text(t)) => Some((**t).cmp(s.as_ref())),
            _ => None,
        }
    }
}

fn number(d: &Dynamic) -> Option<f64> {
    if let Ok(i) = d.as_int() {
        return Some(i as f64);
    }
    d.as_float().ok()
}

#[derive(Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
}

impl Op {
    fn parse(op: &str) -> Fallible<Op> {
        Ok(match op {
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            "contains" => Op::Contains,
            other => {
                return fail(format!(
                    "unknown comparison `{other}`; use ==, !=, >, >=, <, <= or contains"
                ));
            }
        })
    }
}

/// The rows of `rows` whose cell in column `c` passes `keep`, in order. One tight loop over the
/// grid for each predicate (the caller's closure is inlined into it), no per-row dispatch: this
/// is `indices()` and `value()` with the grid and the selection looked up once, not per row.
fn scan(rows: &Rows, c: Option<usize>, keep: impl Fn(&Value) -> bool) -> Vec<u32> {
    let Some(c) = c else {
        // A declared column the data does not carry: every cell reads as no value.
        return if keep(&NO_VALUE) {
            rows.indices().collect()
        } else {
            Vec::new()
        };
    };
    let grid = rows.grid();
    let keeps = |r: u32| keep(cell(grid, r, c));
    match &rows.sel {
        None => (0..grid.len() as u32).filter(|&r| keeps(r)).collect(),
        Some(sel) => sel.iter().copied().filter(|&r| keeps(r)).collect(),
    }
}

/// What `where(col, op, value)` keeps: no value equals only `()`; `contains` is text in text,
/// ignoring case; text compares with text, numbers with numbers (ints and floats alike), flags
/// with flags; anything else does not match, except that `!=` keeps every cell with a value.
fn where_rows(rows: &Rows, c: Option<usize>, op: Op, needle: &Needle) -> Vec<u32> {
    let ord_ok = move |ord: Option<Ordering>| ord_keeps(op, ord);
    match (op, needle) {
        (Op::Eq, Needle::Unit) => scan(rows, c, Value::is_none),
        (Op::Ne, Needle::Unit) => scan(rows, c, |v| !v.is_none()),
        (_, Needle::Unit) => Vec::new(),
        (Op::Contains, Needle::Text(s)) => {
            let lower = s.to_lowercase();
            scan(rows, c, |v| match v {
                Value::Text(t) => contains_ignoring_case(t, &lower),
                _ => false,
            })
        }
        (Op::Contains, _) => Vec::new(),
        // Text equality is the common case (states, names): equal-or-not, which rejects
        // different lengths without looking at the bytes.
        (Op::Eq, Needle::Text(s)) => scan(rows, c, |v| matches!(v, Value::Text(t) if **t == **s)),
        (Op::Ne, Needle::Text(s)) => scan(rows, c, |v| {
            !v.is_none() && !matches!(v, Value::Text(t) if **t == **s)
        }),
        (Op::Ne, needle) => scan(rows, c, |v| {
            !v.is_none() && needle.compare(v) != Some(Ordering::Equal)
        }),
        (_, needle) => scan(rows, c, |v| ord_ok(needle.compare(v))),
    }
}

/// Whether `text` contains `lower` (already lowercase), ignoring case as `to_lowercase` does.
/// ASCII text against a short ASCII needle, by far the common case, is compared in place
/// (window by window: at most 32 comparisons per byte of text); other text is lowercased into
/// a new string and searched in linear time.
fn contains_ignoring_case(text: &str, lower: &str) -> bool {
    if lower.is_empty() {
        return true;
    }
    if lower.len() <= 32 && text.is_ascii() && lower.is_ascii() {
        let needle = lower.as_bytes();
        return text
            .as_bytes()
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle));
    }
    text.to_lowercase().contains(lower)
}

/// `column(name)`, and arithmetic on it with numbers and other columns: in `where`, a value of
/// the same row to compare with, computed in Rust (`(column("agents_ready") + 1) * 3`).
#[derive(Clone)]
pub struct ColumnRef {
    expr: Arc<Expr>,
    /// How many columns, numbers and operations it holds (at most [`MAX_EXPR`]).
    size: usize,
}

/// The most parts a column expression may have: it is read (and dropped) recursively, so one
/// built in a loop must not nest deeper than a thread's stack allows.
const MAX_EXPR: usize = 64;

impl ColumnRef {
    fn leaf(e: Expr) -> ColumnRef {
        ColumnRef {
            expr: Arc::new(e),
            size: 1,
        }
    }

    fn arith(op: Arith, a: ColumnRef, b: ColumnRef) -> Fallible<ColumnRef> {
        let size = a.size + b.size + 1;
        if size > MAX_EXPR {
            return fail(format!(
                "a column expression of more than {MAX_EXPR} parts; write it shorter"
            ));
        }
        Ok(ColumnRef {
            expr: Arc::new(Expr::Arith(op, a.expr, b.expr)),
            size,
        })
    }
}

enum Expr {
    Column(ImmutableString),
    Number(Value),
    Arith(Arith, Arc<Expr>, Arc<Expr>),
}

#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// An [`Expr`] with its columns looked up (and checked against `needs`) once per call.
enum Resolved {
    Column(Option<usize>),
    Number(Value),
    Arith(Arith, Box<Resolved>, Box<Resolved>),
}

impl Expr {
    fn resolve(&self, rows: &Rows) -> Fallible<Resolved> {
        Ok(match self {
            Expr::Column(name) => Resolved::Column(rows.col(name)?),
            Expr::Number(n) => Resolved::Number(n.clone()),
            Expr::Arith(op, a, b) => {
                Resolved::Arith(*op, Box::new(a.resolve(rows)?), Box::new(b.resolve(rows)?))
            }
        })
    }
}

impl Resolved {
    /// Row `r`'s value. Arithmetic is Rhai's: integers stay integers (division truncates),
    /// a float makes a float. What has no answer is no value: a missing or non-numeric
    /// operand, division by zero, an integer overflow, a float that is not finite.
    fn value<'a>(&'a self, rows: &'a Rows, r: u32) -> Cow<'a, Value> {
        match self {
            Resolved::Column(c) => Cow::Borrowed(rows.value(r, *c)),
            Resolved::Number(n) => Cow::Borrowed(n),
            Resolved::Arith(op, a, b) => {
                Cow::Owned(arith(*op, &a.value(rows, r), &b.value(rows, r)))
            }
        }
    }
}

fn arith(op: Arith, a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Int(a), Value::Int(b)) => {
            let v = match op {
                Arith::Add => a.checked_add(*b),
                Arith::Sub => a.checked_sub(*b),
                Arith::Mul => a.checked_mul(*b),
                Arith::Div => a.checked_div(*b),
            };
            v.map_or(Value::None, Value::Int)
        }
        (a, b) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return Value::None;
            };
            let v = match op {
                Arith::Add => a + b,
                Arith::Sub => a - b,
                Arith::Mul => a * b,
                Arith::Div => a / b,
            };
            if v.is_finite() {
                Value::Float(v)
            } else {
                Value::None
            }
        }
    }
}

/// The rows whose cell in `c` compares by `op` with their own value of `other`, as
/// `where(col, op, value)` compares with a value.
fn where_columns(rows: &Rows, c: Option<usize>, op: Op, other: &Resolved) -> Vec<u32> {
    rows.indices()
        .filter(|&r| {
            keeps(
                op,
                &Needle::of_value(&other.value(rows, r)),
                rows.value(r, c),
            )
        })
        .collect()
}

/// Whether `where` keeps cell `v` against `needle`: the rules of [`where_rows`], one cell at a
/// time.
fn keeps(op: Op, needle: &Needle, v: &Value) -> bool {
    match (op, needle) {
        (Op::Eq, Needle::Unit) => v.is_none(),
        (Op::Ne, Needle::Unit) => !v.is_none(),
        (_, Needle::Unit) => false,
        (Op::Contains, Needle::Text(s)) => {
            matches!(v, Value::Text(t) if contains_ignoring_case(t, &s.to_lowercase()))
        }
        (Op::Contains, _) => false,
        (Op::Ne, needle) => !v.is_none() && needle.compare(v) != Some(Ordering::Equal),
        (op, needle) => ord_keeps(op, needle.compare(v)),
    }
}

/// Whether an ordering comparison `op` holds for a cell that compares `ord` with the value.
fn ord_keeps(op: Op, ord: Option<Ordering>) -> bool {
    match op {
        Op::Eq => ord == Some(Ordering::Equal),
        Op::Gt => ord == Some(Ordering::Greater),
        Op::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => ord == Some(Ordering::Less),
        Op::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        // `!=` and `contains` have arms of their own.
        Op::Ne | Op::Contains => false,
    }
}

fn where_op(rows: &mut Rows, col: &str, op: &str, value: Dynamic) -> Fallible<Rows> {
    let c = rows.col(col)?;
    let op = Op::parse(op)?;
    if let Some(other) = value.clone().try_cast::<ColumnRef>() {
        let other = other.expr.resolve(rows)?;
        let out = where_columns(rows, c, op, &other);
        return Ok(rows.select(out));
    }
    let out = where_rows(rows, c, op, &Needle::of(&value));
    Ok(rows.select(out))
}

fn numbers<'a>(rows: &'a Rows, c: Option<usize>) -> impl Iterator<Item = &'a Value> + 'a {
    rows.indices()
        .map(move |r| rows.value(r, c))
        .filter(|v| matches!(v, Value::Int(_) | Value::Float(_)))
}

fn sum(rows: &mut Rows, col: &str) -> Fallible<Dynamic> {
    let c = rows.col(col)?;
    let (mut ints, mut floats, mut any_float) = (0i64, 0f64, false);
    for v in numbers(rows, c) {
        match v {
            Value::Int(i) => ints = ints.saturating_add(*i),
            Value::Float(f) => {
                floats += f;
                any_float = true;
            }
            _ => {}
        }
    }
    Ok(if any_float {
        Dynamic::from_float(ints as f64 + floats)
    } else {
        Dynamic::from_int(ints)
    })
}

fn extreme(rows: &mut Rows, col: &str, want: Ordering) -> Fallible<Dynamic> {
    let c = rows.col(col)?;
    let best = numbers(rows, c).fold(None::<&Value>, |best, v| match best {
        Some(b) if v.as_f64().partial_cmp(&b.as_f64()) != Some(want) => Some(b),
        _ => Some(v),
    });
    Ok(best.map_or(Dynamic::UNIT, to_dynamic))
}

fn avg(rows: &mut Rows, col: &str) -> Fallible<Dynamic> {
    let c = rows.col(col)?;
    let (mut total, mut n) = (0f64, 0usize);
    for v in numbers(rows, c) {
        total += v.as_f64().unwrap_or(0.0);
        n += 1;
    }
    Ok(if n == 0 {
        Dynamic::UNIT
    } else {
        Dynamic::from_float(total / n as f64)
    })
}

fn top(rows: &mut Rows, n: i64, col: &str) -> Fallible<Rows> {
    let c = rows.col(col)?;
    let n = n.max(0) as usize;
    // (position, row, value); the position breaks ties, so equal values keep their order.
    let mut with: Vec<(usize, u32, f64)> = rows
        .indices()
        .filter_map(|r| rows.value(r, c).as_f64().map(|v| (r, v)))
        .enumerate()
        .map(|(i, (r, v))| (i, r, v))
        .collect();
    // Largest first.
    let order = |a: &(usize, u32, f64), b: &(usize, u32, f64)| {
        b.2.partial_cmp(&a.2)
            .unwrap_or(Ordering::Equal)
            .then(a.0.cmp(&b.0))
    };
    if n == 0 {
        with.clear();
    } else if n < with.len() {
        // The n largest without sorting the rest (`top(1, …)` is a scan).
        with.select_nth_unstable_by(n - 1, order);
        with.truncate(n);
    }
    with.sort_unstable_by(order);
    Ok(rows.select(with.into_iter().map(|(_, r, _)| r).collect()))
}

/// A cell as a grouping key: text borrowed from the snapshot (no allocation per row), other
/// values written out.
fn key_of(v: &Value) -> Option<Cow<'_, str>> {
    Some(match v {
        Value::None => return None,
        Value::Text(t) => Cow::Borrowed(t),
        Value::Int(i) => Cow::Owned(i.to_string()),
        Value::Float(f) => Cow::Owned(f.to_string()),
        Value::Bool(b) => Cow::Owned(b.to_string()),
    })
}

/// How many rows have each value of `col` (rows without one are left out).
fn counts<'a>(rows: &'a Rows, col: &str) -> Fallible<FxHashMap<Cow<'a, str>, i64>> {
    let c = rows.col(col)?;
    let mut counts: FxHashMap<Cow<'_, str>, i64> = FxHashMap::default();
    for r in rows.indices() {
        if let Some(k) = key_of(rows.value(r, c)) {
            *counts.entry(k).or_default() += 1;
        }
    }
    Ok(counts)
}

fn count_by(rows: &mut Rows, col: &str) -> Fallible<Map> {
    let counts = counts(rows, col)?;
    // A Rhai map is ordered by key: the same map whatever order the counts came in.
    Ok(counts
        .into_iter()
        .map(|(k, n)| (k.as_ref().into(), Dynamic::from_int(n)))
        .collect())
}

/// `rows.tally(col)`: one row per value of `col` (rows without one are left out), in the
/// order of the values, with the columns `col` and `count`: what `count_by` counts, as rows
/// that `where`, `top` and `alert_each` take, so a rule need not loop over the counts.
fn tally(rows: &mut Rows, col: &str) -> Fallible<Rows> {
    let mut counted: Vec<(Cow<'_, str>, i64)> = counts(rows, col)?.into_iter().collect();
    counted.sort_unstable();
    Ok(tally_rows(
        rows,
        vec![col.to_string(), "count".to_string()],
        counted
            .into_iter()
            .map(|(k, n)| vec![Value::Text(k.as_ref().into()), Value::Int(n)])
            .collect(),
    ))
}

/// `rows.tally(col, largest)`: [`tally`], each row also carrying the other columns of the
/// group's row with the largest `largest` (the first of equals, as `top(1, largest)` picks;
/// no values when no row of the group has a number there).
fn tally_largest(rows: &mut Rows, col: &str, largest: &str) -> Fallible<Rows> {
    let c = rows.col(col)?;
    let l = rows.col(largest)?;
    // Per value: how many rows, and the largest number with its row.
    type Group = (i64, Option<(f64, u32)>);
    let mut groups: FxHashMap<Cow<'_, str>, Group> = FxHashMap::default();
    for r in rows.indices() {
        let Some(k) = key_of(rows.value(r, c)) else {
            continue;
        };
        let g = groups.entry(k).or_default();
        g.0 += 1;
        if let Some(v) = rows.value(r, l).as_f64()
            && g.1.is_none_or(|(best, _)| v > best)
        {
            g.1 = Some((v, r));
        }
    }
    let mut groups: Vec<_> = groups.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let (names, others) = declared_columns(rows, &[col, "count"]);
    let mut columns = vec![col.to_string(), "count".to_string()];
    columns.extend(names);
    let out = groups
        .into_iter()
        .map(|(k, (n, best))| {
            let mut row = vec![Value::Text(k.as_ref().into()), Value::Int(n)];
            row.extend(others.iter().map(|&i| match best {
                Some((_, r)) => rows.value(r, Some(i)).clone(),
                None => Value::None,
            }));
            row
        })
        .collect();
    Ok(tally_rows(rows, columns, out))
}

/// `rows.change_since(before, key, col)`: the rows of `rows` that `before` (the same grid of an
/// earlier poll: `prev.services`) also has, matched by their value of `key` (the first row of
/// `before` with it, as `group_by(key)[…].first()` finds it), each with the rule's declared
/// columns and `change`: its `col` now minus its `col` then, as the script's `-` computes it
/// (no value when either has none). So a rule compares with the last poll without a loop.
fn change_since(rows: &mut Rows, before: Rows, key: &str, col: &str) -> Fallible<Rows> {
    let (k, c) = (rows.col(key)?, rows.col(col)?);
    let (bk, bc) = (before.col(key)?, before.col(col)?);
    let mut then: FxHashMap<Cow<'_, str>, u32> = FxHashMap::default();
    for r in before.indices() {
        if let Some(k) = key_of(before.value(r, bk)) {
            then.entry(k).or_insert(r);
        }
    }
    let (mut columns, keep) = declared_columns(rows, &["change"]);
    let mut out = Vec::new();
    for r in rows.indices() {
        let Some(b) = key_of(rows.value(r, k)).and_then(|k| then.get(&k).copied()) else {
            continue;
        };
        let mut row: Vec<Value> = keep
            .iter()
            .map(|&i| rows.value(r, Some(i)).clone())
            .collect();
        row.push(arith(Arith::Sub, rows.value(r, c), before.value(b, bc)));
        out.push(row);
    }
    columns.push("change".to_string());
    Ok(tally_rows(rows, columns, out))
}

/// The columns of `rows` the rule declared (another rule's are not this one's to read), less
/// `except`: their names and indices.
fn declared_columns(rows: &Rows, except: &[&str]) -> (Vec<String>, Vec<usize>) {
    let source = &rows.grid().columns;
    let declared = |name: &str| {
        with_ctx(|ctx| match rows.table {
            Table::Services => ctx.needs.services.contains(name),
            Table::Agents => ctx.needs.agents.contains(name),
            Table::Chat | Table::Tally => true,
        })
        .unwrap_or(true)
    };
    let keep: Vec<usize> = (0..source.len())
        .filter(|&i| !except.contains(&source[i].as_str()) && declared(&source[i]))
        .collect();
    (keep.iter().map(|&i| source[i].clone()).collect(), keep)
}

/// Rows a helper made from `rows` (`tally`, `change_since`).
fn tally_rows(rows: &Rows, columns: Vec<String>, out: Vec<Vec<Value>>) -> Rows {
    let mut snap = Snapshot::default();
    snap.taken_at = rows.snap.taken_at;
    snap.services = Grid { columns, rows: out };
    Rows::all(Arc::new(snap), Table::Tally)
}

fn group_by(rows: &mut Rows, col: &str) -> Fallible<Map> {
    let c = rows.col(col)?;
    let mut groups: FxHashMap<Cow<'_, str>, Vec<u32>> = FxHashMap::default();
    for r in rows.indices() {
        if let Some(k) = key_of(rows.value(r, c)) {
            groups.entry(k).or_default().push(r);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, sel)| (k.as_ref().into(), Dynamic::from(rows.select(sel))))
        .collect())
}

fn values(rows: &mut Rows, col: &str) -> Fallible<Array> {
    let c = rows.col(col)?;
    Ok(rows
        .indices()
        .map(|r| to_dynamic(rows.value(r, c)))
        .collect())
}

fn row_get(row: &mut Row, col: &str) -> Fallible<Dynamic> {
    let c = column(&row.snap, row.table, col)?;
    Ok(cell_at(row, c))
}

fn row_field(row: &mut Row, col: &'static str) -> Fallible<Dynamic> {
    let c = column_cached(&row.snap, row.table, col)?;
    Ok(cell_at(row, c))
}

fn cell_at(row: &Row, c: Option<usize>) -> Dynamic {
    match c {
        Some(c) => row
            .table
            .grid(&row.snap)
            .rows
            .get(row.row as usize)
            .and_then(|r| r.get(c))
            .map_or(Dynamic::UNIT, to_dynamic),
        None => Dynamic::UNIT,
    }
}

fn totals_get(t: &mut Totals, stat: &str) -> Fallible<Dynamic> {
    let declared = with_ctx(|ctx| ctx.needs.totals.contains(stat)).unwrap_or(true);
    let found = t.snap.totals.get(stat);
    if !declared {
        if found.is_none() && !lookout_keeper::catalogue::is_known(stat) {
            let hint =
                lookout_keeper::suggest::closest(stat, t.snap.totals.keys().map(String::as_str))
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
            return fail(format!(
                "unknown total `{stat}`; {hint}the totals are: {}",
                t.snap
                    .totals
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        return fail(format!(
            "total `{stat}` is not declared; add \"{stat}\" to RULE.needs.totals"
        ));
    }
    Ok(found.map_or(Dynamic::UNIT, to_dynamic))
}

/// Today's calls of `row`'s agent with disposition `name`.
fn row_disposition(row: &mut Row, name: &str) -> Fallible<Dynamic> {
    declared_disposition(name)?;
    if row.table != Table::Agents {
        return fail("disposition counts are per agent: use them on rows of `agents`");
    }
    let g = row.table.grid(&row.snap);
    Ok(
        g.column(&lookout_keeper::snapshot::disposition_column(name))
            .and_then(|c| g.rows.get(row.row as usize)?.get(c))
            .map_or(Dynamic::UNIT, to_dynamic),
    )
}

/// Today's calls with disposition `name`, summed over the agents.
fn totals_disposition(t: &mut Totals, name: &str) -> Fallible<Dynamic> {
    declared_disposition(name)?;
    let g = &t.snap.agents;
    let Some(c) = g.column(&lookout_keeper::snapshot::disposition_column(name)) else {
        return Ok(Dynamic::UNIT);
    };
    Ok(Dynamic::from_int(
        g.rows.iter().filter_map(|r| r.get(c)?.as_i64()).sum(),
    ))
}

fn declared_disposition(name: &str) -> Fallible<()> {
    let declared = with_ctx(|ctx| ctx.needs.dispositions.contains(name)).unwrap_or(true);
    if declared {
        Ok(())
    } else {
        fail(format!(
            "disposition `{name}` is not declared; add \"{name}\" to RULE.needs.dispositions"
        ))
    }
}

/// A script value as alert text: strings as they are (without Rhai's formatting machinery,
/// the common case), `()` as nothing, anything else as it prints.
fn alert_text(d: Dynamic) -> String {
    if d.is_unit() {
        String::new()
    } else if d.is_string() {
        d.into_immutable_string()
            .map(ImmutableString::into_owned)
            .unwrap_or_default()
    } else {
        d.to_string()
    }
}

/// The most labels one alert may carry, and the longest label name.
const MAX_LABELS: usize = 16;
const MAX_LABEL_NAME: usize = 64;

/// Check a label map's size and names (letters, digits, `_`) for `who` (`alert`,
/// `alert_each`).
fn check_labels(who: &str, map: &rhai::Map) -> Fallible<()> {
    if map.len() > MAX_LABELS {
        return fail(format!(
            "{who}: {} labels; an alert carries at most {MAX_LABELS}",
            map.len()
        ));
    }
    for name in map.keys() {
        let ok = !name.is_empty()
            && name.len() <= MAX_LABEL_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return fail(format!(
                "{who}: the label name `{}` is not a word of letters, digits and `_` (at most {MAX_LABEL_NAME})",
                name.chars().take(MAX_LABEL_NAME).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// A rule's label map as labels: names as given, values as text.
fn labels_of(map: rhai::Map) -> Fallible<Labels> {
    check_labels("alert", &map)?;
    let mut out = Labels::new();
    for (name, value) in map {
        let value = cap(alert_text(value), MAX_TITLE);
        if !value.is_empty() {
            out.insert(name.to_string(), value);
        }
    }
    Ok(out)
}

/// Emit a condition that is true now.
fn alert(
    key: Dynamic,
    severity: Option<&str>,
    title: Dynamic,
    body: Dynamic,
    labels: Option<rhai::Map>,
) -> Fallible<()> {
    let labels = match labels {
        Some(map) => labels_of(map)?,
        None => Labels::new(),
    };
    let key = cap_key(alert_text(key));
    if key.trim().is_empty() {
        return fail("alert: the key must not be empty; it names the condition across polls");
    }
    let severity = match severity {
        None => None,
        Some(s) => Some(Severity::parse(s).ok_or_else(|| {
            Box::new(EvalAltResult::ErrorRuntime(
                format!("alert: severity `{s}` is not one of \"info\", \"warning\", \"critical\"")
                    .into(),
                Position::NONE,
            ))
        })?),
    };
    push_finding(key, severity, alert_text(title), alert_text(body), labels)
}

/// Keep one alert of this run (its title and body cut to their limits).
fn push_finding(
    key: String,
    severity: Option<Severity>,
    title: String,
    body: String,
    labels: Labels,
) -> Fallible<()> {
    let (title, body) = (cap(title, MAX_TITLE), cap(body, MAX_BODY));
    let pushed = with_ctx(|ctx| {
        if ctx.findings.len() >= MAX_ALERTS_PER_RUN {
            return Err(format!(
                "alert: more than {MAX_ALERTS_PER_RUN} alerts in one run; group them (count_by, group_by) into fewer keys"
            ));
        }
        ctx.findings.push(Finding {
            rule: ctx.rule.clone(),
            key,
            severity: severity.unwrap_or(ctx.severity),
            title,
            body,
            labels,
        });
        Ok(())
    });
    match pushed {
        Some(Err(m)) => fail(m),
        _ => Ok(()),
    }
}

/// One part of an alert template: text as it is, or a column of the row.
enum Piece {
    Text(String),
    Column {
        /// The grid's column (`None`: declared, but the server did not send it).
        at: Option<usize>,
        /// `{col:dur}`, `{col:round}`, or the value as it is.
        format: Format,
        /// `{col|text}`: what an empty value reads as.
        or: Option<String>,
    },
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    /// The value as `${…}` writes it.
    Plain,
    /// `{col:dur}`: as a duration, as `fmt_dur` writes it.
    Dur,
    /// `{col:round}`: a number rounded to a whole one, as `x.round().to_int()` gives it.
    Round,
}

/// Read a template: `{column}` is the row's value, `{column:dur}` that as a duration,
/// `{column:round}` rounded to a whole number, `{column|text}` the value or `text` when it has
/// none; `{{` and `}}` are braces.
fn template(rows: &Rows, t: &str) -> Fallible<Vec<Piece>> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = t;
    while let Some(i) = rest.find(['{', '}']) {
        text.push_str(&rest[..i]);
        let brace = &rest[i..i + 1];
        if rest[i + 1..].starts_with(brace) {
            text.push_str(brace);
            rest = &rest[i + 2..];
            continue;
        }
        if brace == "}" {
            return fail(format!(
                "alert_each: a `}}` without its `{{` in \"{t}\"; write `}}}}` for a brace"
            ));
        }
        let Some(end) = rest[i..].find('}') else {
            return fail(format!(
                "alert_each: a `{{` without its `}}` in \"{t}\"; write `{{{{` for a brace"
            ));
        };
        let inner = &rest[i + 1..i + end];
        let (name, or) = match inner.split_once('|') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (inner, None),
        };
        let (name, format) = match name.split_once(':') {
            None => (name, Format::Plain),
            Some((n, "dur")) => (n, Format::Dur),
            Some((n, "round")) => (n, Format::Round),
            Some((_, other)) => {
                return fail(format!(
                    "alert_each: unknown format `:{other}` in `{{{inner}}}` of \"{t}\"; there are :dur and :round"
                ));
            }
        };
        let name = name.trim();
        if name.is_empty() {
            return fail(format!(
                "alert_each: `{{{inner}}}` in \"{t}\" names no column"
            ));
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Column {
            at: rows.col(name)?,
            format,
            or,
        });
        rest = &rest[i + end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// Template `t` filled from row `r`, as `${…}` would write each value.
fn fill(rows: &Rows, r: u32, t: &[Piece]) -> String {
    // The template's own text and room for a few values: one allocation for most alerts.
    let text: usize = t
        .iter()
        .map(|p| match p {
            Piece::Text(s) => s.len(),
            Piece::Column { .. } => 16,
        })
        .sum();
    let mut out = String::with_capacity(text);
    for p in t {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Column { at, format, or } => {
                use std::fmt::Write;
                let v = rows.value(r, *at);
                let empty = match v {
                    Value::None => true,
                    Value::Text(s) => s.is_empty(),
                    _ => false,
                };
                match (or, format, v) {
                    (Some(d), _, _) if empty => out.push_str(d),
                    (_, Format::Dur, Value::Int(i)) => out.push_str(&fmt_dur(*i)),
                    (_, Format::Dur, Value::Float(f)) => out.push_str(&fmt_dur(f.round() as i64)),
                    (_, Format::Dur, Value::None) => out.push('–'),
                    (_, Format::Round, Value::Float(f)) => {
                        let f = f.round();
                        if f.abs() < i64::MAX as f64 {
                            let _ = write!(out, "{}", f as i64);
                        } else {
                            let _ = write!(out, "{f:.0}");
                        }
                    }
                    (_, _, Value::None) => {}
                    (_, _, Value::Text(s)) => out.push_str(s),
                    (_, _, Value::Int(i)) => {
                        let _ = write!(out, "{i}");
                    }
                    (_, _, other) => out.push_str(&to_dynamic(other).to_string()),
                }
            }
        }
    }
    out
}

/// `alert_each(rows, key, title, body[, labels])`: one alert per row, its key, title, body and
/// labels filled from the row's values in Rust (see [`template`]): a rule that alerts per row
/// makes one call, not one per row with its strings built in the script.
fn alert_each(
    rows: Rows,
    key: &str,
    title: &str,
    body: &str,
    labels: Option<rhai::Map>,
) -> Fallible<()> {
    let (k, t, b) = (
        template(&rows, key)?,
        template(&rows, title)?,
        template(&rows, body)?,
    );
    if k.is_empty() {
        return fail("alert_each: the key must not be empty; it names the condition across polls");
    }
    let labels = match labels {
        Some(map) => {
            check_labels("alert_each", &map)?;
            let mut out = Vec::new();
            for (name, value) in map {
                let text = alert_text(value);
                out.push((name.to_string(), template(&rows, &text)?));
            }
            out
        }
        None => Vec::new(),
    };
    for r in rows.indices() {
        let key = cap_key(fill(&rows, r, &k));
        if key.trim().is_empty() {
            return fail(format!(
                "alert_each: the key \"{}\" is empty for a row; it names the condition across polls",
                key_text(&k)
            ));
        }
        let mut l = Labels::new();
        for (name, t) in &labels {
            let value = cap(fill(&rows, r, t), MAX_TITLE);
            if !value.is_empty() {
                l.insert(name.clone(), value);
            }
        }
        push_finding(key, None, fill(&rows, r, &t), fill(&rows, r, &b), l)?;
    }
    Ok(())
}

/// A template's text, for an error message.
fn key_text(t: &[Piece]) -> String {
    t.iter()
        .map(|p| match p {
            Piece::Text(s) => s.as_str(),
            Piece::Column { .. } => "{…}",
        })
        .collect()
}

/// `join(array, separator)`: the items as text with `sep` between them. The result's size is
/// checked as it grows, before it is made: Rhai checks a string's size only once it exists,
/// and 50,000 items joined by a 256 KiB separator would be gigabytes.
fn join(a: Array, sep: &str) -> Fallible<String> {
    let too_long = || {
        fail(format!(
            "join: the result would be over {} KiB (the longest string a rule may make); join fewer items or a shorter separator",
            MAX_STRING / 1024
        ))
    };
    if sep.len().saturating_mul(a.len().saturating_sub(1)) > MAX_STRING {
        return too_long();
    }
    let mut out = String::new();
    for (i, d) in a.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let pushed = match d.read_lock::<ImmutableString>() {
            Some(s) => push_within(&mut out, s.as_str()),
            None => push_within(&mut out, &d.to_string()),
        };
        if !pushed {
            return too_long();
        }
    }
    Ok(out)
}

/// Append `text` to `out` unless that makes it longer than [`MAX_STRING`].
fn push_within(out: &mut String, text: &str) -> bool {
    let fits = out.len() + text.len() <= MAX_STRING;
    if fits {
        out.push_str(text);
    }
    fits
}

/// The longest key, title and body an alert keeps. A longer key is cut and ends in a hash of
/// the whole, so two long keys that differ only at their ends stay two alerts.
pub const MAX_KEY: usize = 256;
pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 2000;

/// `text` cut to at most `max` characters, ending in "…" when it was cut.
pub(crate) fn cap(mut text: String, max: usize) -> String {
    // No more bytes than `max`, so no more characters: the common case, without counting.
    if text.len() <= max {
        return text;
    }
    if let Some((at, _)) = text.char_indices().nth(max) {
        let keep = text[..at]
            .char_indices()
            .nth(max - 1)
            .map_or(at, |(i, _)| i);
        text.truncate(keep);
        text.push('…');
    }
    text
}

fn cap_key(key: String) -> String {
    if key.len() <= MAX_KEY || key.chars().count() <= MAX_KEY {
        return key;
    }
    let hash = {
        use std::hash::{Hash, Hasher};
        // FxHash is stable across runs and platforms: a key is the same key after a restart.
        let mut h = rustc_hash::FxHasher::default();
        key.hash(&mut h);
        h.finish()
    };
    let head: String = key.chars().take(MAX_KEY - 18).collect();
    format!("{head}…{hash:016x}")
}

fn pct(a: Dynamic, b: Dynamic) -> Dynamic {
    match (number(&a), number(&b)) {
        (Some(a), Some(b)) if b != 0.0 => Dynamic::from_float(a / b * 100.0),
        _ => Dynamic::UNIT,
    }
}

/// Every function the API adds, for suggestions in error messages.
pub const API_FUNCTIONS: &[&str] = &[
    "alert",
    "alert_each",
    "where",
    "count_by",
    "group_by",
    "tally",
    "change_since",
    "column",
    "top",
    "sum",
    "min",
    "max",
    "avg",
    "values",
    "first",
    "len",
    "is_empty",
    "fmt_dur",
    "pct",
    "join",
    "available",
    "disposition",
];

/// Host variables every rule sees.
pub const VARIABLES: &[&str] = &[
    "now",
    "totals",
    "services",
    "agents",
    "chat",
    "prev",
    "availability",
];

/// Register the types and functions above.
pub(crate) fn register(engine: &mut Engine) {
    engine
        .register_type_with_name::<Rows>("Rows")
        .register_type_with_name::<Row>("Row")
        .register_type_with_name::<Totals>("Totals")
        .register_type_with_name::<SnapView>("Snapshot")
        .register_iterator::<Rows>()
        .register_fn("len", |r: &mut Rows| r.len() as i64)
        .register_fn("is_empty", |r: &mut Rows| r.len() == 0)
        .register_fn("first", |r: &mut Rows| {
            if r.len() == 0 {
                Dynamic::UNIT
            } else {
                Dynamic::from(r.row(r.index(0)))
            }
        })
        .register_indexer_get(|r: &mut Rows, i: i64| -> Fallible<Row> {
            let n = r.len();
            if i < 0 || i as usize >= n {
                return fail(format!("row {i} does not exist; there are {n} rows"));
            }
            Ok(r.row(r.index(i as usize)))
        })
        .register_fn(
            "where",
            |r: &mut Rows, col: &str, value: Dynamic| -> Fallible<Rows> {
                where_op(r, col, "==", value)
            },
        )
        .register_fn("where", where_op)
        .register_fn("count_by", count_by)
        .register_fn("group_by", group_by)
        .register_fn("tally", tally)
        .register_fn("tally", tally_largest)
        .register_fn("change_since", change_since)
        .register_type_with_name::<ColumnRef>("Column")
        .register_fn("column", |name: &str| {
            ColumnRef::leaf(Expr::Column(name.into()))
        })
        .register_fn("top", top)
        .register_fn("sum", sum)
        .register_fn("min", |r: &mut Rows, c: &str| extreme(r, c, Ordering::Less))
        .register_fn("max", |r: &mut Rows, c: &str| {
            extreme(r, c, Ordering::Greater)
        })
        .register_fn("avg", avg)
        .register_fn("disposition", row_disposition)
        .register_fn("disposition", totals_disposition)
        .register_fn("values", values)
        .register_indexer_get(row_get)
        .register_indexer_get(totals_get)
        .register_get("totals", |s: &mut SnapView| Totals {
            snap: s.snap.clone(),
        })
        .register_get("services", |s: &mut SnapView| {
            Rows::all(s.snap.clone(), Table::Services)
        })
        .register_get("agents", |s: &mut SnapView| {
            Rows::all(s.snap.clone(), Table::Agents)
        })
        .register_get("chat", |s: &mut SnapView| {
            Rows::all(s.snap.clone(), Table::Chat)
        })
        .register_get("taken_at", |s: &mut SnapView| s.snap.taken_at)
        .register_fn(
            "alert",
            |key: Dynamic, title: Dynamic, body: Dynamic| -> Fallible<()> {
                alert(key, None, title, body, None)
            },
        )
        // Four arguments are (key, severity, title, body) or (key, title, body, labels): told
        // apart by the last one here, as Rhai cannot choose between two such signatures.
        .register_fn(
            "alert",
            |key: Dynamic, a: Dynamic, b: Dynamic, c: Dynamic| -> Fallible<()> {
                if c.is_map() {
                    return alert(key, None, a, b, c.try_cast::<rhai::Map>());
                }
                let Some(severity) = a.clone().into_immutable_string().ok() else {
                    return fail(format!(
                        "alert: with four arguments, the second is the severity (\"info\", \"warning\", \"critical\") or the fourth a map of labels; the second is {}",
                        a.type_name()
                    ));
                };
                alert(key, Some(&severity), b, c, None)
            },
        )
        .register_fn(
            "alert",
            |key: Dynamic,
             severity: &str,
             title: Dynamic,
             body: Dynamic,
             labels: rhai::Map|
             -> Fallible<()> { alert(key, Some(severity), title, body, Some(labels)) },
        )
        .register_fn(
            "alert_each",
            |rows: Rows, key: &str, title: &str, body: &str| -> Fallible<()> {
                alert_each(rows, key, title, body, None)
            },
        )
        .register_fn(
            "alert_each",
            |rows: Rows, key: &str, title: &str, body: &str, labels: rhai::Map| -> Fallible<()> {
                alert_each(rows, key, title, body, Some(labels))
            },
        )
        .register_fn("fmt_dur", fmt_dur)
        .register_fn("fmt_dur", |s: f64| fmt_dur(s.round() as i64))
        .register_fn("fmt_dur", |_: ()| "–".to_string())
        .register_fn("pct", pct)
        .register_fn("join", join)
        .register_fn("sleep", |_: i64| -> Fallible<()> {
            fail("sleep() is not available in rules: a rule runs once per poll and must not wait")
        })
        .register_fn("sleep", |_: f64| -> Fallible<()> {
            fail("sleep() is not available in rules: a rule runs once per poll and must not wait")
        });
    // A getter per known statistic and chat field: Rhai finds it directly instead of failing
    // to and falling back to the indexer (about a quarter faster per field read).
    let names = lookout_keeper::catalogue::CATALOGUE
        .iter()
        .map(|(n, _)| *n)
        .chain(lookout_keeper::snapshot::CHAT_COLUMNS);
    for name in names {
        engine.register_get(name, move |r: &mut Row| row_field(r, name));
        engine.register_get(name, move |t: &mut Totals| totals_get(t, name));
    }
    // "No value" compares as false with any number, like a missing reading: `s.sl < 80` is
    // false when there is no service level yet, instead of an error.
    macro_rules! unit_cmp {
        ($($op:literal),*) => {$(
            engine.register_fn($op, |_: (), _: i64| false);
            engine.register_fn($op, |_: (), _: f64| false);
            engine.register_fn($op, |_: i64, _: ()| false);
            engine.register_fn($op, |_: f64, _: ()| false);
        )*};
    }
    unit_cmp!(">", ">=", "<", "<=");
    engine.register_fn(">", |_: (), _: ()| false);
    engine.register_fn(">=", |_: (), _: ()| false);
    engine.register_fn("<", |_: (), _: ()| false);
    engine.register_fn("<=", |_: (), _: ()| false);
    // Arithmetic with no value has no value: `(s.agents_ready + 1) * 3` is `()` while there is
    // no reading, and then compares as false, instead of failing the rule.
    for op in ["+", "-", "*", "/", "%"] {
        engine.register_fn(op, |_: (), _: i64| ());
        engine.register_fn(op, |_: (), _: f64| ());
        engine.register_fn(op, |_: i64, _: ()| ());
        engine.register_fn(op, |_: f64, _: ()| ());
        engine.register_fn(op, |_: (), _: ()| ());
    }
    // The same arithmetic on `column(…)`, to compare with in `where`.
    for (name, op) in [
        ("+", Arith::Add),
        ("-", Arith::Sub),
        ("*", Arith::Mul),
        ("/", Arith::Div),
    ] {
        let of = move |a, b| ColumnRef::arith(op, a, b);
        let (int, float) = (
            |i: i64| ColumnRef::leaf(Expr::Number(Value::Int(i))),
            |f: f64| ColumnRef::leaf(Expr::Number(Value::Float(f))),
        );
        engine.register_fn(name, move |a: ColumnRef, b: ColumnRef| of(a, b));
        engine.register_fn(name, move |a: ColumnRef, b: i64| of(a, int(b)));
        engine.register_fn(name, move |a: ColumnRef, b: f64| of(a, float(b)));
        engine.register_fn(name, move |a: i64, b: ColumnRef| of(int(a), b));
        engine.register_fn(name, move |a: f64, b: ColumnRef| of(float(a), b));
    }
    engine.register_fn("available", |stat: &str| -> bool {
        with_ctx(|ctx| {
            let s = &ctx.snap;
            s.totals.get(stat).is_some_and(|v| !v.is_none())
                || s.services.column(stat).is_some()
                || s.agents.column(stat).is_some()
        })
        .unwrap_or(false)
    });
}

/// The host variables for one poll.
pub(crate) fn scope_for(
    now: i64,
    snap: &Arc<Snapshot>,
    prev: Option<&Arc<Snapshot>>,
) -> rhai::Scope<'static> {
    let mut scope = rhai::Scope::new();
    scope.push_constant("now", now);
    scope.push_constant("totals", Totals { snap: snap.clone() });
    scope.push_constant("services", Rows::all(snap.clone(), Table::Services));
    scope.push_constant("agents", Rows::all(snap.clone(), Table::Agents));
    scope.push_constant("chat", Rows::all(snap.clone(), Table::Chat));
    match prev {
        Some(p) => scope.push_constant("prev", SnapView { snap: p.clone() }),
        None => scope.push_constant("prev", ()),
    };
    let availability: Map = snap
        .availability
        .iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from_bool(*v)))
        .collect();
    scope.push_constant("availability", availability);
    scope
}

/// A scope with the host variables' names, for compiling with strict variables. They are
/// plain variables here, not constants: the optimizer would fold a constant's compile-time
/// value (an empty snapshot, `prev = ()`) into the rule.
pub(crate) fn compile_scope() -> rhai::Scope<'static> {
    let mut scope = rhai::Scope::new();
    for name in VARIABLES {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    scope
}

/// The host variables with values of their real types, for editor definitions.
pub(crate) fn definitions_scope() -> rhai::Scope<'static> {
    let snap = Arc::new(Snapshot::default());
    scope_for(0, &snap, Some(&snap))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One agents column `v` over these cells (rows 0–6), and `missing` declared nowhere.
    fn rows() -> Rows {
        let cells = [
            Value::Int(5),
            Value::Float(2.5),
            Value::Text("Ready".into()),
            Value::Text("ready".into()),
            Value::None,
            Value::Bool(true),
            Value::Int(10),
        ];
        let mut snap = Snapshot::default();
        snap.agents = Grid {
            columns: vec!["v".into()],
            rows: cells.into_iter().map(|c| vec![c]).collect(),
        };
        Rows::all(Arc::new(snap), Table::Agents)
    }

    fn picked(rows: &Rows) -> Vec<u32> {
        rows.indices().collect()
    }

    fn kept(rows: &mut Rows, col: &str, op: &str, value: Dynamic) -> Vec<u32> {
        picked(&where_op(rows, col, op, value).unwrap())
    }

    #[test]
    fn where_compares_like_with_like() {
        let text = |s: &str| Dynamic::from(ImmutableString::from(s));
        let cases: Vec<(&str, Dynamic, Vec<u32>)> = vec![
            ("==", Dynamic::from_int(5), vec![0]),
            ("==", Dynamic::from_float(2.5), vec![1]),
            ("==", text("ready"), vec![3]),
            ("==", Dynamic::from_bool(true), vec![5]),
            ("==", Dynamic::UNIT, vec![4]),
            // Every cell with a value that is not equal, whatever its type.
            ("!=", text("ready"), vec![0, 1, 2, 5, 6]),
            ("!=", Dynamic::from_int(5), vec![1, 2, 3, 5, 6]),
            ("!=", Dynamic::UNIT, vec![0, 1, 2, 3, 5, 6]),
            // Numbers with numbers, ints and floats alike.
            (">", Dynamic::from_int(4), vec![0, 6]),
            (">=", Dynamic::from_float(5.0), vec![0, 6]),
            ("<", Dynamic::from_int(5), vec![1]),
            ("<=", Dynamic::from_float(2.5), vec![1]),
            // Text with text, by bytes ("R" sorts before "r").
            (">=", text("ready"), vec![3]),
            ("<", text("ready"), vec![2]),
            (">", Dynamic::UNIT, vec![]),
            ("contains", text("EAD"), vec![2, 3]),
            ("contains", Dynamic::from_int(5), vec![]),
        ];
        for (op, value, want) in cases {
            let shown = format!("where(\"v\", \"{op}\", {value:?})");
            assert_eq!(kept(&mut rows(), "v", op, value), want, "{shown}");
        }
        assert!(where_op(&mut rows(), "v", "=~", Dynamic::UNIT).is_err());
    }

    const LONG_TEXT: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    const LONG_NEEDLE: &str = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

    #[test]
    fn contains_ignores_case_in_any_script() {
        let lower = |s: &str| s.to_lowercase();
        let cases = [
            ("I need a SUPERVISOR now", "Supervisor", true),
            ("supervisor", "supervisor", true),
            ("super visor", "supervisor", false),
            ("ab", "abc", false),
            ("anything", "", true),
            ("", "", true),
            ("", "a", false),
            // Not ASCII: lowercased as `to_lowercase` does, letters beyond ASCII included.
            ("ÉCOLE du soir", "école", true),
            ("\u{212A}ELVIN", "kelvin", true),
            ("STRASSE", "straße", false),
            // A long needle takes the linear search.
            (LONG_TEXT, LONG_NEEDLE, true),
        ];
        for (text, needle, want) in cases {
            assert_eq!(
                contains_ignoring_case(text, &lower(needle)),
                want,
                "{text:?} contains {needle:?}"
            );
            assert_eq!(
                want,
                text.to_lowercase().contains(&lower(needle)),
                "the same as lowercasing both: {text:?} {needle:?}"
            );
        }
    }

    #[test]
    fn where_keeps_the_order_of_a_selection_and_reads_a_missing_column_as_no_value() {
        let mut sel = rows().select(vec![6, 0, 4]);
        assert_eq!(kept(&mut sel, "v", ">", Dynamic::from_int(4)), [6, 0]);
        assert_eq!(kept(&mut sel, "missing", "==", Dynamic::UNIT), [6, 0, 4]);
        assert_eq!(
            kept(&mut sel, "missing", ">", Dynamic::from_int(1)),
            [0u32; 0]
        );
    }

    #[test]
    fn top_takes_the_largest_and_equal_values_keep_their_order() {
        let mut all = rows();
        let top = |rows: &mut Rows, n| picked(&super::top(rows, n, "v").unwrap());
        assert_eq!(top(&mut all, 1), [6]);
        assert_eq!(top(&mut all, 3), [6, 0, 1]);
        assert_eq!(top(&mut all, 0), [0u32; 0]);
        assert_eq!(top(&mut all, -1), [0u32; 0]);
        // More than there are numbers: all of them, largest first.
        assert_eq!(top(&mut all, 10), [6, 0, 1]);
        let mut ties = rows().select(vec![0, 6, 1, 0, 6]);
        assert_eq!(top(&mut ties, 3), [6, 6, 0]);
        assert_eq!(top(&mut ties, 5), [6, 6, 0, 0, 1]);
    }

    #[test]
    fn an_alert_takes_strings_as_they_are_and_refuses_an_empty_key() {
        let text = |s: &str| Dynamic::from(ImmutableString::from(s));
        assert!(alert(Dynamic::UNIT, None, text("t"), text("b"), None).is_err());
        assert!(alert(text("  "), None, text("t"), text("b"), None).is_err());
        assert_eq!(alert_text(text("Sales: 3 waiting")), "Sales: 3 waiting");
        assert_eq!(alert_text(Dynamic::UNIT), "");
        assert_eq!(alert_text(Dynamic::from_int(42)), "42");
        assert_eq!(alert_text(Dynamic::from_float(2.5)), "2.5");
    }
}
