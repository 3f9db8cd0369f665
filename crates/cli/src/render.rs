//! Plain-text views of a snapshot for the terminal.

use std::fmt::Write;

use lookout_keeper::{Grid, Snapshot, Value};

pub use lookout_keeper::{clock, fmt_dur as dur};

fn cell(stat: &str, v: &Value) -> String {
    match v {
        Value::None => "–".into(),
        Value::Int(i) if is_duration(stat) => dur(*i),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:.1}"),
        Value::Text(t) => plain(t),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
    }
}

/// Text from the tenant (names, reasons, chat) as it may reach a terminal: one line, no control
/// characters.
fn plain(text: &str) -> String {
    lookout_statsapi::printable(text, 500)
}

fn is_duration(stat: &str) -> bool {
    lookout_keeper::catalogue::kind_of(stat) == lookout_keeper::catalogue::Kind::Seconds
}

fn table(out: &mut String, grid: &Grid) {
    let rows: Vec<Vec<String>> = grid
        .rows
        .iter()
        .map(|r| {
            grid.columns
                .iter()
                .zip(r)
                .map(|(c, v)| cell(c, v))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = grid
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, cells: &[String]| {
        let mut l = String::from(" ");
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(l, " {c:<w$}");
        }
        let _ = writeln!(out, "{}", l.trim_end());
    };
    line(out, &grid.columns);
    for r in &rows {
        line(out, r);
    }
}

/// The whole snapshot as text: totals, both grids, chat, availability.
pub fn snapshot_text(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Totals");
    for (k, v) in &s.totals {
        let _ = writeln!(out, "  {k:<40} {}", cell(k, v));
    }
    let _ = writeln!(out, "\nServices ({})", s.services.len());
    table(&mut out, &s.services);
    let _ = writeln!(out, "\nAgents ({})", s.agents.len());
    table(&mut out, &s.agents);
    let _ = writeln!(out, "\nChat ({})", s.chat.len());
    for m in &s.chat {
        let when = m.send_time.map_or("--:--:--".into(), clock);
        let flag = if m.is_urgent { "URGENT " } else { "" };
        // Chat text is other people's words: shown as is, control characters removed.
        let _ = writeln!(
            out,
            "  {when} {flag}{} {}: {}",
            plain(&m.first_name),
            plain(&m.last_name),
            plain(&m.content)
        );
    }
    if !s.availability.is_empty() {
        let _ = writeln!(out, "\nAvailability");
        for (svc, ok) in &s.availability {
            let _ = writeln!(
                out,
                "  {:<20} {}",
                plain(svc),
                if *ok { "agents ready" } else { "NOBODY READY" }
            );
        }
    }
    if !s.percent_scales.is_empty() {
        let _ = writeln!(
            out,
            "\nPercentages (shown 0–100; how the tenant writes them)"
        );
        for (stat, how) in &s.percent_scales {
            let _ = writeln!(out, "  {stat:<50} {how}");
        }
    }
    out
}
