//! The one error type of the client. Each variant is something a caller reacts to differently,
//! and each message says what failed, where, and what to do.

use std::time::Duration;

/// Everything that can go wrong talking to the Real-Time Stats API.
///
/// `endpoint` is always the method and full URL of the request that failed, so a message on its
/// own tells the user where to look.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server did not accept the credentials (wrong user, password or API secret, or the user
    /// lacks the stats privileges).
    #[error(
        "{endpoint}: the server rejected the credentials (HTTP {status}){}; check the username, the secret and that the user has the \"Access Realtime Stats API\" privilege",
        opt_msg(message)
    )]
    AuthRejected {
        endpoint: String,
        status: u16,
        message: Option<String>,
    },

    /// `POST /statsapi/auth` answered 403 `illegal login attempt`: BPCC 5.36 and later no longer
    /// accept password logins.
    #[error(
        "{endpoint}: this server no longer accepts password logins (HTTP 403 \"illegal login attempt\"); switch to OAuth: set auth = \"oauth\" in [server] and provide the user's API secret in LOOKOUT_CLIENT_SECRET or the keychain"
    )]
    LegacyLoginRetired { endpoint: String },

    /// The OAuth token endpoint does not exist on this server (older versions).
    #[error(
        "{endpoint}: this server has no OAuth token endpoint (HTTP 404); it is probably older than 5.x: set auth = \"password\" in [server]"
    )]
    OAuthUnavailable { endpoint: String },

    /// 401 on a session call: the token expired or, with password logins, another login of the
    /// same user replaced this one (one session cookie per user).
    #[error(
        "{endpoint}: not authenticated (HTTP 401): the session expired or another login of the same user replaced it"
    )]
    Unauthorized { endpoint: String },

    /// 409 on create: the tenant-wide limit of active subscriptions is reached.
    #[error(
        "{endpoint}: the tenant's limit of active subscriptions is reached (HTTP 409); another wallboard or client holds the last slot"
    )]
    SubscriptionLimit { endpoint: String },

    /// 400 on create: the server rejected the subscription, with its own reason.
    #[error(
        "{endpoint}: the server rejected the subscription (HTTP {status}){}",
        rejected_msg(error_code, error_message)
    )]
    SubscriptionRejected {
        endpoint: String,
        status: u16,
        error_code: Option<String>,
        error_message: Option<String>,
    },

    /// 404 on poll (or delete): there is no active subscription; create it again.
    #[error("{endpoint}: there is no active subscription (HTTP 404)")]
    NoSubscription { endpoint: String },

    /// Any other status the API does not document for this call (5xx included). `excerpt` is a
    /// short summary of the body ([`summary`]); empty for login endpoints.
    #[error("{endpoint}: unexpected HTTP {status}{}{}", reason(*status), excerpt_msg(excerpt))]
    Status {
        endpoint: String,
        status: u16,
        excerpt: String,
    },

    /// The connection failed: refused, reset, DNS, TLS.
    #[error("{endpoint}: {message}")]
    Transport { endpoint: String, message: String },

    /// No complete answer in time.
    #[error("{endpoint}: no answer within {}", humanize(*after))]
    Timeout { endpoint: String, after: Duration },

    /// The body is not what the API sends for this status.
    #[error(
        "{endpoint}: HTTP {status} body is not valid: {message}{}",
        excerpt_msg(excerpt)
    )]
    Decode {
        endpoint: String,
        status: u16,
        message: String,
        excerpt: String,
    },

    /// The body is larger than the configured cap; it was not read.
    #[error("{endpoint}: response body larger than {limit} bytes; not read")]
    BodyTooLarge { endpoint: String, limit: usize },

    /// The server URL cannot be used.
    #[error("server URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
}

