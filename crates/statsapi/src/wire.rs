//! Wire types: request and response bodies exactly as they travel.
//!
//! Everything here is shaped by what real servers send and accept (see `spec/statsapi.md`),
//! not by what would be convenient: values stay the strings they are, ids may be strings or
//! numbers, flags may be booleans or the strings `"true"`/`"false"`, and unknown keys and
//! missing sections are tolerated. Typing the values is the snapshot's job, one layer up.
//!
//! Every type round-trips to equivalent JSON: what was a string stays a string, what was a
//! number stays a number, and a column keeps the spelling of its statistic key
//! (`stat_name` or `statName`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A string or a number, kept in the form it arrived in (ids, limits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IdOrNumber {
    Text(String),
    Number(i64),
}

impl IdOrNumber {
    /// The value as text, the way the server compares ids.
    pub fn as_text(&self) -> String {
        match self {
            IdOrNumber::Text(s) => s.clone(),
            IdOrNumber::Number(n) => n.to_string(),
        }
    }

    /// The value as a number, when it is one or is a string holding one.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            IdOrNumber::Text(s) => s.trim().parse().ok(),
            IdOrNumber::Number(n) => Some(*n),
        }
    }
}

impl From<&str> for IdOrNumber {
    fn from(s: &str) -> Self {
        IdOrNumber::Text(s.to_string())
    }
}

impl From<String> for IdOrNumber {
    fn from(s: String) -> Self {
        IdOrNumber::Text(s)
    }
}

impl From<i64> for IdOrNumber {
    fn from(n: i64) -> Self {
        IdOrNumber::Number(n)
    }
}

/// A boolean that some servers and clients send as a string (`"false"` works, spec §4.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    /// `true`, `"true"` and `"1"` are true; anything else is false.
    pub fn is_true(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1"),
        }
    }
}

impl From<bool> for Flag {
    fn from(b: bool) -> Self {
        Flag::Bool(b)
    }
}

// ---------------------------------------------------------------------------------------------
// Auth

/// `POST /configapi/v2/oauth/token` response. `expires_in` arrives as a string (`"3600"`) on
/// real servers and as a number in some documents; both are accepted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<ExpiresIn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Token lifetime in seconds, as the string or number the server sent. Anything else a server
/// may put there (an object, `true`) is kept as [`ExpiresIn::Other`] and means "not stated":
/// an odd lifetime is no reason to refuse a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ExpiresIn {
    Number(u64),
    Float(f64),
    Text(String),
    Other(serde_json::Value),
}

impl ExpiresIn {
    /// Seconds, if the value is a non-negative number (a fraction is floored, a number too
    /// large for `u64` saturates).
    pub fn seconds(&self) -> Option<u64> {
        let float = |f: f64| (f.is_finite() && f >= 0.0).then_some(f as u64);
        match self {
            ExpiresIn::Number(n) => Some(*n),
            ExpiresIn::Float(f) => float(*f),
            ExpiresIn::Text(s) => {
                let s = s.trim();
                s.parse::<u64>()
                    .ok()
                    .or_else(|| s.parse::<f64>().ok().and_then(float))
            }
            ExpiresIn::Other(_) => None,
        }
    }
}

/// `POST /statsapi/auth` request body (legacy login). The password never appears in `Debug`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyAuthRequest {
    pub tenant_url: String,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for LegacyAuthRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyAuthRequest")
            .field("tenant_url", &self.tenant_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /statsapi/auth` 200 body. Only the token matters (and not even that when the server
/// sets a session cookie); the other fields are kept as whatever JSON they are, so an odd one
/// (a numeric `user_id`) never fails a login.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyAuthResponse {
    /// The session token when it is a string; anything else is as good as none.
    #[serde(default, deserialize_with = "string_or_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileges: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<serde_json::Value>,
}

fn string_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

impl fmt::Debug for LegacyAuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacyAuthResponse")
            .field("token", &"<redacted>")
            .field("privileges", &self.privileges)
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// The error body some endpoints send: `{"error": "illegal login attempt"}` (403 on legacy
/// login from 5.36 on) or `{"error_code": …, "error_message": "…"}` (400 on create).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Subscription request

/// `POST /statsapi/subscription` body: app id → app subscription. App ids are the client's own
/// choice; any number of them may share one subscription.
pub type SubscriptionRequest = BTreeMap<String, AppSubscription>;

/// One app's part of a subscription. Only the sections that are `Some` are sent, so a server
/// that rejects unknown or empty keys sees only what the caller asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppSubscription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_totals: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_totals_service_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_totals_dispositions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_grids: Option<Vec<GridRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_grids: Option<Vec<GridRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_messages: Option<ChatRequest>,
}

/// A service or agent grid definition (the two share one shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridRequest {
    pub id: IdOrNumber,
    pub columns: Vec<Column>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<IdOrNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_dir: Option<String>,
    /// The undocumented-but-used `order: [{by, dir}]` form (Postman example, wallboards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<OrderBy>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<IdOrNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_by: Option<IdOrNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_value: Option<String>,
    /// `EQ`, `NE`, `LT`, `GT`, `LE` or `GE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub my_subteam_only: Option<Flag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logged_in_agents_only: Option<Flag>,
}

