//! `lookout-bench`: the system benchmarks and the soak run. Every figure is measured in this
//! run, each next to its baseline where it has one. `cargo xtask bench` builds it in release
//! mode, runs the rule benchmark (P1) first and this after it, and writes one report.
//!
//! ```text
//! lookout-bench [--quick] [--only p2,p3,p4,p5,p6] [--lookout BIN] [--desktop BIN]
//!               [--rules-json FILE] [--json FILE] [--md FILE]
//! lookout-bench soak --minutes N [--fault-every SECS] [--lookout BIN] [--json FILE]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

mod load;
mod proc_tree;
mod procs;
mod soak;
mod team;
mod tenant;

/// One measured figure of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// `P2`, `P3`, …
    pub id: String,
    pub what: String,
    pub value: f64,
    pub unit: String,
    /// The same work done the plain way, measured in the same run.
    pub baseline: Option<Baseline>,
    pub target: String,
    pub met: Option<bool>,
    /// What the figure covers and how it was taken.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    pub what: String,
    pub value: f64,
    /// `value / baseline.value`.
    pub ratio: f64,
}

struct Args {
    quick: bool,
    only: Vec<String>,
    lookout: Option<PathBuf>,
    desktop: Option<PathBuf>,
    rules_json: Option<PathBuf>,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    minutes: f64,
    fault_every: f64,
}

const HELP: &str = "\
lookout-bench [--quick] [--only p2,p3,p4,p5,p6] [--lookout BIN] [--desktop BIN]
              [--rules-json FILE] [--json FILE] [--md FILE]
lookout-bench soak --minutes N [--fault-every SECS] [--lookout BIN] [--json FILE]

  --quick        seconds instead of minutes (a smoke check; the figures are noisier)
  --only         run only these figures
  --lookout      the `lookout` binary for P4 and the soak (default: next to this one)
  --desktop      the desktop app for its footprint (needs a display)
  --rules-json   the rule benchmark's report (P1), folded into this one
  --json, --md   where the report goes (default: stdout, markdown)
  --minutes      the soak's length (default 60)
  --fault-every  seconds between the soak's faults (default 45)
";

fn parse_args() -> Result<(bool, Args), String> {
    let mut a = Args {
        quick: false,
        only: Vec::new(),
        lookout: None,
        desktop: None,
        rules_json: None,
        json: None,
        md: None,
        minutes: 60.0,
        fault_every: 45.0,
    };
    let mut soak = false;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "soak" => soak = true,
            "--quick" => a.quick = true,
            "--only" => {
                a.only = value("--only")?
                    .split(',')
                    .map(|s| s.trim().to_lowercase())
                    .collect()
            }
            "--lookout" => a.lookout = Some(value("--lookout")?.into()),
            "--desktop" => a.desktop = Some(value("--desktop")?.into()),
            "--rules-json" => a.rules_json = Some(value("--rules-json")?.into()),
            "--json" => a.json = Some(value("--json")?.into()),
            "--md" => a.md = Some(value("--md")?.into()),
            "--minutes" => {
                let v = value("--minutes")?;
                a.minutes = v
                    .parse()
                    .ok()
                    .filter(|m: &f64| *m > 0.0)
                    .ok_or(format!("--minutes: `{v}` is not a positive number"))?;
            }
            "--fault-every" => {
                let v = value("--fault-every")?;
                a.fault_every = v.parse().ok().filter(|s: &f64| *s >= 5.0).ok_or(format!(
                    "--fault-every: `{v}` is not a number of seconds ≥ 5"
                ))?;
            }
            "-h" | "--help" => return Err(HELP.to_string()),
            other => return Err(format!("unknown argument `{other}`\n\n{HELP}")),
        }
    }
    Ok((soak, a))
}

fn main() -> ExitCode {
    let (soak, args) = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lookout-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if soak {
        runtime.block_on(soak::run(&args))
    } else {
        runtime.block_on(bench(&args))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lookout-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `lookout` binary: as given, or next to this one.
fn lookout_bin(args: &Args) -> PathBuf {
    args.lookout.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(|d| d.join("lookout")))
            .unwrap_or_else(|| "lookout".into())
    })
}

