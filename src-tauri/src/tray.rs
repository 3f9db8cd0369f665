//! The tray, as pure functions of the app's view ([`Overview`]): which state it shows, the
//! icon drawn for it (told apart by shape as well as colour, with the number of firing alerts
//! on it), the tooltip and the menu. The top-level `icons/tray-*.png` are pictures of what this
//! code draws, kept in step by a test in `icons.rs` (`cargo xtask icons` writes them).

use lookout_alerting::Severity;
use lookout_alerting::lifecycle::State;

use crate::view::{Connection, Overview};

/// What the tray shows, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No fresh data: the icon must not look fine.
    NoData,
    Critical,
    Warning,
    /// Notifications paused.
    Paused,
    Ok,
}

/// The tray's whole state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayState {
    pub level: Level,
    /// Firing alerts that are not quiet.
    pub firing: usize,
}

impl TrayState {
    pub fn of(o: &Overview, now: i64) -> TrayState {
        let loud: Vec<_> = o.alerts.iter().filter(|a| a.loud()).collect();
        // Only live data is a reason to look fine: starting, connecting, waiting for the first
        // data, reconnecting, failed and not watching at all are "no data".
        let no_data = o.alerts.iter().any(|a| a.no_data) || o.connection != Connection::Live;
        let paused = o.paused_until_unix.is_some_and(|u| now < u);
        let level = if no_data {
            Level::NoData
        } else if loud.iter().any(|a| a.severity == Severity::Critical) {
            Level::Critical
        } else if loud.iter().any(|a| a.severity == Severity::Warning) {
            Level::Warning
        } else if paused {
            Level::Paused
        } else {
            Level::Ok
        };
        TrayState {
            level,
            firing: loud.len(),
        }
    }
}

/// The tooltip: tenant state, counts, last update.
pub fn tooltip(o: &Overview, tenant: &str, now: i64) -> String {
    if o.connection == Connection::NotWatching {
        return format!("Lookout — {}", o.detail);
    }
    let t = TrayState::of(o, now);
    let pending = o
        .alerts
        .iter()
        .filter(|a| a.state == State::Pending)
        .count();
    let quiet = o.alerts.iter().filter(|a| a.quiet.is_some()).count();
    let age = match o.data_at_unix {
        Some(at) => format!("data {} old", lookout_keeper::fmt_dur(now - at)),
        None => "no data yet".to_string(),
    };
    let what = match t.level {
        Level::NoData => "NO DATA".to_string(),
        Level::Paused => "notifications paused".to_string(),
        _ if t.firing == 0 => "all quiet".to_string(),
        _ => format!("{} firing", t.firing),
    };
    let mut s = format!("Lookout — {tenant}: {what}");
    if pending > 0 {
        s += &format!(", {pending} pending");
    }
    if quiet > 0 {
        s += &format!(", {quiet} silenced");
    }
    format!("{s} ({age})")
}

/// What a tray menu entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    Show,
    Wallboard,
    Pause15m,
    Pause1h,
    PauseUntilResumed,
    Resume,
    Reload,
    RulesFolder,
    Settings,
    Quit,
}

impl MenuId {
    const ALL: [MenuId; 10] = [
        MenuId::Show,
        MenuId::Wallboard,
        MenuId::Pause15m,
        MenuId::Pause1h,
        MenuId::PauseUntilResumed,
        MenuId::Resume,
        MenuId::Reload,
        MenuId::RulesFolder,
        MenuId::Settings,
        MenuId::Quit,
    ];

    /// The id the menu item is made with (the toolkit hands it back when it is chosen).
    pub fn id(self) -> &'static str {
        match self {
            MenuId::Show => "show",
            MenuId::Wallboard => "wallboard",
            MenuId::Pause15m => "pause-15m",
            MenuId::Pause1h => "pause-1h",
            MenuId::PauseUntilResumed => "pause",
            MenuId::Resume => "resume",
            MenuId::Reload => "reload",
            MenuId::RulesFolder => "rules-folder",
            MenuId::Settings => "settings",
            MenuId::Quit => "quit",
        }
    }

    /// The entry a toolkit id stands for.
    pub fn from_id(id: &str) -> Option<MenuId> {
        MenuId::ALL.into_iter().find(|m| m.id() == id)
    }

    /// One of the "Pause notifications" submenu's entries.
    pub fn pauses(self) -> bool {
        matches!(
            self,
            MenuId::Pause15m | MenuId::Pause1h | MenuId::PauseUntilResumed
        )
    }
}

/// One menu entry: what it does and its label (`None`: a separator).
pub type Entry = (Option<MenuId>, String);