impl GridRequest {
    /// A grid with these columns and nothing else set.
    pub fn new(id: impl Into<IdOrNumber>, columns: Vec<Column>) -> Self {
        GridRequest {
            id: id.into(),
            columns,
            order_by: None,
            order_dir: None,
            order: None,
            limit: None,
            filter_by: None,
            filter_value: None,
            filter_operation: None,
            team_ids: None,
            service_ids: None,
            my_subteam_only: None,
            logged_in_agents_only: None,
        }
    }
}

/// `{"by": "<column id>", "dir": "ASC"|"DESC"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBy {
    pub by: IdOrNumber,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

/// `chat_messages: {filter, limit}`. The oldest wallboards send `{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<IdOrNumber>,
}

/// How a column names its statistic on the wire. D3.12 and most real clients write
/// `statName`; D3.13 and later documents write `stat_name`. Servers differ in which they take.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StatKey {
    #[default]
    #[serde(rename = "stat_name")]
    SnakeCase,
    #[serde(rename = "statName")]
    CamelCase,
}

impl StatKey {
    pub fn as_str(self) -> &'static str {
        match self {
            StatKey::SnakeCase => "stat_name",
            StatKey::CamelCase => "statName",
        }
    }

    /// The other spelling.
    pub fn other(self) -> StatKey {
        match self {
            StatKey::SnakeCase => StatKey::CamelCase,
            StatKey::CamelCase => StatKey::SnakeCase,
        }
    }
}

impl fmt::Display for StatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grid column: its id (echoed as the key in each data row) and the statistic it holds.
/// `stat_name` may be the literal `SUM`, in which case `sum_stat_names` lists what to add.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub id: IdOrNumber,
    pub stat_name: String,
    /// The spelling of the statistic key, kept so the column round-trips as it came.
    pub key: StatKey,
    pub dispositions: Option<Vec<String>>,
    pub sum_stat_names: Option<Vec<String>>,
}

impl Column {
    pub fn new(id: impl Into<IdOrNumber>, stat_name: impl Into<String>) -> Self {
        Column {
            id: id.into(),
            stat_name: stat_name.into(),
            key: StatKey::default(),
            dispositions: None,
            sum_stat_names: None,
        }
    }
}