async fn bench(args: &Args) -> anyhow::Result<()> {
    let wants = |id: &str| args.only.is_empty() || args.only.iter().any(|o| o == id);
    let mut figures: Vec<Figure> = Vec::new();
    if let Some(path) = &args.rules_json {
        figures.extend(p1_from(path)?);
    }
    if wants("p2") {
        eprintln!("P2 ingest: parsing a 5,000-agent data response…");
        figures.push(tenant::ingest(args.quick).await?);
    }
    if wants("p3") {
        eprintln!("P3 latency: value changes on the tenant → notifications…");
        figures.extend(tenant::latency(args.quick).await?);
    }
    if wants("p4") {
        eprintln!("P4 footprint: lookout watch on 5,000 agents at 1 s polls…");
        figures.extend(procs::watch_footprint(&lookout_bin(args), args.quick).await?);
        if let Some(desktop) = &args.desktop {
            eprintln!("P4 footprint: the desktop app with the overview closed…");
            figures.extend(procs::desktop_footprint(desktop, args.quick).await?);
        }
    }
    if wants("p5") {
        eprintln!("P5 the simulated tenant under load…");
        figures.extend(load::sessions(args.quick).await?);
    }
    if wants("p6") {
        eprintln!("P6 team mode: one hub, many desks…");
        figures.extend(team::fan_out(&lookout_bin(args), args.quick).await?);
    }
    let md = markdown(&figures, args.quick);
    match &args.md {
        Some(p) => write(p, &md)?,
        None => print!("{md}"),
    }
    if let Some(p) = &args.json {
        write(p, &serde_json::to_string_pretty(&figures)?)?;
    }
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// P1 from the rule benchmark's JSON report.
fn p1_from(path: &Path) -> anyhow::Result<Vec<Figure>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the rule benchmark's report {}: {e}",
            path.display()
        )
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let ms = |k: &str| v["full_poll_ms"][k].as_f64();
    let (Some(rhai), Some(native)) = (ms("rhai"), ms("native")) else {
        anyhow::bail!("{}: no full_poll_ms.rhai / .native", path.display());
    };
    let ratio = rhai / native;
    let mut figures = vec![Figure {
        id: "P1".into(),
        what: "full poll, 20 reference rules (5,000 agents × 500 services × 200 chat)".into(),
        value: rhai,
        unit: "ms".into(),
        baseline: Some(Baseline {
            what: "the same rules in native Rust".into(),
            value: native,
            ratio,
        }),
        target: "≤ 4× and ≤ 2 ms".into(),
        met: Some(ratio <= 4.0 && rhai <= 2.0),
        note: format!(
            "median of {} runs, release build",
            v["runs"].as_u64().unwrap_or(0)
        ),
    }];
    // The same rules where they loop rewritten with the helpers (`alert_each`, `tally`, …).
    if let Some(helpers) = ms("alert_each") {
        let ratio = helpers / native;
        figures.push(Figure {
            id: "P1".into(),
            what: "full poll, the same with the rules that loop rewritten with the helpers".into(),
            value: helpers,
            unit: "ms".into(),
            baseline: Some(Baseline {
                what: "the same rules in native Rust".into(),
                value: native,
                ratio,
            }),
            target: "≤ 2×".into(),
            met: Some(ratio <= 2.0),
            note: format!(
                "median of {} runs, release build; benches/reference-helpers/",
                v["runs"].as_u64().unwrap_or(0)
            ),
        });
    }
    // Instructions per poll (callgrind), when valgrind was there to count them.
    let count = |k: &str| v["instructions_per_poll"][k].as_f64();
    if let (Some(helpers), Some(loops)) = (count("alert_each"), count("rhai")) {
        figures.push(Figure {
            id: "P1".into(),
            what: "instructions per full poll, the rules rewritten with the helpers".into(),
            value: helpers / 1e6,
            unit: "M".into(),
            baseline: Some(Baseline {
                what: "the rules as written (loops)".into(),
                value: loops / 1e6,
                ratio: helpers / loops,
            }),
            target: "≤ 8 M".into(),
            met: Some(helpers <= 8e6),
            note: format!(
                "callgrind; native Rust {}",
                count("native").map_or("–".into(), |n| format!("{:.1} M", n / 1e6))
            ),
        });
    }
    Ok(figures)
}

fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ms" if v < 10.0 => format!("{v:.2} ms"),
        "ms" => format!("{v:.0} ms"),
        "%" => format!("{v:.2} %"),
        "MB" => format!("{v:.1} MB"),
        "" => format!("{v:.0}"),
        u => format!("{v:.1} {u}"),
    }
}

/// The report as a markdown table.
pub fn markdown(figures: &[Figure], quick: bool) -> String {
    let mut s = String::new();
    s += &format!(
        "Measured {} {} ({} run).\n\n",
        date_text(lookout_keeper::unix_now()),
        lookout_keeper::clock_text(lookout_keeper::unix_now()),
        if quick { "quick" } else { "full" }
    );
    s += "| | figure | measured | baseline (same run) | ratio | target | met |\n";
    s += "|---|---|---:|---|---:|---|---|\n";
    for f in figures {
        let (base, ratio) = match &f.baseline {
            Some(b) => (
                format!("{}: {}", b.what, fmt_value(b.value, &f.unit)),
                format!("{:.2}×", b.ratio),
            ),
            None => ("–".into(), "–".into()),
        };
        let met = match f.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "–",
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            f.id,
            f.what,
            fmt_value(f.value, &f.unit),
            base,
            ratio,
            f.target,
            met
        );
    }
    s += "\n";
    for f in figures {
        if !f.note.is_empty() {
            s += &format!("- {} {}: {}\n", f.id, f.what, f.note);
        }
    }
    s
}

/// `YYYY-MM-DD` of a Unix time (UTC; days to civil date, after Howard Hinnant's algorithm).
pub fn date_text(unix: i64) -> String {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The `q`-quantile of `v` (nearest rank).
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Median of timings in milliseconds.
pub fn median_ms(v: &mut [Duration]) -> f64 {
    let mut ms: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    quantile(&mut ms, 0.5)
}

/// Wait until `f` says yes, or `within` passes.
pub async fn until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.5), 50.0);
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0], 0.99), 3.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(date_text(951_782_400), "2000-02-29");
        assert_eq!(date_text(1_795_833_600), "2026-11-28");
    }

    #[test]
    fn the_report_marks_missed_targets() {
        let f = Figure {
            id: "P2".into(),
            what: "ingest".into(),
            value: 30.0,
            unit: "ms".into(),
            baseline: Some(Baseline {
                what: "serde_json::Value".into(),
                value: 10.0,
                ratio: 3.0,
            }),
            target: "≤ 1.5×".into(),
            met: Some(false),
            note: "n".into(),
        };
        let md = markdown(&[f], true);
        assert!(
            md.contains(
                "| P2 | ingest | 30 ms | serde_json::Value: 10 ms | 3.00× | ≤ 1.5× | **no** |"
            ),
            "{md}"
        );
    }
}
