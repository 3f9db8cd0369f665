//! Project automation: `cargo xtask setup|test|demo|lint|bench`.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// Debian/Ubuntu packages the build and the tests need.
/// `build-essential` and `pkg-config` build the C parts of the TLS stack; `ca-certificates`
/// lets the client verify real tenants; `dbus-daemon` gives the desktop-notification tests a
/// private session bus; `nats-server` is the broker team mode's tests start; `valgrind` counts
/// the rule benchmark's instructions; the rest build the desktop app and run its tests headless.
const PACKAGES: &[&str] = &[
    "build-essential",
    "pkg-config",
    "ca-certificates",
    "dbus-daemon",
    // The desktop app (Tauri on WebKitGTK) and its headless tests.
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "at-spi2-core",
    // Team mode's broker: the tests start their own.
    "nats-server",
    // The rule benchmark counts instructions with callgrind.
    "valgrind",
];

const HELP: &str = "\
cargo xtask <command>

  setup   install the system packages the project needs (Debian/Ubuntu; skips what is there)
          and the TypeScript checker of the windows (npm, into node_modules/)
  test    setup, then run the whole test suite
  demo    the desktop app on a simulated tenant with the demo scenario; installs what the
          app needs first, like `test` (in the terminal when there is no display, when
          that cannot be installed, or with arguments for `lookout demo`)
  icons   draw the app and tray icons again into icons/ (after a change to how they are drawn)
  ui-types
          write the windows' TypeScript declarations (ui/types.d.ts) again from the app's
          Rust types (after a change to what the windows receive or send)
  lint    the crate graph's boundaries, cargo fmt --check, cargo clippy with warnings as
          errors, and tsc over the windows' JavaScript (ui/)
  dist    release bundles of the desktop app: .deb, then AppImage (Tauri bundler, through
          `npx @tauri-apps/cli@2`); they land in target/release/bundle/
  bench [--quick] [--desktop]
          every benchmark (P1–P5) in one report, target/bench/report.md and .json;
          --quick takes seconds (a smoke check); --desktop adds the desktop app's footprint
  bench rules [--quick]
          the rule engine against native Rust alone
  fuzz [--seconds N] [TARGET…]
          the fuzz targets (data_response, config, scenario, rule_test_file) for N seconds
          each (default 60) with cargo-fuzz; needs nightly Rust (rustup toolchain install
          nightly) and installs cargo-fuzz when it is missing
  soak [--minutes N] [--fault-every SECS]
          lookout watch against a churning tenant with faults (default 60 minutes): memory,
          open files, missed or duplicated notifications; report in target/bench/soak.json
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup()
            .and_then(|()| setup_tauri_driver())
            .and_then(|()| test()),
        Some("demo") => demo(&args[1..]),
        Some("icons") => icons(),
        Some("ui-types") => ui_types(),
        Some("lint") => setup_typescript().and_then(|()| lint()),
        Some("dist") => setup().and_then(|()| dist()),
        Some("bench") => bench(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("help" | "-h" | "--help") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

fn setup() -> Result<()> {
    setup_packages()?;
    setup_typescript()
}

/// The TypeScript checker of the windows (`package.json`, exact versions in
/// `package-lock.json`), into `node_modules/`; Node.js from the system's packages when there
/// is none.
fn setup_typescript() -> Result<()> {
    if root().join("node_modules/.bin/tsc").exists() {
        return Ok(());
    }
    let has_npm = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_npm {
        println!("setup: installing Node.js and npm (for the windows' type check)");
        apt(&["update", "-qq"]).status()?;
        run(&mut apt(&[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "nodejs",
            "npm",
        ]))?;
    }
    println!("setup: installing TypeScript (npm ci)");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(root()))
}

/// The repository's root folder.
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| ".".into(), std::path::Path::to_path_buf)
}

