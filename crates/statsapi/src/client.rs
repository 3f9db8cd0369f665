//! The async client: one value per tenant connection, holding the HTTP client, the credentials
//! and the current session (a Bearer token or session cookies).
//!
//! The client does one request per call and reports exactly what happened; it does not retry,
//! re-authenticate or back off on its own. Those decisions belong to the session keeper, which
//! sees the whole picture. The one exception is documented on
//! [`Client::create_subscription`]: a single retry with the other spelling of the statistic key.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, excerpt, printable, redact_url, summary};
use crate::wire::{
    AvailabilityBody, DataResponse, DispositionFilter, DispositionsBody, ErrorBody,
    LegacyAuthRequest, LegacyAuthResponse, NamedRef, StatKey, SubscriptionRequest, TokenResponse,
    set_stat_key,
};

/// A secret (password, API secret, token). It never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to log in.
#[derive(Debug, Clone)]
pub enum Auth {
    /// OAuth 2.0 client credentials at `/configapi/v2/oauth/token`: the username is the
    /// `client_id`, the user's API secret the `client_secret`, the tenant host the `scope`.
    OAuth {
        client_id: String,
        client_secret: Secret,
        scope: String,
    },
    /// The legacy `/statsapi/auth` login with a session cookie. Retired in BPCC 5.36.
    Password {
        tenant_url: String,
        username: String,
        password: Secret,
    },
}

impl Auth {
    pub fn username(&self) -> &str {
        match self {
            Auth::OAuth { client_id, .. } => client_id,
            Auth::Password { username, .. } => username,
        }
    }
}

/// Tunables. The defaults suit a poll every few seconds over the internet.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, wait, read).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Bodies larger than this are not read. The default, 8 MiB, is eight times a data answer
    /// with 5,000 agents and every statistic the shipped rules use (about 1 MB); a tenant
    /// whose answers are larger sets `[server] max_response_mb`.
    pub max_body_bytes: usize,
    /// How columns spell their statistic key.
    pub stat_key: StatKey,
    /// Retry a create that got 400 once with the other spelling of the statistic key, and keep
    /// the spelling that worked.
    pub stat_key_fallback: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 8 * 1024 * 1024,
            stat_key: StatKey::SnakeCase,
            stat_key_fallback: true,
        }
    }
}

/// What a poll brought.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// 200 with data.
    Data(DataResponse),
    /// 204: the server has not computed the first data yet.
    NotReady,
}

/// What a successful login gives the caller to plan by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// When the token runs out (OAuth only; a legacy session has no stated lifetime).
    pub expires_at: Option<Instant>,
}

#[derive(Clone, Default)]
enum Session {
    #[default]
    None,
    Bearer {
        token: Secret,
    },
    Cookie,
}

/// A client for one tenant.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    opts: ClientOptions,
    session: Session,
    /// Cookies the server set (session cookies, load-balancer stickiness), name → value.
    cookies: Vec<(String, Secret)>,
    stat_key: StatKey,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("user", &self.auth.username())
            .field("stat_key", &self.stat_key)
            .finish_non_exhaustive()
    }
}

