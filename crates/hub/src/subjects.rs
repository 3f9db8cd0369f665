//! Where everything goes on the broker: subjects carry the tenant and the team, so NATS
//! permissions decide who reads what (see `docs/team.md`), and the permissions a supervisor's
//! user needs.
//!
//! ```text
//! lookout.directory                        the tenants a hub watches and their teams (all)
//! lookout.<tenant>.all.{state,told,acked}  tenant-wide: connection, totals, services, chat,
//!                                          alerts without a team label, rule reports
//! lookout.<tenant>.team.<team>.{…}         one team: its agents' rows, alerts labelled team
//! lookout.<tenant>.<scope>.ack.<user>      a desk acknowledges (the user is in the subject,
//!                                          so NATS vouches for who did it)
//! lookout.user.<user>.snooze               a person snoozes: every desk of theirs, no other
//! $KV.lookout_hub.<tenant>.{lease,store}   the hubs' own: who is active, what was told
//! ```

use std::fmt::Write;

/// The subject the hubs announce their tenants and teams on.
pub const DIRECTORY: &str = "lookout.directory";

/// The JetStream key-value bucket the hubs keep their lease and their remembered state in.
pub const BUCKET: &str = "lookout_hub";

/// A name as one subject token (and key-value key part): ASCII letters, digits and `-` as
/// they are, `.` as `_`, anything else as `=XX` per byte (upper-case hex). Tenants are host
/// names (`acme.brightpattern.com` → `acme_brightpattern_com`); teams and users may hold
/// spaces (`Front Line` → `Front=20Line`). Empty → `=`.
pub fn token(name: &str) -> String {
    if name.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => out.push(b as char),
            b'.' => out.push('_'),
            _ => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out
}

/// What part of a tenant's data a subject carries.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(tag = "kind", content = "team", rename_all = "snake_case")]
pub enum Scope {
    /// Everyone watching the tenant.
    All,
    /// One team's supervisors.
    Team(String),
}

impl Scope {
    /// The scope of an alert with these labels: its team's, or everyone's.
    pub fn of(labels: &lookout_alerting::Labels) -> Scope {
        match labels.get(lookout_alerting::TEAM_LABEL) {
            Some(team) => Scope::Team(team.clone()),
            None => Scope::All,
        }
    }

    fn tokens(&self) -> String {
        match self {
            Scope::All => "all".into(),
            Scope::Team(t) => format!("team.{}", token(t)),
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("tenant-wide"),
            Scope::Team(t) => write!(f, "team {t}"),
        }
    }
}

/// The subjects of one tenant.
#[derive(Debug, Clone)]
pub struct Subjects {
    tenant: String,
}

impl Subjects {
    pub fn new(tenant: &str) -> Subjects {
        Subjects {
            tenant: token(tenant),
        }
    }

    fn base(&self, scope: &Scope) -> String {
        format!("lookout.{}.{}", self.tenant, scope.tokens())
    }

    /// The scope's state: published on every change and at least once a second.
    pub fn state(&self, scope: &Scope) -> String {
        format!("{}.state", self.base(scope))
    }

    /// The scope's notifications, as the hub decided them.
    pub fn told(&self, scope: &Scope) -> String {
        format!("{}.told", self.base(scope))
    }

    /// Someone acknowledged an alert of the scope.
    pub fn acked(&self, scope: &Scope) -> String {
        format!("{}.acked", self.base(scope))
    }

    /// Where `user` asks to acknowledge an alert of the scope.
    pub fn ack(&self, scope: &Scope, user: &str) -> String {
        format!("{}.ack.{}", self.base(scope), token(user))
    }

    /// Every scope's acknowledgement requests (the hub listens here).
    pub fn ack_any(&self) -> [String; 2] {
        [
            format!("lookout.{}.all.ack.*", self.tenant),
            format!("lookout.{}.team.*.ack.*", self.tenant),
        ]
    }

    /// Everything a desk of the scope may read.
    pub fn readable(&self, scope: &Scope) -> String {
        format!("{}.*", self.base(scope))
    }

    /// The key of the hubs' lease for this tenant.
    pub fn lease_key(&self) -> String {
        format!("{}.lease", self.tenant)
    }

    /// The key of the remembered alert state for this tenant.
    pub fn store_key(&self) -> String {
        format!("{}.store", self.tenant)
    }
}

/// Where a person's snoozes go: every desk of theirs listens, nobody else may.
pub fn personal_snooze(user: &str) -> String {
    format!("lookout.user.{}.snooze", token(user))
}

/// Read an acknowledgement request's subject back: (scope token path, user token).
/// `lookout.<t>.all.ack.<u>` → (`all`, u); `lookout.<t>.team.<tt>.ack.<u>` → (`team.<tt>`, u).
pub fn parse_ack_subject(subject: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = subject.split('.').collect();
    match parts.as_slice() {
        ["lookout", _, "all", "ack", user] => Some(("all".into(), user.to_string())),
        ["lookout", _, "team", team, "ack", user] => {
            Some((format!("team.{team}"), user.to_string()))
        }
        _ => None,
    }
}