/// `apt-get`, through sudo unless this is root.
fn apt(args: &[&str]) -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let mut c = if is_root {
        Command::new("apt-get")
    } else {
        let mut c = Command::new("sudo");
        c.arg("apt-get");
        c
    };
    c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn setup_packages() -> Result<()> {
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        println!(
            "setup: not a Debian/Ubuntu system; make sure a C compiler and pkg-config are installed"
        );
        return Ok(());
    }
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("setup: system packages present ({})", PACKAGES.join(", "));
        return Ok(());
    }
    println!("setup: installing {}", missing.join(", "));
    run(&mut apt(&["update", "-qq"]))?;
    let mut install = apt(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    run(&mut install)?;
    println!("setup: done");
    Ok(())
}

/// `tauri-driver` bridges WebDriver to the app for the desktop tests.
fn setup_tauri_driver() -> Result<()> {
    let have = Command::new("tauri-driver")
        .arg("--help")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if have {
        return Ok(());
    }
    println!("setup: installing tauri-driver (about 45 s, once)");
    run(cargo().args([
        "install",
        "tauri-driver",
        "--version",
        "^2",
        "--locked",
        "--quiet",
    ]))
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Run `args` (a cargo command) inside a virtual display and a private session bus when there
/// is no display, so the desktop app's tests run headless.
fn headless(args: &[&str]) -> Command {
    let mut c = headless_program(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    c
}

/// `program` inside `xvfb-run` and `dbus-run-session` when there is no display (and Xvfb is
/// there); as it is otherwise.
fn headless_program(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let has_display = std::env::var_os("DISPLAY").is_some();
    let xvfb = Command::new("xvfb-run").arg("--help").output().is_ok();
    if has_display || !xvfb {
        return Command::new(program);
    }
    let mut c = Command::new("xvfb-run");
    c.args([
        "-a",
        "-s",
        "-screen 0 1280x800x24 -nolisten tcp",
        "dbus-run-session",
        "--",
    ])
    .arg(program)
    .env("NO_AT_BRIDGE", "1");
    c
}

fn test() -> Result<()> {
    if has_nextest() {
        run(&mut headless(&[
            "nextest",
            "run",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ]))?;
    } else {
        println!("test: cargo-nextest not found; using cargo test");
        run(&mut headless(&[
            "test",
            "--workspace",
            "--locked",
            "--no-fail-fast",
        ]))?;
    }
    // nextest does not run doc tests.
    run(cargo().args(["test", "--workspace", "--locked", "--doc", "--quiet"]))
}

/// How the demo runs.
#[derive(Debug, PartialEq, Eq)]
enum DemoWay {
    /// The desktop app.
    App,
    /// `lookout demo` in the terminal, for the reason given.
    Terminal(String),
}

/// The desktop app when there is a display and what it needs is installed (installing it first,
/// as `test` does); the terminal demo otherwise, saying why.
fn demo_way(display: bool, extra: &[String], ready: impl FnOnce() -> Result<()>) -> DemoWay {
    if !display {
        return DemoWay::Terminal("no display, so the demo runs in the terminal".into());
    }
    if !extra.is_empty() {
        return DemoWay::Terminal("arguments given, so they go to `lookout demo`".into());
    }
    println!(
        "demo: the desktop app needs WebKitGTK and a few other system packages; checking them"
    );
    match ready() {
        Ok(()) => DemoWay::App,
        Err(e) => DemoWay::Terminal(format!(
            "the desktop app cannot be built here ({e:#}), so the demo runs in the terminal; \
             `cargo xtask setup` as root installs what it needs (Debian/Ubuntu), docs/desktop.md \
             says what that is elsewhere"
        )),
    }
}

/// What the desktop app needs to build: on Debian/Ubuntu, installed by `setup`; on another
/// Linux, WebKitGTK 4.1's development files must be there already; macOS and Windows have
/// what it needs.
fn desktop_ready() -> Result<()> {
    if !cfg!(target_os = "linux") {
        return Ok(());
    }
    if Command::new("dpkg-query").arg("--version").output().is_ok() {
        return setup();
    }
    let found = Command::new("pkg-config")
        .args(["--exists", "webkit2gtk-4.1"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Ok(())
    } else {
        bail!("not Debian/Ubuntu, and WebKitGTK 4.1's development files are not installed")
    }
}

/// The desktop app in demo mode when there is a display (installing what it needs first);
/// `lookout demo` in the terminal otherwise.
fn demo(extra: &[String]) -> Result<()> {
    let display = std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
        || cfg!(any(target_os = "macos", windows));
    let way = demo_way(display, extra, desktop_ready);
    if way == DemoWay::App {
        println!("demo: starting the desktop app in demo mode (the tray icon and the overview)");
        return run(cargo()
            .args([
                "run",
                "--quiet",
                "--locked",
                "--package",
                "lookout-desktop",
                "--",
            ])
            .arg("--demo")
            .env("LOOKOUT_SHOW_OVERVIEW", "1"));
    }
    if let DemoWay::Terminal(why) = &way {
        println!("demo: {why} (lookout demo)");
    }
    run(cargo()
        .args([
            "run",
            "--quiet",
            "--locked",
            "--package",
            "lookout-cli",
            "--bin",
            "lookout",
            "--",
            "demo",
        ])
        .args(extra))
}

/// Draw the app and tray icons into `icons/` again (the test that keeps them in step writes them).
fn icons() -> Result<()> {
    write_through_test("icons::", "LOOKOUT_WRITE_ICONS")?;
    println!("icons: written to icons/");
    Ok(())
}

/// Run the desktop app's unit tests matching `filter` with `env` set: the tests that keep a
/// generated file in step with the code write it then.
fn write_through_test(filter: &str, env: &str) -> Result<()> {
    run(cargo()
        .args([
            "test",
            "--locked",
            "-p",
            "lookout-desktop",
            "--bins",
            "--quiet",
            filter,
        ])
        .env(env, "1"))
}

/// The Tauri command line from npm (a prebuilt binary: seconds, where `cargo install
/// tauri-cli` compiles for minutes).
fn tauri_cli() -> Command {
    let mut cmd = Command::new("npx");
    cmd.args(["--yes", "@tauri-apps/cli@2"]);
    cmd.current_dir("src-tauri");
    cmd
}

/// Release bundles: the `.deb` first (built entirely here), then the AppImage, whose tools
/// (linuxdeploy and its plugins) the bundler downloads from GitHub on first use.
fn dist() -> Result<()> {
    if Command::new("npx").arg("--version").output().is_err() {
        bail!("dist needs Node.js (npx) for the Tauri command line: install nodejs and npm");
    }
    // The bundle stays off for ordinary builds; it is switched on only here.
    let active = r#"{"bundle":{"active":true,"targets":["deb","appimage"]}}"#;
    println!("dist: release build and .deb (a cold release build takes 5–10 minutes)");
    run(tauri_cli()
        .args(["build", "--bundles", "deb", "--config", active])
        .args(["--", "--locked"]))?;
    println!("dist: AppImage (its tools are downloaded from GitHub on first use)");
    let appimage = run(tauri_cli().args(["bundle", "--bundles", "appimage", "--config", active]));
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let out = std::path::Path::new(&target).join("release/bundle");
    println!("dist: bundles in {}", out.display());
    if let Err(e) = appimage {
        bail!(
            "the .deb is built, the AppImage is not: {e:#}\n\
             (the AppImage tools come from github.com; without access to it, build the \
             AppImage where there is)"
        );
    }
    Ok(())
}

fn lint() -> Result<()> {
    boundaries()?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The windows' JavaScript against the declarations generated from the Rust types.
    run(Command::new(root().join("node_modules/.bin/tsc"))
        .args(["-p", "tsconfig.json"])
        .current_dir(root()))?;
    println!("lint: the windows' JavaScript type-checks against ui/types.d.ts");
    Ok(())
}

/// Write `ui/types.d.ts` again (the test that keeps it current writes it).
fn ui_types() -> Result<()> {
    write_through_test("contract::", "LOOKOUT_WRITE_UI_TYPES")?;
    println!("ui-types: written to ui/types.d.ts");
    Ok(())
}

/// Which crates may depend directly on each of these (ARCHITECTURE.md, "Boundaries"): the crate
/// graph keeps each job in its crate.
const MAY_DEPEND_ON: &[(&str, &[&str], &str)] = &[
    (
        "reqwest",
        &["lookout-statsapi", "lookout-sim"],
        "only the wire client talks HTTP (the simulated tenant answers it)",
    ),
    ("rhai", &["lookout-rules"], "only the rules know Rhai"),
    (
        "notify-rust",
        &["lookout-alerting"],
        "only alerting decides who is told, and tells",
    ),
    (
        "keyring",
        &["lookout-pipeline"],
        "secrets are found in one place",
    ),
    (
        "tauri",
        &["lookout-desktop"],
        "the engine never knows the UI",
    ),
    (
        "lookout-alerting",
        &[
            "lookout-rules",
            "lookout-pipeline",
            "lookout-hub",
            "lookout-cli",
            "lookout-bench",
            "lookout-desktop",
        ],
        "the connection knows nothing of alerts",
    ),
    (
        "lookout-rules",
        &[
            "lookout-pipeline",
            "lookout-hub",
            "lookout-cli",
            "lookout-bench",
            "lookout-desktop",
        ],
        "the connection and alerting know nothing of rules",
    ),
    (
        "lookout-pipeline",
        &[
            "lookout-hub",
            "lookout-cli",
            "lookout-bench",
            "lookout-desktop",
        ],
        "the stages do not know how they are wired",
    ),
    (
        "async-nats",
        &["lookout-hub", "lookout-bench"],
        "only team mode talks to the broker (and the benchmark's many desks)",
    ),
    (
        "lookout-hub",
        &["lookout-cli", "lookout-bench", "lookout-desktop"],
        "the engine does not know it may be shared",
    ),
];

/// Check the crate graph against [`MAY_DEPEND_ON`] (direct, non-dev dependencies).
fn boundaries() -> Result<()> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut wrong = Vec::new();
    for package in meta["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or("?");
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            if !dep["kind"].is_null() {
                continue;
            }
            let dep_name = dep["name"].as_str().unwrap_or("?");
            for (what, allowed, why) in MAY_DEPEND_ON {
                if dep_name == *what && !allowed.contains(&name) {
                    wrong.push(format!("{name} depends on {what}: {why}"));
                }
            }
        }
    }
    if !wrong.is_empty() {
        bail!(
            "the crate graph crosses a boundary:\n  {}",
            wrong.join("\n  ")
        );
    }
    println!("lint: the crate graph keeps its boundaries");
    Ok(())
}

fn target_dir() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let target = std::path::PathBuf::from(target);
    std::path::absolute(&target).unwrap_or(target)
}