/// Parse and check a server URL: `https://` is required, except for loopback addresses, where
/// `http://` is accepted for local test servers.
pub fn parse_server_url(url: &str) -> Result<Url, Error> {
    // The URL is repeated in the message without any `user:password@` part it may hold.
    let invalid = |reason: &str| Error::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_string(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| invalid(&e.to_string()))?;
    if parsed.cannot_be_a_base() || parsed.host().is_none() {
        return Err(invalid("no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "credentials do not belong in the URL; use the username setting and the keychain",
        ));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(invalid(
            "plain http:// would send credentials unencrypted; use https:// (http:// is accepted only for loopback addresses)",
        )),
        other => Err(invalid(&format!(
            "unsupported scheme `{other}`; use https://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl Client {
    /// A client for the tenant at `base_url` (scheme, host and port; any path is ignored).
    pub fn new(base_url: &str, auth: Auth, opts: ClientOptions) -> Result<Client, Error> {
        let mut base = parse_server_url(base_url)?;
        base.set_path("/");
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(opts.connect_timeout)
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::InvalidUrl {
                url: redact_url(base_url),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        let stat_key = opts.stat_key;
        Ok(Client {
            http,
            base,
            auth,
            opts,
            session: Session::None,
            cookies: Vec::new(),
            stat_key,
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The statistic-key spelling in use (it may have changed after a fallback).
    pub fn stat_key(&self) -> StatKey {
        self.stat_key
    }

    /// True once a login succeeded and until [`Client::forget_session`].
    pub fn has_session(&self) -> bool {
        !matches!(self.session, Session::None)
    }

    /// Drop the current token or cookies, e.g. after a 401.
    pub fn forget_session(&mut self) {
        self.session = Session::None;
        self.cookies.clear();
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    fn endpoint(&self, method: &Method, path: &str) -> String {
        format!("{method} {}", self.url(path))
    }

    /// Log in with the configured method and keep the session.
    pub async fn authenticate(&mut self) -> Result<Login, Error> {
        self.forget_session();
        match self.auth.clone() {
            // With no session to keep, a refresh is an OAuth login.
            Auth::OAuth { .. } => self.refresh().await,
            Auth::Password {
                tenant_url,
                username,
                password,
            } => {
                self.authenticate_password(&tenant_url, &username, &password)
                    .await
            }
        }
    }

    /// Get a fresh OAuth token while the current one stays in use: on failure the current
    /// session is kept, so a refresh attempt never costs a poll. With a password login there is
    /// nothing to refresh (the session has no stated lifetime) and this returns at once.
    pub async fn refresh(&mut self) -> Result<Login, Error> {
        match self.auth.clone() {
            Auth::OAuth {
                client_id,
                client_secret,
                scope,
            } => {
                self.authenticate_oauth(&client_id, &client_secret, &scope)
                    .await
            }
            Auth::Password { .. } => Ok(Login { expires_at: None }),
        }
    }

    /// A client for the calls that need no login (`check_available_agents`), sharing this
    /// client's connection pool and settings but none of its session.
    pub fn without_session(&self) -> Client {
        Client {
            http: self.http.clone(),
            base: self.base.clone(),
            auth: self.auth.clone(),
            opts: self.opts.clone(),
            session: Session::None,
            cookies: Vec::new(),
            stat_key: self.stat_key,
        }
    }

    async fn authenticate_oauth(
        &mut self,
        client_id: &str,
        client_secret: &Secret,
        scope: &str,
    ) -> Result<Login, Error> {
        const PATH: &str = "/configapi/v2/oauth/token";
        let endpoint = self.endpoint(&Method::POST, PATH);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret.expose()),
            ("scope", scope),
        ];
        let started = Instant::now();
        let req = self.http.post(self.url(PATH)).form(&form);
        let (status, headers, body) = self.send(req, &endpoint).await?;
        self.store_cookies(&headers);
        match status {
            StatusCode::OK => {
                let token: TokenResponse = decode_login(&endpoint, status, &body)?;
                if token.access_token.trim().is_empty() {
                    return Err(Error::Decode {
                        endpoint,
                        status: status.as_u16(),
                        message: "`access_token` is empty".into(),
                        excerpt: String::new(),
                    });
                }
                // However long the server says, the token is used for at most a day before a
                // fresh one is fetched: a lifetime no clock can hold is no reason to panic.
                let expires_at = token
                    .expires_in
                    .as_ref()
                    .and_then(|e| e.seconds())
                    .and_then(|s| started.checked_add(Duration::from_secs(s.min(MAX_TOKEN_LIFE))));
                self.session = Session::Bearer {
                    token: Secret::new(token.access_token),
                };
                tracing::debug!(%endpoint, "OAuth token obtained");
                Ok(Login { expires_at })
            }
            StatusCode::NOT_FOUND => Err(Error::OAuthUnavailable { endpoint }),
            s if s == StatusCode::BAD_REQUEST
                || s == StatusCode::UNAUTHORIZED
                || s == StatusCode::FORBIDDEN =>
            {
                Err(Error::AuthRejected {
                    endpoint,
                    status: s.as_u16(),
                    message: login_error_words(&body),
                })
            }
            s => Err(unexpected_login(endpoint, s)),
        }
    }

    async fn authenticate_password(
        &mut self,
        tenant_url: &str,
        username: &str,
        password: &Secret,
    ) -> Result<Login, Error> {
        const PATH: &str = "/statsapi/auth";
        let endpoint = self.endpoint(&Method::POST, PATH);
        let body = LegacyAuthRequest {
            tenant_url: tenant_url.to_string(),
            username: username.to_string(),
            password: password.expose().to_string(),
        };
        let req = self.http.post(self.url(PATH)).json(&body);
        let (status, headers, body) = self.send(req, &endpoint).await?;
        match status {
            StatusCode::OK => {
                let auth: LegacyAuthResponse = decode_login(&endpoint, status, &body)?;
                self.store_cookies(&headers);
                let has_session_cookie = self
                    .cookies
                    .iter()
                    .any(|(n, _)| n == "X-BP-SESSION-ID" || n == "X-STATSAPI-TOKEN");
                if !has_session_cookie {
                    // No Set-Cookie came back: send the token the ways the documents describe
                    // supplying it by hand. A server reads the name it knows.
                    let token = auth.token.as_deref().unwrap_or("").trim();
                    if token.is_empty() {
                        return Err(Error::Decode {
                            endpoint,
                            status: status.as_u16(),
                            message: "no session cookie was set and there is no `token` string"
                                .into(),
                            excerpt: String::new(),
                        });
                    }
                    for (name, value) in [
                        ("X-BP-SESSION-ID", token),
                        ("X-STATSAPI-TOKEN", token),
                        ("X-STATSAPI-TENANT", tenant_url),
                        ("X-STATSAPI-LOGIN", username),
                    ] {
                        self.set_cookie(name, value);
                    }
                }
                self.session = Session::Cookie;
                tracing::debug!(%endpoint, "password login accepted");
                Ok(Login { expires_at: None })
            }
            StatusCode::FORBIDDEN
                if login_error_words(&body)
                    .is_some_and(|m| m.to_ascii_lowercase().contains("illegal login")) =>
            {
                Err(Error::LegacyLoginRetired { endpoint })
            }
            s if s == StatusCode::UNAUTHORIZED
                || s == StatusCode::FORBIDDEN
                || s == StatusCode::BAD_REQUEST =>
            {
                Err(Error::AuthRejected {
                    endpoint,
                    status: s.as_u16(),
                    message: login_error_words(&body),
                })
            }
            s => Err(unexpected_login(endpoint, s)),
        }
    }

    /// Create (or replace) this session's subscription.
    ///
    /// Columns are sent with the statistic key spelled as [`Client::stat_key`]. When the server
    /// answers 400 and [`ClientOptions::stat_key_fallback`] is on, the request is sent once more
    /// with the other spelling; if that works, the client keeps using it. If both fail, the
    /// first rejection is returned.
    pub async fn create_subscription(
        &mut self,
        request: &SubscriptionRequest,
    ) -> Result<(), Error> {
        let first = self.try_create(request, self.stat_key).await;
        match first {
            Err(Error::SubscriptionRejected { .. }) if self.opts.stat_key_fallback => {
                let other = self.stat_key.other();
                match self.try_create(request, other).await {
                    Ok(()) => {
                        tracing::info!(
                            "the server rejected `{}` and accepted `{}` as the column statistic key; using `{}`",
                            self.stat_key,
                            other,
                            other
                        );
                        self.stat_key = other;
                        Ok(())
                    }
                    Err(_) => first,
                }
            }
            other => other,
        }
    }

    async fn try_create(&self, request: &SubscriptionRequest, key: StatKey) -> Result<(), Error> {
        const PATH: &str = "/statsapi/subscription";
        let endpoint = self.endpoint(&Method::POST, PATH);
        let mut request = request.clone();
        set_stat_key(&mut request, key);
        let req = self.authed(Method::POST, PATH).json(&request);
        let (status, _, body) = self.send(req, &endpoint).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::BAD_REQUEST => {
                let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
                let (error_code, error_message) = match parsed {
                    Some(b) => (
                        b.error_code.map(|c| match c {
                            serde_json::Value::String(s) => printable(&s, 80),
                            other => printable(&other.to_string(), 80),
                        }),
                        b.error_message.or(b.error).map(|m| printable(&m, 300)),
                    ),
                    None => (None, non_empty(summary(&body))),
                };
                Err(Error::SubscriptionRejected {
                    endpoint,
                    status: 400,
                    error_code,
                    error_message,
                })
            }
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized { endpoint }),
            StatusCode::CONFLICT => Err(Error::SubscriptionLimit { endpoint }),
            s => Err(unexpected(endpoint, s, &body)),
        }
    }

    /// Fetch the subscription's current data.
    pub async fn poll_data(&self) -> Result<PollOutcome, Error> {
        const PATH: &str = "/statsapi/subscription/data";
        let endpoint = self.endpoint(&Method::GET, PATH);
        let req = self.authed(Method::GET, PATH);
        let (status, _, body) = self.send(req, &endpoint).await?;
        match status {
            StatusCode::OK => {
                let data: DataResponse = decode(&endpoint, status, &body)?;
                Ok(PollOutcome::Data(data))
            }
            StatusCode::NO_CONTENT => Ok(PollOutcome::NotReady),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized { endpoint }),
            StatusCode::NOT_FOUND => Err(Error::NoSubscription { endpoint }),
            s => Err(unexpected(endpoint, s, &body)),
        }
    }

    /// Delete the active subscription and free its tenant slot. A 404 (nothing to delete) is
    /// reported as [`Error::NoSubscription`], which callers cleaning up may ignore.
    pub async fn delete_subscription(&self) -> Result<(), Error> {
        const PATH: &str = "/statsapi/subscription/active";
        let endpoint = self.endpoint(&Method::DELETE, PATH);
        let req = self.authed(Method::DELETE, PATH);
        let (status, _, body) = self.send(req, &endpoint).await?;
        match status {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized { endpoint }),
            StatusCode::NOT_FOUND => Err(Error::NoSubscription { endpoint }),
            s => Err(unexpected(endpoint, s, &body)),
        }
    }

    /// Disposition names of the supervised services.
    pub async fn dispositions(&self, filter: DispositionFilter) -> Result<Vec<String>, Error> {
        const PATH: &str = "/statsapi/cfg/dispositions";
        let body: DispositionsBody = self.get_json(PATH, &filter.query()).await?;
        Ok(body.into_names())
    }

    /// Teams the user supervises.
    pub async fn teams(&self) -> Result<Vec<NamedRef>, Error> {
        self.get_json("/statsapi/cfg/teams", &[]).await
    }

    /// Services of the supervised teams.
    pub async fn services(&self) -> Result<Vec<NamedRef>, Error> {
        self.get_json("/statsapi/cfg/services", &[]).await
    }

    /// Agents of the supervised teams (`name` is the login id).
    pub async fn agents(&self) -> Result<Vec<NamedRef>, Error> {
        self.get_json("/statsapi/cfg/agents", &[]).await
    }

    /// Whether at least one agent is ready for the service named `service`. Needs no login.
    pub async fn check_available_agents(&self, service: &str) -> Result<bool, Error> {
        const PATH: &str = "/statsapi/info/check_available_agents";
        let endpoint = self.endpoint(&Method::GET, PATH);
        let req = self.http.get(self.url(PATH)).query(&[("service", service)]);
        let (status, _, body) = self.send(req, &endpoint).await?;
        match status {
            StatusCode::OK => {
                let b: AvailabilityBody = decode(&endpoint, status, &body)?;
                match b.availability {
                    crate::wire::Flag::Bool(v) => Ok(v),
                    crate::wire::Flag::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" => Ok(true),
                        "false" | "0" => Ok(false),
                        _ => Err(Error::Decode {
                            endpoint,
                            status: 200,
                            message: format!("`availability` is `{t}`, not true or false"),
                            excerpt: String::new(),
                        }),
                    },
                }
            }
            s => Err(unexpected(endpoint, s, &body)),
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let endpoint = self.endpoint(&Method::GET, path);
        let req = self.authed(Method::GET, path).query(query);
        let (status, _, body) = self.send(req, &endpoint).await?;
        match status {
            StatusCode::OK => decode(&endpoint, status, &body),
            StatusCode::UNAUTHORIZED => Err(Error::Unauthorized { endpoint }),
            s => Err(unexpected(endpoint, s, &body)),
        }
    }

    /// A request carrying the session: the Bearer token, and any cookies the server set.
    fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Session::Bearer { token } = &self.session
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        {
            v.set_sensitive(true);
            req = req.header(AUTHORIZATION, v);
        }
        if !self.cookies.is_empty() {
            let line = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={}", v.expose()))
                .collect::<Vec<_>>()
                .join("; ");
            if let Ok(mut v) = HeaderValue::from_str(&line) {
                v.set_sensitive(true);
                req = req.header(COOKIE, v);
            }
        }
        req
    }

    fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_string(), Secret::new(value)));
    }

    /// Keep what `Set-Cookie` headers set; an empty value or `Max-Age=0` removes the cookie.
    fn store_cookies(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, val) = (name.trim(), val.trim().trim_matches('"'));
            if name.is_empty() {
                continue;
            }
            let expired = parts.any(|attr| {
                let attr = attr.trim().to_ascii_lowercase();
                attr == "max-age=0" || attr.starts_with("max-age=-")
            });
            if val.is_empty() || expired {
                self.cookies.retain(|(n, _)| n != name);
            } else {
                self.set_cookie(name, val);
            }
        }
    }

    /// Send, then read the body up to the cap. Transport failures and timeouts become errors;
    /// any status is returned for the caller to interpret.
    async fn send(
        &self,
        req: RequestBuilder,
        endpoint: &str,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>), Error> {
        let mut resp = req.send().await.map_err(|e| self.transport(endpoint, e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let limit = self.opts.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(Error::BodyTooLarge {
                endpoint: endpoint.to_string(),
                limit,
            });
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport(endpoint, e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(Error::BodyTooLarge {
                    endpoint: endpoint.to_string(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::trace!(%endpoint, status = status.as_u16(), bytes = body.len(), "response");
        Ok((status, headers, body))
    }

    fn transport(&self, endpoint: &str, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            return Error::Timeout {
                endpoint: endpoint.to_string(),
                after: self.opts.timeout,
            };
        }
        // reqwest's Display is terse ("error sending request"); the cause chain says why.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport {
            endpoint: endpoint.to_string(),
            message,
        }
    }
}

/// The longest token lifetime believed: a token is refreshed at least daily.
const MAX_TOKEN_LIFE: u64 = 24 * 3600;

fn decode<T: DeserializeOwned>(
    endpoint: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        endpoint: endpoint.to_string(),
        status: status.as_u16(),
        message: if body.is_empty() {
            "empty body".to_string()
        } else {
            printable(&e.to_string(), 200)
        },
        excerpt: excerpt(body, 120),
    })
}

/// Decode a login answer. It holds a token or a session, so nothing of it reaches the error:
/// not an excerpt, and not serde's message either, which quotes the value it choked on. The
/// error says where the answer is wrong (line and column) and what kind of wrong it is.
fn decode_login<T: DeserializeOwned>(
    endpoint: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            _ if body.is_empty() => "the answer is empty".to_string(),
            Category::Data => format!(
                "a field is missing or of the wrong type (line {}, column {})",
                e.line(),
                e.column()
            ),
            Category::Syntax | Category::Eof => format!(
                "the answer is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
            Category::Io => "the answer could not be read".to_string(),
        };
        Error::Decode {
            endpoint: endpoint.to_string(),
            status: status.as_u16(),
            message: format!("{what}; the answer is not shown since it may hold credentials"),
            excerpt: String::new(),
        }
    })
}

