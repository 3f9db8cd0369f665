//! P4: the footprint of the real programs (`lookout watch`, the desktop app), read from
//! `/proc` while they watch a 5,000-agent tenant at 1 s polls.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lookout_sim::SimHandle;

use crate::Figure;
use crate::tenant::{scratch, sim};

/// Clock ticks per second of `/proc/<pid>/stat` (100 on Linux).
const TICKS: f64 = 100.0;

/// A `Name:   N kB` line of `/proc/<pid>/<file>`, in bytes.
fn proc_kb(pid: u32, file: &str, name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resident memory of `pid` in bytes.
pub fn rss(pid: u32) -> Option<u64> {
    proc_kb(pid, "status", "VmRSS")
}

/// Proportional memory of `pid` in bytes (shared pages divided among their users).
pub fn pss(pid: u32) -> Option<u64> {
    proc_kb(pid, "smaps_rollup", "Pss")
}

/// CPU time of `pid` (user + system) in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state(0) ppid(1) … utime(11) stime(12).
    let user: f64 = f.get(11)?.parse().ok()?;
    let system: f64 = f.get(12)?.parse().ok()?;
    Some((user + system) / TICKS)
}

/// Open file descriptors of `pid`.
pub fn fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

pub use crate::proc_tree::tree;

/// A config for `sim` at 1 s polls, with the shipped rules in `dir/rules`.
pub fn write_config(sim: &SimHandle, dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nurl = \"{}\"\ntenant = \"{}\"\nusername = \"{}\"\nauth = \"oauth\"\npoll_interval_secs = 1\n\n[rules]\ndir = \"{}\"\n",
            sim.url(),
            lookout_sim::SimConfig::default().tenant,
            lookout_sim::demo_user().name,
            dir.join("rules").display()
        ),
    )?;
    Ok(path)
}

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Samples of one process tree: (seconds since start, RSS sum, PSS sum, CPU seconds).
struct Samples {
    rows: Vec<(f64, u64, u64, f64)>,
}

async fn sample(pid: u32, warmup: Duration, length: Duration) -> Samples {
    tokio::time::sleep(warmup).await;
    let start = Instant::now();
    let mut rows = Vec::new();
    while start.elapsed() <= length {
        let procs = tree(pid);
        let rss: u64 = procs.iter().filter_map(|p| rss(*p)).sum();
        let pss: u64 = procs.iter().filter_map(|p| pss(*p)).sum();
        let cpu: f64 = procs.iter().filter_map(|p| cpu_secs(*p)).sum();
        rows.push((start.elapsed().as_secs_f64(), rss, pss, cpu));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Samples { rows }
}

impl Samples {
    fn max_rss_mb(&self) -> f64 {
        self.rows.iter().map(|r| r.1).max().unwrap_or(0) as f64 / 1e6
    }
    fn max_pss_mb(&self) -> f64 {
        self.rows.iter().map(|r| r.2).max().unwrap_or(0) as f64 / 1e6
    }
    /// CPU over the sampled window, percent of one core.
    fn cpu_pct(&self) -> f64 {
        match (self.rows.first(), self.rows.last()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.3 - a.3) / (b.0 - a.0) * 100.0,
            _ => f64::NAN,
        }
    }
}

/// P4: `lookout watch` (release) with the shipped rules on 5,000 agents at 1 s polls.
pub async fn watch_footprint(lookout: &Path, quick: bool) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(
        lookout.exists(),
        "{} does not exist: build it (cargo build --release -p lookout-cli) or pass --lookout",
        lookout.display()
    );
    let sim = sim(5000, 1).await?;
    let dir = scratch("footprint");
    let config = write_config(&sim, &dir)?;
    let child = Command::new(lookout)
        .args(["watch", "--notify", "none", "--format", "json", "--config"])
        .arg(&config)
        .env("LOOKOUT_CLIENT_SECRET", lookout_sim::demo_user().api_secret)
        .env("XDG_DATA_HOME", dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let child = Killed(child);
    let (warmup, length) = if quick {
        (Duration::from_secs(5), Duration::from_secs(10))
    } else {
        (Duration::from_secs(15), Duration::from_secs(180))
    };
    let s = sample(child.0.id(), warmup, length).await;
    drop(child);
    let polls = sim.request_count("GET /statsapi/subscription/data");
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(polls > 0, "lookout watch never polled the tenant");
    let window = format!(
        "{:.0} s after a {:.0} s warm-up; {polls} polls in all",
        length.as_secs_f64(),
        warmup.as_secs_f64()
    );
    Ok(vec![
        Figure {
            id: "P4".into(),
            what: "lookout watch, 5,000 agents, 1 s polls: peak RSS".into(),
            value: s.max_rss_mb(),
            unit: "MB".into(),
            baseline: None,
            target: "≤ 40 MB".into(),
            met: Some(s.max_rss_mb() <= 40.0),
            note: format!("sampled every second over {window}"),
        },
        Figure {
            id: "P4".into(),
            what: "lookout watch, 5,000 agents, 1 s polls: CPU".into(),
            value: s.cpu_pct(),
            unit: "%".into(),
            baseline: None,
            target: "≤ 3 % of a core".into(),
            met: Some(s.cpu_pct() <= 3.0),
            note: format!("user + system time over {window}"),
        },
    ])
}