/// The rule benchmark (P1): Rhai against native Rust, release build; its JSON report to `json`.
fn bench_rules(quick: bool, json: &std::path::Path) -> Result<()> {
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--locked",
        "-p",
        "lookout-rules",
        "--bench",
        "rules",
        "--",
    ]);
    if quick {
        cmd.arg("--quick");
    }
    cmd.arg("--json").arg(json);
    run(&mut cmd)
}

/// `bench rules [--quick]`: P1 alone. `bench [--quick] [--desktop]`: P1–P5 in one report,
/// `target/bench/report.md` and `report.json` (`--desktop` adds the desktop app's footprint:
/// a release build of the app, and a display, made with Xvfb when there is none).
fn bench(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let desktop = args.iter().any(|a| a == "--desktop");
    let out = target_dir().join("bench");
    let rules_json = out.join("rules.json");
    match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
    {
        Some("rules") => return bench_rules(quick, &rules_json),
        None => {}
        Some(other) => bail!("unknown benchmark `{other}`; there is `rules`, or nothing for all"),
    }
    bench_rules(quick, &rules_json)?;
    println!("bench: building lookout and lookout-bench (release)");
    build_bench_tools()?;
    let release = target_dir().join("release");
    let mut cmd = if desktop {
        println!("bench: building the desktop app (release; 5–10 minutes the first time)");
        run(cargo().args([
            "build",
            "--release",
            "--locked",
            "-p",
            "lookout-desktop",
            "--features",
            "custom-protocol",
        ]))?;
        let mut cmd = headless_program(release.join("lookout-bench"));
        cmd.arg("--desktop").arg(release.join("lookout-desktop"));
        cmd
    } else {
        Command::new(release.join("lookout-bench"))
    };
    cmd.arg("--lookout")
        .arg(release.join("lookout"))
        .arg("--rules-json")
        .arg(&rules_json)
        .arg("--json")
        .arg(out.join("report.json"))
        .arg("--md")
        .arg(out.join("report.md"));
    if quick {
        cmd.arg("--quick");
    }
    run(&mut cmd)?;
    let md = std::fs::read_to_string(out.join("report.md")).unwrap_or_default();
    println!(
        "\n{md}\nbench: report in {}",
        out.join("report.md").display()
    );
    Ok(())
}