fn unexpected(endpoint: String, status: StatusCode, body: &[u8]) -> Error {
    Error::Status {
        endpoint,
        status: status.as_u16(),
        excerpt: summary(body),
    }
}

/// An unexpected status from a login endpoint: the status alone, never the body.
fn unexpected_login(endpoint: String, status: StatusCode) -> Error {
    Error::Status {
        endpoint,
        status: status.as_u16(),
        excerpt: String::new(),
    }
}

/// The server's own words from a login endpoint's error body (`error`, `error_message`): only
/// those, never an excerpt of a body that is not the error JSON.
fn login_error_words(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error_message.or(b.error))
        .map(|m| printable(&m, 200))
        .and_then(non_empty)
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_loopback() {
        assert!(parse_server_url("https://tenant.brightpattern.com").is_ok());
        assert!(parse_server_url("http://127.0.0.1:8080").is_ok());
        assert!(parse_server_url("http://localhost:8080").is_ok());
        assert!(parse_server_url("http://[::1]:8080").is_ok());
        let err = parse_server_url("http://tenant.brightpattern.com").unwrap_err();
        assert!(err.to_string().contains("use https://"), "{err}");
        let err = parse_server_url("ftp://x").unwrap_err();
        assert!(err.to_string().contains("unsupported scheme"), "{err}");
        let err = parse_server_url("https://user:pw@x.com").unwrap_err();
        assert!(err.to_string().contains("credentials"), "{err}");
        assert!(parse_server_url("not a url").is_err());
    }

    #[test]
    fn url_errors_never_repeat_credentials() {
        for url in [
            "https://ana:hunter2@x.com",
            "https://ana:hunter2@x.com:99999/",
            "http://ana:hunter2@tenant.example.com",
            "ftp://ana:hunter2@x",
            "https://ana:hunter2@",
        ] {
            let e = parse_server_url(url).unwrap_err().to_string();
            assert!(!e.contains("hunter2") && !e.contains("ana"), "{e}");
        }
        let e = parse_server_url("https://ana:hunter2@x.com").unwrap_err();
        assert!(e.to_string().contains("https://…@x.com"), "{e}");
    }

    #[test]
    fn server_words_reach_messages_as_plain_text() {
        let t = login_error_words(br#"{"error":"\u001b]0;owned\u0007 \u001b[31mred\u001b[0m"}"#)
            .unwrap();
        assert!(!t.chars().any(char::is_control), "{t:?}");
        assert!(t.contains("red"), "{t:?}");
        // Not JSON, from a login endpoint: nothing of it.
        assert_eq!(login_error_words(b"token=abc123; Path=/"), None);
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let auth = Auth::Password {
            tenant_url: "t".into(),
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        let req = LegacyAuthRequest {
            tenant_url: "t".into(),
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    #[test]
    fn set_cookie_parsing_keeps_and_removes() {
        let mut c = Client::new(
            "http://127.0.0.1:1",
            Auth::Password {
                tenant_url: "t".into(),
                username: "u".into(),
                password: Secret::new("p"),
            },
            ClientOptions::default(),
        )
        .unwrap();
        let mut h = HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("X-BP-SESSION-ID=ABC; Path=/"),
        );
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("AWSALB=xyz; Path=/; Max-Age=600"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("broken"));
        c.store_cookies(&h);
        assert_eq!(c.cookies.len(), 2);
        let mut h = HeaderMap::new();
        h.append(SET_COOKIE, HeaderValue::from_static("AWSALB=; Max-Age=0"));
        c.store_cookies(&h);
        assert_eq!(c.cookies.len(), 1);
        assert_eq!(c.cookies[0].0, "X-BP-SESSION-ID");
    }
}