/// P4: the desktop app watching the same tenant, its overview never opened.
pub async fn desktop_footprint(app: &Path, quick: bool) -> anyhow::Result<Vec<Figure>> {
    anyhow::ensure!(
        std::env::var_os("DISPLAY").is_some(),
        "the desktop app's footprint needs a display (run under xvfb-run)"
    );
    let sim = sim(5000, 1).await?;
    let dir = scratch("desktop");
    std::fs::create_dir_all(dir.join("config/lookout"))?;
    let config = write_config(&sim, &dir)?;
    std::fs::copy(&config, dir.join("config/lookout/config.toml"))?;
    // The app with this home (a later launch reaches the running one).
    let launch = |args: &[&str]| {
        let mut c = Command::new(app);
        c.args(args)
            .env("LOOKOUT_CLIENT_SECRET", lookout_sim::demo_user().api_secret)
            .env("HOME", &dir)
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .env("XDG_DATA_HOME", dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // A later launch hands over to the running app and leaves; one still running after 30 s
    // found no running app to hand over to (no session bus: run under dbus-run-session).
    let hand_over = |args: &[&str]| -> anyhow::Result<std::process::ExitStatus> {
        let mut c = Killed(launch(args).spawn()?);
        let start = std::time::Instant::now();
        loop {
            if let Some(s) = c.0.try_wait()? {
                return Ok(s);
            }
            anyhow::ensure!(
                start.elapsed() < Duration::from_secs(30),
                "`{} {}` did not hand over to the running app within 30 s; is there a session \
                 bus (dbus-run-session)?",
                app.display(),
                args.join(" ")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let child = launch(&[]).spawn()?;
    let child = Killed(child);
    let (warmup, length) = if quick {
        (Duration::from_secs(8), Duration::from_secs(5))
    } else {
        (Duration::from_secs(20), Duration::from_secs(60))
    };
    let closed = sample(child.0.id(), warmup, length).await;
    let processes = tree(child.0.id()).len();
    // Launched again, the running app shows its overview (one instance; through the session
    // bus, so this needs one).
    let again = hand_over(&[]);
    let open = sample(child.0.id(), Duration::from_secs(10), length).await;
    let processes_open = tree(child.0.id()).len();
    // Launched again with --close, the running app closes its windows: the window process,
    // and the WebKit processes under it, end.
    let close = hand_over(&["--close"]);
    let reclosed = sample(child.0.id(), Duration::from_secs(10), length).await;
    let processes_reclosed = tree(child.0.id()).len();
    drop(child);
    let polls = sim.request_count("GET /statsapi/subscription/data");
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    anyhow::ensure!(polls > 0, "the desktop app never polled the tenant");
    let mut figures = vec![Figure {
        id: "P4".into(),
        what: "desktop app, overview closed: peak RSS (all its processes)".into(),
        value: closed.max_rss_mb(),
        unit: "MB".into(),
        baseline: None,
        target: "≤ 150 MB".into(),
        met: Some(closed.max_rss_mb() <= 150.0),
        note: format!(
            "{processes} process(es); RSS summed over the app and any WebKit processes, so \
             shared pages count more than once: proportional (PSS) sum {:.1} MB; CPU {:.2} % \
             of a core; {:.0} s after a {:.0} s warm-up, {polls} polls in the whole run",
            closed.max_pss_mb(),
            closed.cpu_pct(),
            length.as_secs_f64(),
            warmup.as_secs_f64()
        ),
    }];
    if again.is_ok_and(|s| s.success()) && processes_open > processes {
        figures.push(Figure {
            id: "P4".into(),
            what: "desktop app, overview open: peak RSS (all its processes)".into(),
            value: open.max_rss_mb(),
            unit: "MB".into(),
            baseline: None,
            target: "(none; for comparison)".into(),
            met: None,
            note: format!(
                "{processes_open} processes; PSS sum {:.1} MB; CPU {:.2} % of a core",
                open.max_pss_mb(),
                open.cpu_pct()
            ),
        });
    }
    if close.is_ok_and(|s| s.success()) && processes_open > processes {
        let limit = closed.max_rss_mb() * 1.10;
        figures.push(Figure {
            id: "P4".into(),
            what: "desktop app, overview opened then closed: peak RSS (all its processes)".into(),
            value: reclosed.max_rss_mb(),
            unit: "MB".into(),
            baseline: Some(crate::Baseline {
                what: "never opened".into(),
                value: closed.max_rss_mb(),
                ratio: reclosed.max_rss_mb() / closed.max_rss_mb().max(0.001),
            }),
            target: format!("≤ 110 % of never opened = {limit:.1} MB"),
            met: Some(reclosed.max_rss_mb() <= limit),
            note: format!(
                "{processes_reclosed} process(es) after closing (from {processes_open}); PSS sum \
                 {:.1} MB; closing the last window ends the window process, and WebKit's with it",
                reclosed.max_pss_mb()
            ),
        });
    }
    Ok(figures)
}