/// The menu for this state: Pause offers durations, or Resume while paused.
pub fn menu(o: &Overview, now: i64) -> Vec<Entry> {
    let paused = o.paused_until_unix.is_some_and(|u| now < u);
    let mut m: Vec<Entry> = vec![
        (Some(MenuId::Show), "Show overview".into()),
        (
            Some(MenuId::Wallboard),
            "Wallboard (full screen; Escape leaves)".into(),
        ),
        (None, String::new()),
    ];
    if paused {
        let until = match o.paused_until_unix {
            Some(i64::MAX) => "until resumed".to_string(),
            Some(u) => format!("until {}", lookout_keeper::clock_text(u)),
            None => String::new(),
        };
        m.push((
            Some(MenuId::Resume),
            format!("Resume notifications (paused {until})"),
        ));
    } else {
        m.push((
            Some(MenuId::Pause15m),
            "Pause notifications for 15 min".into(),
        ));
        m.push((
            Some(MenuId::Pause1h),
            "Pause notifications for 1 hour".into(),
        ));
        m.push((
            Some(MenuId::PauseUntilResumed),
            "Pause notifications until resumed".into(),
        ));
    }
    m.extend([
        (None, String::new()),
        (Some(MenuId::Reload), "Reload rules".into()),
        (Some(MenuId::RulesFolder), "Open rules folder".into()),
        (Some(MenuId::Settings), "Settings…".into()),
        (None, String::new()),
        (Some(MenuId::Quit), "Quit".into()),
    ]);
    m
}

/// Tray icons are this many pixels square.
pub const SIZE: u32 = 32;

/// Draw the icon: a shape per level (circle, triangle, square, slashed ring, pause bars) in its
/// colour, with the count of firing alerts (1–9, or 9+) in a corner badge. RGBA.
pub fn draw(t: &TrayState) -> Vec<u8> {
    let n = SIZE as i32;
    let mut px = vec![0u8; (SIZE * SIZE * 4) as usize];
    let mut put = |x: i32, y: i32, c: [u8; 4]| {
        if (0..n).contains(&x) && (0..n).contains(&y) {
            let i = ((y * n + x) * 4) as usize;
            px[i..i + 4].copy_from_slice(&c);
        }
    };
    let (cx, cy) = (15.5f32, 15.5f32);
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f32 - cx, y as f32 - cy);
            let r = (fx * fx + fy * fy).sqrt();
            let c = match t.level {
                Level::Ok => (r < 13.0).then_some([46, 160, 67, 255]),
                Level::Warning => {
                    // A triangle, point up.
                    let inside = fy > -13.0 && fy < 12.0 && fx.abs() < (fy + 13.0) * 0.55;
                    inside.then_some([230, 160, 0, 255])
                }
                Level::Critical => {
                    (fx.abs() < 12.5 && fy.abs() < 12.5).then_some([200, 30, 30, 255])
                }
                Level::NoData => {
                    let ring = r < 13.5 && r > 9.5;
                    let slash = (fx - fy).abs() < 2.5 && r < 13.5;
                    (ring || slash).then_some([120, 120, 120, 255])
                }
                Level::Paused => {
                    let bar =
                        fy.abs() < 11.0 && ((-9.0..-3.0).contains(&fx) || (3.0..9.0).contains(&fx));
                    bar.then_some([60, 110, 200, 255])
                }
            };
            if let Some(c) = c {
                put(x, y, c);
            }
        }
    }
    if t.firing > 0 && matches!(t.level, Level::Critical | Level::Warning) {
        // A dark badge bottom right with the count in a 3×5 font, scaled ×2.
        for y in 18..n {
            for x in 16..n {
                put(x, y, [20, 20, 20, 255]);
            }
        }
        let text = if t.firing > 9 {
            "9+".to_string()
        } else {
            t.firing.to_string()
        };
        let mut x0 = if text.len() == 1 { 21 } else { 17 };
        for ch in text.chars() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..3 {
                    if bits & (0b100 >> col) != 0 {
                        for dy in 0..2 {
                            for dx in 0..2 {
                                put(
                                    x0 + col * 2 + dx,
                                    20 + row as i32 * 2 + dy,
                                    [255, 255, 255, 255],
                                );
                            }
                        }
                    }
                }
            }
            x0 += 8;
        }
    }
    px
}