impl Error {
    /// True for failures a retry can get past: network, timeouts, 5xx, malformed bodies, 409,
    /// and 401/404, which need a fresh login or a new subscription before the retry. False for
    /// what needs a person: rejected credentials, a retired login method, a rejected
    /// subscription, a bad URL.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::Decode { .. }
            | Error::BodyTooLarge { .. }
            | Error::SubscriptionLimit { .. }
            | Error::Unauthorized { .. }
            | Error::NoSubscription { .. } => true,
            Error::Status { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::AuthRejected { .. }
            | Error::LegacyLoginRetired { .. }
            | Error::OAuthUnavailable { .. }
            | Error::SubscriptionRejected { .. }
            | Error::InvalidUrl { .. } => false,
        }
    }

    /// The HTTP status, where there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::AuthRejected { status, .. }
            | Error::SubscriptionRejected { status, .. }
            | Error::Status { status, .. }
            | Error::Decode { status, .. } => Some(*status),
            Error::LegacyLoginRetired { .. } => Some(403),
            Error::OAuthUnavailable { .. } | Error::NoSubscription { .. } => Some(404),
            Error::Unauthorized { .. } => Some(401),
            Error::SubscriptionLimit { .. } => Some(409),
            _ => None,
        }
    }
}

fn opt_msg(m: &Option<String>) -> String {
    match m {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

fn rejected_msg(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!(": {m} (error_code {c})"),
        (None, Some(m)) => format!(": {m}"),
        (Some(c), None) => format!(": error_code {c}"),
        (None, None) => String::new(),
    }
}

/// " Bad Gateway" for 502: the status's standard name.
fn reason(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {r}"))
        .unwrap_or_default()
}

fn excerpt_msg(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else if excerpt.starts_with(HTML_PAGE) {
        format!("; {excerpt}")
    } else {
        format!("; body starts: {excerpt}")
    }
}

fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `text` as one line of plain text for a message or a log: control characters (escape
/// sequences, bells, line breaks) become spaces, runs of spaces one, and it is cut at `max`
/// characters with "…". What a server says must not steer the terminal that shows it.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    let mut count = 0;
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        if count == max {
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out.trim().to_string()
}

/// A URL for a message: any `user:password@` part is replaced by `…@`.
pub fn redact_url(url: &str) -> String {
    let url = url.trim();
    let Some(scheme_end) = url.find("://") else {
        // No authority to speak of; still, drop anything up to an `@`.
        return match url.rfind('@') {
            Some(at) => format!("…{}", &url[at..]),
            None => url.to_string(),
        };
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}…{}", &url[..scheme_end + 3], &rest[at..]),
        None => url.to_string(),
    }
}

const HTML_PAGE: &str = "an HTML page";

/// A body summed up for an error message: an HTML page (a proxy's or load balancer's error
/// page) by its title, anything else by its first characters, as plain text.
pub fn summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let head = text.trim_start();
    let lower = head
        .get(..head.len().min(512))
        .unwrap_or(head)
        .to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.contains("<head")
    {
        let lower_all = text.to_ascii_lowercase();
        let title = lower_all
            .find("<title")
            .and_then(|i| Some(i + text[i..].find('>')? + 1))
            .and_then(|start| {
                let end = start + lower_all[start..].find("</title")?;
                Some(printable(&text[start..end], 80))
            })
            .filter(|t| !t.is_empty());
        return match title {
            Some(t) => format!("{HTML_PAGE} titled “{t}”"),
            None => match printable(&without_tags(&text), 80) {
                t if t.is_empty() => HTML_PAGE.to_string(),
                t => format!("{HTML_PAGE}: {t}"),
            },
        };
    }
    excerpt(body, 120)
}

/// The text of an HTML page without its tags (scripts and styles included as text; this is
/// for a one-line summary, not for display).
fn without_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars().take(4096) {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first `max` characters of a body, printable, for error messages.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() && c != ' ' { ' ' } else { c })
        .collect();
    out = out.trim().to_string();
    if text.chars().count() > max {
        out.push('…');
    }
    if out.is_empty() && !body.is_empty() {
        out = format!("<{} bytes, not text>", body.len());
    }
    out
}
