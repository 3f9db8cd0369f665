//! What the keeper tells the rest of the app about the connection.

use std::fmt;
use std::time::{Duration, SystemTime};

use lookout_statsapi::Error as ApiError;

/// The state of the connection to the tenant, as a user would want it told. (Serialized for
/// team mode, where a hub tells its desks.)
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Starting up, or starting over after a configuration change.
    Connecting,
    /// Logging in.
    Authenticating,
    /// Creating the statistics subscription.
    Subscribing,
    /// Subscribed; the server answers 204 until it has computed data. The last snapshot, if
    /// any, stays the latest.
    WaitingForData { since: SystemTime },
    /// Data is arriving: live since `since` (the first data of this spell), latest at
    /// `last_data`.
    Live {
        since: SystemTime,
        last_data: SystemTime,
    },
    /// Something went wrong that waiting can fix; the next try is at `retry_at`. `attempt`
    /// counts the tries since the last good answer.
    Reconnecting {
        reason: Problem,
        retry_at: SystemTime,
        attempt: u32,
    },
    /// Something went wrong that retrying cannot fix; a configuration change (or an explicit
    /// retry) starts over.
    Failed { reason: Problem },
}

impl ConnectionStatus {
    /// The state's name: `connecting`, `authenticating`, `subscribing`, `waiting_for_data`,
    /// `live`, `reconnecting` or `failed`.
    pub fn state(&self) -> &'static str {
        match self {
            ConnectionStatus::Connecting => "connecting",
            ConnectionStatus::Authenticating => "authenticating",
            ConnectionStatus::Subscribing => "subscribing",
            ConnectionStatus::WaitingForData { .. } => "waiting_for_data",
            ConnectionStatus::Live { .. } => "live",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Failed { .. } => "failed",
        }
    }

    /// The problem behind a `reconnecting` or `failed` state.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ConnectionStatus::Reconnecting { reason, .. } | ConnectionStatus::Failed { reason } => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// One line for a person, with times relative to `now`.
    pub fn describe(&self, now: SystemTime) -> String {
        match self {
            ConnectionStatus::Connecting => "connecting".into(),
            ConnectionStatus::Authenticating => "logging in".into(),
            ConnectionStatus::Subscribing => "subscribing to statistics".into(),
            ConnectionStatus::WaitingForData { .. } => {
                "waiting for data (the server has not computed it yet)".into()
            }
            ConnectionStatus::Live { last_data, .. } => {
                format!("live, data {} old", ago(now, *last_data))
            }
            ConnectionStatus::Reconnecting {
                reason,
                retry_at,
                attempt,
            } => format!(
                "{reason}; retry {attempt} in {}",
                ago(*retry_at, now).trim_end_matches(" ago")
            ),
            ConnectionStatus::Failed { reason } => format!("failed: {reason}"),
        }
    }

    /// True when `other` is the same state for a person reading a log of changes: the same
    /// state name, reason and attempt (times inside `Live` and `WaitingForData` move on every
    /// poll and do not count).
    pub fn same_state(&self, other: &ConnectionStatus) -> bool {
        use ConnectionStatus::*;
        match (self, other) {
            (Live { since: a, .. }, Live { since: b, .. }) => a == b,
            (WaitingForData { .. }, WaitingForData { .. }) => true,
            (
                Reconnecting {
                    reason: r1,
                    attempt: a1,
                    ..
                },
                Reconnecting {
                    reason: r2,
                    attempt: a2,
                    ..
                },
            ) => r1 == r2 && a1 == a2,
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for ConnectionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(SystemTime::now()))
    }
}

fn ago(now: SystemTime, then: SystemTime) -> String {
    let d = now.duration_since(then).unwrap_or(Duration::ZERO);
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1} s")
    } else if s < 120.0 {
        format!("{} s", s.round() as u64)
    } else {
        format!("{} min", (s / 60.0).round() as u64)
    }
}

/// What kind of trouble the connection is in; the UI picks words and icons by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Connection refused, reset, DNS, TLS.
    Network,
    /// No answer in time.
    Timeout,
    /// 5xx, 429, 408 and other answers a retry may get past.
    Server,
    /// A body that is not what the API sends.
    Malformed,
    /// 401 on a session that had worked: it expired or was ended.
    SessionLost,
    /// Fresh password logins keep being ended by another login of the same user.
    TakenOver,
    /// 404 right after creating the subscription, repeatedly.
    SubscriptionLost,
    /// 409: the tenant's limit of active subscriptions is reached.
    SubscriptionLimit,
    /// 400 on create: the server rejects the subscription.
    SubscriptionRejected,
    /// The credentials were refused.
    CredentialsRejected,
    /// The server no longer accepts password logins (5.36 and later).
    LoginRetired,
    /// The server has no OAuth endpoint (older versions).
    OAuthUnavailable,
    /// The URL or other configuration cannot work.
    Config,
    /// An answer the API does not document for this call.
    Unexpected,
}

/// A problem with the connection: its kind and a message that says what and where.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
        }
    }

    /// The kind of problem behind a client error.
    pub fn from_error(err: &ApiError) -> Problem {
        let kind = match err {
            ApiError::Transport { .. } => ProblemKind::Network,
            ApiError::Timeout { .. } => ProblemKind::Timeout,
            ApiError::Decode { .. } | ApiError::BodyTooLarge { .. } => ProblemKind::Malformed,
            ApiError::Unauthorized { .. } => ProblemKind::SessionLost,
            ApiError::NoSubscription { .. } => ProblemKind::SubscriptionLost,
            ApiError::SubscriptionLimit { .. } => ProblemKind::SubscriptionLimit,
            ApiError::SubscriptionRejected { .. } => ProblemKind::SubscriptionRejected,
            ApiError::AuthRejected { .. } => ProblemKind::CredentialsRejected,
            ApiError::LegacyLoginRetired { .. } => ProblemKind::LoginRetired,
            ApiError::OAuthUnavailable { .. } => ProblemKind::OAuthUnavailable,
            ApiError::InvalidUrl { .. } => ProblemKind::Config,
            ApiError::Status { .. } if err.is_transient() => ProblemKind::Server,
            ApiError::Status { .. } => ProblemKind::Unexpected,
        };
        Problem::new(kind, err.to_string())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