/// A 3×5 glyph: five rows of three bits.
fn glyph(c: char) -> [u8; 5] {
    match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        _ => [0; 5],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::AlertView;

    fn alert(rule: &str, sev: Severity, state: State, quiet: Option<&str>) -> AlertView {
        AlertView {
            rule: rule.into(),
            rule_name: rule.into(),
            key: format!("{rule}-k"),
            severity: sev,
            state,
            title: "t".into(),
            body: String::new(),
            since_unix: 0,
            quiet: quiet.map(String::from),
            no_data: false,
            source: None,
            runbook: None,
            runbook_is_link: false,
        }
    }

    fn overview(alerts: Vec<AlertView>) -> Overview {
        Overview {
            connection: Connection::Live,
            data_at_unix: Some(95),
            alerts,
            ..Overview::default()
        }
    }

    #[test]
    fn the_worst_loud_alert_sets_the_level_and_quiet_ones_do_not_count() {
        let o = overview(vec![
            alert("a", Severity::Warning, State::Firing, None),
            alert("b", Severity::Critical, State::Firing, Some("acknowledged")),
            alert("c", Severity::Critical, State::Pending, None),
        ]);
        assert_eq!(
            TrayState::of(&o, 100),
            TrayState {
                level: Level::Warning,
                firing: 1
            }
        );
        let o = overview(vec![alert("b", Severity::Critical, State::Firing, None)]);
        assert_eq!(TrayState::of(&o, 100).level, Level::Critical);
        let mut o = overview(vec![]);
        assert_eq!(TrayState::of(&o, 100).level, Level::Ok);
        o.paused_until_unix = Some(200);
        assert_eq!(TrayState::of(&o, 100).level, Level::Paused);
        for state in [
            Connection::Starting,
            Connection::Connecting,
            Connection::Authenticating,
            Connection::Subscribing,
            Connection::WaitingForData,
            Connection::Reconnecting,
            Connection::Failed,
            Connection::NotWatching,
        ] {
            o.connection = state;
            assert_eq!(
                TrayState::of(&o, 100).level,
                Level::NoData,
                "never looks fine when no data flows ({state:?})"
            );
        }
        // The connection's "no data" alert while the keeper still says live.
        o.connection = Connection::Live;
        o.alerts = vec![AlertView {
            no_data: true,
            ..alert("connection", Severity::Critical, State::Firing, None)
        }];
        assert_eq!(TrayState::of(&o, 100).level, Level::NoData);
        let o = crate::view::not_watching("no API secret");
        assert_eq!(
            tooltip(&o, "", 100),
            "Lookout — Not watching: no API secret"
        );
    }

    #[test]
    fn the_tooltip_and_menu_follow_the_state() {
        let mut o = overview(vec![
            alert("a", Severity::Critical, State::Firing, None),
            alert("b", Severity::Warning, State::Pending, None),
            alert("c", Severity::Warning, State::Firing, Some("snoozed")),
        ]);
        assert_eq!(
            tooltip(&o, "demo.lookout.test", 100),
            "Lookout — demo.lookout.test: 1 firing, 1 pending, 1 silenced (data 5s old)"
        );
        let labels: Vec<String> = menu(&o, 100).into_iter().map(|(_, l)| l).collect();
        assert!(labels.contains(&"Pause notifications for 15 min".to_string()));
        o.paused_until_unix = Some(i64::MAX);
        let m = menu(&o, 100);
        assert!(
            m.iter()
                .any(|(id, l)| *id == Some(MenuId::Resume) && l.contains("until resumed"))
        );
        assert!(!m.iter().any(|(id, _)| *id == Some(MenuId::Pause15m)));
        assert_eq!(m.last().unwrap().0, Some(MenuId::Quit));
        // Every entry's toolkit id leads back to it.
        for id in MenuId::ALL {
            assert_eq!(MenuId::from_id(id.id()), Some(id));
        }
    }

    #[test]
    fn icons_differ_by_shape_not_only_colour() {
        let shapes: Vec<Vec<bool>> = [
            Level::Ok,
            Level::Warning,
            Level::Critical,
            Level::NoData,
            Level::Paused,
        ]
        .into_iter()
        .map(|level| {
            draw(&TrayState { level, firing: 0 })
                .chunks(4)
                .map(|p| p[3] > 0)
                .collect()
        })
        .collect();
        for i in 0..shapes.len() {
            for j in i + 1..shapes.len() {
                assert_ne!(
                    shapes[i], shapes[j],
                    "levels {i} and {j} have the same shape"
                );
            }
        }
        // The count is drawn.
        let one = draw(&TrayState {
            level: Level::Critical,
            firing: 1,
        });
        let two = draw(&TrayState {
            level: Level::Critical,
            firing: 2,
        });
        assert_ne!(one, two);
    }
}