/// Undo [`token`] (for names read back from subjects). `None` when it is not one.
pub fn untoken(t: &str) -> Option<String> {
    let mut out = Vec::with_capacity(t.len());
    let b = t.as_bytes();
    let mut i = 0;
    if t == "=" {
        return Some(String::new());
    }
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b'.'),
            b'=' => {
                let hex = t.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Scope {
    /// The scope a subject's token path names (see [`parse_ack_subject`]).
    pub fn from_tokens(path: &str) -> Option<Scope> {
        if path == "all" {
            return Some(Scope::All);
        }
        path.strip_prefix("team.")
            .and_then(untoken)
            .map(Scope::Team)
    }
}

/// The environment variable a `nats-server` configuration written by [`desk_user`] reads a
/// user's password from: `LOOKOUT_NATS_PASSWORD_<USER>` (the user as a token, upper case,
/// anything but letters and digits as `_`).
pub fn password_var(user: &str) -> String {
    let t: String = token(user)
        .to_uppercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("LOOKOUT_NATS_PASSWORD_{t}")
}

/// How a user's password appears in a `nats-server` configuration: `$VAR` (read from the
/// server's environment when it loads the file) or a bcrypt hash. Never the password itself.
#[derive(Debug, Clone)]
pub enum PasswordRef {
    Env,
    Bcrypt(String),
}

impl PasswordRef {
    fn config_text(&self, user: &str) -> String {
        match self {
            PasswordRef::Env => format!("${}", password_var(user)),
            PasswordRef::Bcrypt(h) => format!("\"{h}\""),
        }
    }
}

fn quoted(v: &[String]) -> String {
    v.iter()
        .map(|x| format!("\"{x}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn user_entry(
    user: &str,
    password: &PasswordRef,
    publish: &[String],
    subscribe: &[String],
) -> String {
    format!(
        "{{ user: \"{user}\", password: {}, permissions: {{ publish: {{ allow: [{}] }}, subscribe: {{ allow: [{}] }} }} }}",
        password.config_text(user),
        quoted(publish),
        quoted(subscribe)
    )
}

/// One supervisor's NATS user, as `nats-server`'s configuration wants it: reads the
/// directory, everything tenant-wide of `tenant` and the subjects of `teams`; may acknowledge
/// there as `user` and nowhere else; snoozes reach only `user`'s own desks.
pub fn desk_user(user: &str, password: &PasswordRef, tenant: &str, teams: &[String]) -> String {
    let s = Subjects::new(tenant);
    let mut scopes = vec![Scope::All];
    scopes.extend(teams.iter().cloned().map(Scope::Team));
    let mut publish: Vec<String> = scopes.iter().map(|sc| s.ack(sc, user)).collect();
    publish.push(personal_snooze(user));
    let mut subscribe: Vec<String> = vec![DIRECTORY.into(), personal_snooze(user)];
    subscribe.extend(scopes.iter().map(|sc| s.readable(sc)));
    user_entry(user, password, &publish, &subscribe)
}

/// A hub's NATS user: everything under `lookout.`, its key-value bucket and the JetStream API
/// it uses.
pub fn hub_user(user: &str, password: &PasswordRef) -> String {
    user_entry(
        user,
        password,
        &[
            "lookout.>".into(),
            "$JS.API.>".into(),
            format!("$KV.{BUCKET}.>"),
            "_INBOX.>".into(),
        ],
        &[
            "lookout.>".into(),
            "_INBOX.>".into(),
            format!("$KV.{BUCKET}.>"),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_tokens_that_read_back() {
        for (name, want) in [
            ("demo.lookout.test", "demo_lookout_test"),
            ("Front Line", "Front=20Line"),
            ("a.b*c>d", "a_b=2Ac=3Ed"),
            ("Équipe", "=C3=89quipe"),
            ("", "="),
        ] {
            assert_eq!(token(name), want);
            assert_eq!(untoken(want).as_deref(), Some(name));
        }
        // No token holds what NATS reads as a separator or a wildcard.
        let t = token("x. *>\t\u{0}y");
        assert!(!t.contains(['.', ' ', '*', '>', '\t', '\0']), "{t}");
    }

    #[test]
    fn subjects_carry_tenant_and_team_and_acks_carry_the_user() {
        let s = Subjects::new("demo.lookout.test");
        let a = Scope::Team("Front Line".into());
        assert_eq!(s.state(&Scope::All), "lookout.demo_lookout_test.all.state");
        assert_eq!(
            s.told(&a),
            "lookout.demo_lookout_test.team.Front=20Line.told"
        );
        let ack = s.ack(&a, "ana");
        assert_eq!(ack, "lookout.demo_lookout_test.team.Front=20Line.ack.ana");
        let (path, user) = parse_ack_subject(&ack).unwrap();
        assert_eq!((Scope::from_tokens(&path), user.as_str()), (Some(a), "ana"));
        assert_eq!(
            parse_ack_subject(&s.ack(&Scope::All, "bo")),
            Some(("all".into(), "bo".into()))
        );
        assert_eq!(parse_ack_subject("lookout.x.all.state"), None);
    }
}