impl Serialize for Column {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 2 + self.dispositions.is_some() as usize + self.sum_stat_names.is_some() as usize;
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry(self.key.as_str(), &self.stat_name)?;
        if let Some(d) = &self.dispositions {
            map.serialize_entry("dispositions", d)?;
        }
        if let Some(s) = &self.sum_stat_names {
            map.serialize_entry("sum_stat_names", s)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Column {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            id: IdOrNumber,
            stat_name: Option<String>,
            #[serde(rename = "statName")]
            stat_name_camel: Option<String>,
            dispositions: Option<Vec<String>>,
            sum_stat_names: Option<Vec<String>>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let (stat_name, key) = match (raw.stat_name, raw.stat_name_camel) {
            (Some(s), None) => (s, StatKey::SnakeCase),
            (None, Some(s)) => (s, StatKey::CamelCase),
            (Some(_), Some(_)) => {
                return Err(de::Error::custom(
                    "column has both `stat_name` and `statName`; use one",
                ));
            }
            (None, None) => return Err(de::Error::missing_field("stat_name")),
        };
        Ok(Column {
            id: raw.id,
            stat_name,
            key,
            dispositions: raw.dispositions,
            sum_stat_names: raw.sum_stat_names,
        })
    }
}

/// Set every column of every grid in `request` to spell its statistic key as `key`.
pub fn set_stat_key(request: &mut SubscriptionRequest, key: StatKey) {
    for app in request.values_mut() {
        for grid in app
            .service_grids
            .iter_mut()
            .chain(app.agent_grids.iter_mut())
            .flatten()
        {
            for column in &mut grid.columns {
                column.key = key;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data response

/// `GET /statsapi/subscription/data` 200 body: app id → that app's data.
pub type DataResponse = BTreeMap<String, AppData>;

/// One app's data. Only the sections the app subscribed to appear on real servers; any of them
/// may be missing here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_totals: Option<BTreeMap<String, Cell>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_grids: Option<Vec<GridData>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_grids: Option<Vec<GridData>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_messages: Option<Vec<ChatMessage>>,
}

/// A grid's rows: each row maps column id → cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridData {
    pub id: IdOrNumber,
    #[serde(default)]
    pub values: Vec<BTreeMap<String, Cell>>,
}

/// One internal chat message. Every field is kept as sent (`is_urgent` is `"1"`/`"0"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    #[serde(default)]
    pub id: Cell,
    #[serde(default)]
    pub login_id: Cell,
    #[serde(default)]
    pub first_name: Cell,
    #[serde(default)]
    pub last_name: Cell,
    #[serde(default)]
    pub send_time: Cell,
    #[serde(default)]
    pub is_urgent: Cell,
    #[serde(default)]
    pub content: Cell,
}

/// One value as it came over the wire. Real servers send every value as a string, with `""`
/// for "no value"; numbers, booleans and `null` are accepted too, and kept as they came. A
/// nested object or array in a cell is no statistic: it is read past and kept as
/// [`Cell::Unsupported`] so one odd cell never costs the whole poll.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Cell {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
    #[default]
    Null,
    Unsupported,
}

impl Cell {
    /// The value as text, `None` for `""`, `null` and unsupported cells. Numbers and booleans
    /// are written the way JSON writes them.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        match self {
            Cell::Text(s) if s.is_empty() => None,
            Cell::Text(s) => Some(Cow::Borrowed(s.as_str())),
            Cell::Number(n) => Some(Cow::Owned(n.to_string())),
            Cell::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Cell::Null | Cell::Unsupported => None,
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Text(s)
    }
}

impl Serialize for Cell {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Cell::Text(s) => serializer.serialize_str(s),
            Cell::Number(n) => n.serialize(serializer),
            Cell::Bool(b) => serializer.serialize_bool(*b),
            Cell::Null | Cell::Unsupported => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for Cell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a statistic value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
                Ok(Cell::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell, E> {
                Ok(Cell::Text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
                Ok(Cell::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
                Ok(Cell::Number(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
                Ok(Cell::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Cell::Null, Cell::Number))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
                Ok(Cell::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Cell, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Cell::Unsupported)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Cell::Unsupported)
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

// ---------------------------------------------------------------------------------------------
// Lookups

/// `GET /statsapi/cfg/teams|services|agents` entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

/// `GET /statsapi/cfg/dispositions` body. The Postman collection shows a bare array of names;
/// the 5.3 description page shows `{"dispositions": [...]}`. Both are accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DispositionsBody {
    List(Vec<String>),
    Wrapped { dispositions: Vec<String> },
}

impl DispositionsBody {
    pub fn into_names(self) -> Vec<String> {
        match self {
            DispositionsBody::List(v) | DispositionsBody::Wrapped { dispositions: v } => v,
        }
    }
}

/// The query flags of `GET /statsapi/cfg/dispositions`: each that is set narrows the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispositionFilter {
    pub agent_can_select: bool,
    pub inbound: bool,
    pub outbound: bool,
    pub preview: bool,
}

impl DispositionFilter {
    /// The query pairs to send (`agentCanSelect=1`, …).
    pub fn query(&self) -> Vec<(&'static str, &'static str)> {
        let mut q = Vec::new();
        for (on, name) in [
            (self.agent_can_select, "agentCanSelect"),
            (self.inbound, "inbound"),
            (self.outbound, "outbound"),
            (self.preview, "preview"),
        ] {
            if on {
                q.push((name, "1"));
            }
        }
        q
    }
}

/// `GET /statsapi/info/check_available_agents` body: `{"availability": true|false}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailabilityBody {
    pub availability: Flag,
}