/// `lookout` and `lookout-bench`, release builds, for the benchmarks and the soak.
fn build_bench_tools() -> Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "lookout-cli",
        "-p",
        "lookout-bench",
    ]))
}

/// `soak [--minutes N] [--fault-every SECS]`: the soak run (release build).
fn soak(args: &[String]) -> Result<()> {
    let usage = "usage: cargo xtask soak [--minutes N] [--fault-every SECS]";
    let mut pass: Vec<String> = vec!["--minutes".into(), "60".into()];
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match (flag.as_str(), it.next()) {
            ("--minutes", Some(n)) => pass[1] = n.clone(),
            ("--fault-every", Some(n)) => pass.extend(["--fault-every".into(), n.clone()]),
            _ => bail!("{usage}"),
        }
    }
    build_bench_tools()?;
    let release = target_dir().join("release");
    let json = target_dir().join("bench").join("soak.json");
    run(Command::new(release.join("lookout-bench"))
        .arg("soak")
        .args(&pass)
        .arg("--lookout")
        .arg(release.join("lookout"))
        .arg("--json")
        .arg(&json))?;
    println!("soak: report in {}", json.display());
    Ok(())
}

const FUZZ_TARGETS: &[&str] = &["data_response", "config", "scenario", "rule_test_file"];

/// `fuzz [--seconds N] [TARGET…]`: each target for N seconds, new inputs kept in
/// `fuzz/corpus/<target>`, starting from `fuzz/seeds/<target>`; a crash stops with its input in
/// `fuzz/artifacts/<target>`.
fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = "60".to_string();
    let mut targets: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it.next().cloned().context("--seconds needs a number")?;
            }
            t if FUZZ_TARGETS.contains(&t) => targets.push(t.to_string()),
            other => bail!(
                "unknown fuzz target `{other}`; there are {}",
                FUZZ_TARGETS.join(", ")
            ),
        }
    }
    if targets.is_empty() {
        targets = FUZZ_TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        bail!("fuzzing needs nightly Rust: rustup toolchain install nightly");
    }
    let has_fuzz = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        println!("fuzz: installing cargo-fuzz");
        run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    for t in &targets {
        println!("fuzz: {t} for {seconds} s");
        let corpus = format!("corpus/{t}");
        std::fs::create_dir_all(std::path::Path::new("fuzz").join(&corpus))?;
        run(Command::new("cargo")
            .current_dir("fuzz")
            .args(["+nightly", "fuzz", "run", t, &corpus])
            .arg(format!("seeds/{t}"))
            .args(["--", &format!("-max_total_time={seconds}")]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_installs_what_the_app_needs_first_and_says_when_it_cannot() {
        // A display: what the app needs is made ready first, then the app runs.
        let mut asked = false;
        let way = demo_way(true, &[], || {
            asked = true;
            Ok(())
        });
        assert!(asked, "setup ran before the app");
        assert_eq!(way, DemoWay::App);
        // It cannot be installed (no root, not Debian): the terminal demo, saying why and how.
        let way = demo_way(true, &[], || bail!("apt-get needs root"));
        let DemoWay::Terminal(why) = way else {
            panic!("the app with nothing to build it")
        };
        assert!(why.contains("apt-get needs root"), "{why}");
        assert!(why.contains("cargo xtask setup"), "{why}");
        // No display: nothing to install, the terminal demo.
        let way = demo_way(false, &[], || panic!("no setup without a display"));
        assert!(matches!(way, DemoWay::Terminal(w) if w.contains("no display")));
    }
}
