//! The HTTP face of the simulated tenant: auth, sessions, subscriptions, data, lookups, and the
//! faults a scenario injects.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::sync::oneshot;

use crate::model::{AgentState, DISPOSITIONS, Model, ModelConfig};
use crate::profile::{CookieScheme, Profile};
use crate::scenario::{Action, Event, Scenario, Target};
use crate::subscription::{Overrides, Subscription, answer};

/// An API user of the simulated tenant.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub password: String,
    pub api_secret: String,
}

/// The demo user: `supervisor`, password `demo-password`, API secret `demo-secret`.
pub fn demo_user() -> User {
    User {
        name: "supervisor".into(),
        password: "demo-password".into(),
        api_secret: "demo-secret".into(),
    }
}

/// Everything a simulated tenant is made of.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub profile: Profile,
    pub model: ModelConfig,
    pub scenario: Scenario,
    pub users: Vec<User>,
    /// The tenant host name (`tenant_url` / OAuth `scope`).
    pub tenant: String,
    /// Tenant-wide limit of active subscriptions (409 above it).
    pub subscription_limit: usize,
    /// Polls answered 204 after a subscription is (re)created.
    pub ready_after_polls: u32,
    /// OAuth token lifetime.
    pub token_ttl: Duration,
    /// Simulated seconds per real second (tests speed the tenant up).
    pub speed: f64,
    /// Answers a well-behaved tenant does not give (all off by default).
    pub quirks: Quirks,
}

/// Ways a tenant can answer that the documented ones do not, so tests can show what the client
/// and the keeper survive. All off by default.
#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// Fields added to (or replacing those of) both login answers: `"expires_in": 3600.0`, a
    /// numeric `user_id`, an `access_token` that is not a string.
    pub login_extra: serde_json::Map<String, serde_json::Value>,
    /// Send every chat message there is, whatever `limit` the subscription asked for.
    pub ignore_chat_limit: bool,
    /// Percentages as 0–1 fractions (`"0.92"`) instead of 0–100, in totals and grids alike.
    pub fraction_percentages: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            profile: Profile::default(),
            model: ModelConfig::default(),
            scenario: Scenario::default(),
            users: vec![demo_user()],
            tenant: "demo.lookout.test".into(),
            subscription_limit: 10,
            ready_after_polls: 1,
            token_ttl: Duration::from_secs(3600),
            speed: 1.0,
            quirks: Quirks::default(),
        }
    }
}

impl SimConfig {
    /// Apply a scenario: its tenant shape and its events.
    pub fn with_scenario(mut self, scenario: Scenario) -> Self {
        scenario.tenant.apply(&mut self.model);
        self.scenario = scenario;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Principal {
    /// A legacy session token.
    Legacy { token: String, user: String },
    /// An OAuth user (a refreshed token keeps the same subscription).
    OAuth { user: String },
}

impl Principal {
    fn key(&self) -> String {
        match self {
            Principal::Legacy { token, .. } => format!("legacy:{token}"),
            Principal::OAuth { user } => format!("oauth:{user}"),
        }
    }
}

struct ActiveSub {
    sub: Subscription,
    polls: u32,
}

struct OAuthToken {
    user: String,
    expires: Instant,
}

#[derive(Default)]
struct Faults {
    errors: Option<(u16, u64)>,
    slow: Option<(Duration, u64)>,
    malformed_until: u64,
    not_ready_until: u64,
    disconnect_until: u64,
    /// user → until: every legacy session of the user is taken over again while it lasts.
    takeover: HashMap<String, u64>,
    /// (limit to restore, at)
    limit_restore: Option<(usize, u64)>,
}

struct Pin {
    target: Target,
    stat: String,
    value: String,
    until: Option<u64>,
}

fn same_target(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::Totals, Target::Totals) => true,
        (Target::Service(a), Target::Service(b)) | (Target::Agent(a), Target::Agent(b)) => {
            a.eq_ignore_ascii_case(b)
        }
        _ => false,
    }
}

/// What the data answer says instead of the model: the pins in force at a time, and the
/// tenant's quirks.
struct Pins<'a>(&'a [Pin], u64, &'a Quirks);

impl Pins<'_> {
    /// The latest pin still in force for `stat` on a target `matches` accepts.
    fn find(&self, stat: &str, matches: impl Fn(&Target) -> bool) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|p| p.stat == stat && matches(&p.target) && p.until.is_none_or(|u| self.1 < u))
            .map(|p| p.value.clone())
    }
}

impl Overrides for Pins<'_> {
    fn service(&self, service: &str, stat: &str) -> Option<String> {
        self.find(
            stat,
            |t| matches!(t, Target::Service(s) if s.eq_ignore_ascii_case(service)),
        )
    }
    fn agent(&self, login: &str, stat: &str) -> Option<String> {
        self.find(
            stat,
            |t| matches!(t, Target::Agent(a) if a.eq_ignore_ascii_case(login)),
        )
    }
    fn totals(&self, stat: &str) -> Option<String> {
        self.find(stat, |t| *t == Target::Totals)
    }
    fn written(&self, stat: &str, value: String) -> String {
        if self.2.fraction_percentages && crate::stats::PERCENT_STATS.contains(&stat) {
            match value.trim().parse::<f64>() {
                Ok(v) => format!("{:.4}", v / 100.0),
                Err(_) => value,
            }
        } else {
            value
        }
    }
    fn chat_limit(&self, asked: usize) -> usize {
        if self.2.ignore_chat_limit {
            usize::MAX
        } else {
            asked
        }
    }
}

/// The tenant's whole state.
pub(crate) struct Tenant {
    profile: Profile,
    users: Vec<User>,
    tenant: String,
    subscription_limit: usize,
    ready_after_polls: u32,
    token_ttl: Duration,
    speed: f64,
    quirks: Quirks,
    started: Instant,
    model: Model,
    events: Vec<Event>,
    next_event: usize,
    pins: Vec<Pin>,
    faults: Faults,
    rng: SmallRng,
    /// legacy token → user
    legacy: HashMap<String, String>,
    oauth: HashMap<String, OAuthToken>,
    subs: HashMap<String, ActiveSub>,
    requests: BTreeMap<String, u64>,
    /// Data answers sent with values (not 204, not a fault).
    data_answers: u64,
    /// Every data poll: when, and by which login (numbered in the order they first polled),
    /// so a test can tell two pollers apart. The oldest go past [`POLL_LOG_LIMIT`].
    polls: std::collections::VecDeque<(Instant, u32)>,
    pollers: HashMap<String, u32>,
}

fn hex_token(rng: &mut SmallRng) -> String {
    (0..4)
        .map(|_| format!("{:016X}", rng.random::<u64>()))
        .collect()
}

fn guid_token(rng: &mut SmallRng) -> String {
    let n: u128 = rng.random();
    let h = format!("{n:032X}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Tenant {
    pub(crate) fn new(cfg: SimConfig) -> Result<Tenant, String> {
        let model = Model::new(&cfg.model);
        let users: Vec<String> = cfg.users.iter().map(|u| u.name.clone()).collect();
        cfg.scenario.check_names(&model, &users)?;
        let mut t = Tenant {
            profile: cfg.profile,
            users: cfg.users,
            tenant: cfg.tenant,
            subscription_limit: cfg.subscription_limit,
            ready_after_polls: cfg.ready_after_polls,
            token_ttl: cfg.token_ttl,
            speed: if cfg.speed > 0.0 { cfg.speed } else { 1.0 },
            quirks: cfg.quirks,
            started: Instant::now(),
            model,
            events: cfg.scenario.events,
            next_event: 0,
            pins: Vec::new(),
            faults: Faults::default(),
            rng: SmallRng::seed_from_u64(cfg.model.seed ^ 0x5EED),
            legacy: HashMap::new(),
            oauth: HashMap::new(),
            subs: HashMap::new(),
            requests: BTreeMap::new(),
            data_answers: 0,
            polls: std::collections::VecDeque::new(),
            pollers: HashMap::new(),
        };
        t.run_due_events();
        Ok(t)
    }

    /// Bring the model up to the current time, running scenario events as their time comes.
    fn sync(&mut self) {
        let target = (self.started.elapsed().as_secs_f64() * self.speed) as u64;
        while self.model.now < target {
            self.model.step();
            self.run_due_events();
        }
        if let Some((limit, at)) = self.faults.limit_restore
            && self.model.now >= at
        {
            self.subscription_limit = limit;
            self.faults.limit_restore = None;
        }
    }

    fn run_due_events(&mut self) {
        while let Some(e) = self.events.get(self.next_event) {
            if e.at > self.model.now {
                break;
            }
            let action = e.action.clone();
            self.next_event += 1;
            self.apply(&action);
        }
    }

    fn until(&self, d: Option<crate::scenario::Dur>) -> Option<u64> {
        d.map(|d| self.model.now + d.0.as_secs().max(1))
    }

    /// Make `action` happen now.
    pub(crate) fn apply(&mut self, action: &Action) {
        let now = self.model.now;
        tracing::info!(at = now, ?action, "scenario event");
        match action {
            Action::Set {
                stat,
                value,
                duration,
                ..
            } => {
                let value = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Boolean(b) => if *b { "1" } else { "0" }.into(),
                    other => other.to_string(),
                };
                let until = self.until(*duration);
                if let Some(target) = action.set_target() {
                    // A pin for good hides every earlier one of the same statistic and target,
                    // and an expired one shows no more: drop them, so that a long run that
                    // sets values again and again does not pile them up.
                    self.pins.retain(|p| {
                        p.until.is_none_or(|u| now < u)
                            && !(until.is_none()
                                && p.stat == *stat
                                && same_target(&p.target, &target))
                    });
                    self.pins.push(Pin {
                        target,
                        stat: stat.clone(),
                        value,
                        until,
                    });
                }
            }
            Action::Agents {
                service,
                team,
                logins,
                count,
                state,
                reason,
                duration,
            } => {
                let m = &self.model;
                let si = service.as_deref().and_then(|s| m.service_index(s));
                let ti = team
                    .as_deref()
                    .and_then(|t| m.teams.iter().position(|x| x.name.eq_ignore_ascii_case(t)));
                let mut chosen: Vec<usize> = (0..m.agents.len())
                    .filter(|&i| {
                        let a = &m.agents[i];
                        si.is_none_or(|s| a.skills.contains(&s))
                            && ti.is_none_or(|t| a.team == t)
                            && logins.as_ref().is_none_or(|l| {
                                l.iter().any(|x| x.eq_ignore_ascii_case(&a.login_id))
                            })
                    })
                    .collect();
                if let Some(c) = count {
                    chosen.truncate(*c);
                }
                let state = AgentState::parse(state).unwrap_or(AgentState::NotReady);
                let until = self.until(*duration).unwrap_or(u64::MAX);
                self.model
                    .force_state(&chosen, state, reason.as_deref().unwrap_or(""), until);
            }
            Action::Calls { service, count } => {
                if let Some(si) = self.model.service_index(service) {
                    self.model.add_calls(si, *count);
                }
            }
            Action::Chat {
                from,
                urgent,
                content,
            } => {
                let agent = from
                    .as_deref()
                    .and_then(|f| self.model.agent_index(f))
                    .unwrap_or(0);
                if !self.model.agents.is_empty() {
                    self.model.post_chat(agent, *urgent, content.clone());
                }
            }
            Action::Takeover { user, duration } => {
                let users: Vec<String> = match user {
                    Some(u) => vec![u.clone()],
                    None => self.users.iter().map(|u| u.name.clone()).collect(),
                };
                for u in users {
                    self.end_legacy_sessions_of(&u);
                    if let Some(until) = self.until(*duration) {
                        self.faults.takeover.insert(u, until);
                    }
                }
            }
            Action::DropSubscriptions => self.subs.clear(),
            Action::ExpireTokens => self.oauth.clear(),
            Action::Errors { status, duration } => {
                self.faults.errors = Some((*status, now + duration.secs().max(1)))
            }
            Action::Slow { delay, duration } => {
                self.faults.slow = Some((delay.0, now + duration.secs().max(1)))
            }
            Action::Malformed { duration } => {
                self.faults.malformed_until = now + duration.secs().max(1)
            }
            Action::NotReady { duration } => {
                self.faults.not_ready_until = now + duration.secs().max(1)
            }
            Action::Disconnect { duration } => {
                self.faults.disconnect_until = now + duration.secs().max(1)
            }
            Action::SubscriptionLimit { limit, duration } => {
                if let Some(until) = self.until(*duration) {
                    let restore = self
                        .faults
                        .limit_restore
                        .map_or(self.subscription_limit, |(l, _)| l);
                    self.faults.limit_restore = Some((restore, until));
                }
                self.subscription_limit = *limit;
            }
        }
    }

    fn end_legacy_sessions_of(&mut self, user: &str) {
        let gone: Vec<String> = self
            .legacy
            .iter()
            .filter(|(_, u)| u.as_str() == user)
            .map(|(t, _)| t.clone())
            .collect();
        for t in gone {
            self.legacy.remove(&t);
            self.subs.remove(&format!("legacy:{t}"));
        }
    }

    fn principal(&mut self, headers: &HeaderMap) -> Option<Principal> {
        let now = Instant::now();
        self.oauth.retain(|_, t| t.expires > now);
        if let Some(auth) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let token = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
            if let Some(t) = self.oauth.get(token) {
                return Some(Principal::OAuth {
                    user: t.user.clone(),
                });
            }
            if let Some(user) = self.legacy.get(token) {
                return self.legacy_principal(token.to_string(), user.clone());
            }
        }
        let cookie_name = match self.profile.cookies {
            CookieScheme::BpSession => "X-BP-SESSION-ID",
            CookieScheme::StatsapiTriple => "X-STATSAPI-TOKEN",
        };
        let cookies = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(n, _)| *n == cookie_name)
            .map(|(_, v)| v.to_string());
        let token = cookies?;
        let user = self.legacy.get(&token)?.clone();
        self.legacy_principal(token, user)
    }

    fn legacy_principal(&mut self, token: String, user: String) -> Option<Principal> {
        // While a takeover lasts, the other login replaces ours at once, every time.
        if self
            .faults
            .takeover
            .get(&user)
            .is_some_and(|&until| self.model.now < until)
        {
            self.legacy.remove(&token);
            self.subs.remove(&format!("legacy:{token}"));
            return None;
        }
        Some(Principal::Legacy { token, user })
    }

    fn count(&mut self, key: String) {
        *self.requests.entry(key).or_default() += 1;
    }
}

/// A running simulated tenant.
pub struct SimHandle {
    pub addr: SocketAddr,
    tenant: Arc<Mutex<Tenant>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn lock(t: &Mutex<Tenant>) -> MutexGuard<'_, Tenant> {
    // A panic while holding the lock would be a bug in the sim; keep serving anyway.
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimHandle {
    /// The base URL, e.g. `http://127.0.0.1:8080`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests served per endpoint (`"GET /statsapi/subscription/data"` → count).
    pub fn requests(&self) -> BTreeMap<String, u64> {
        lock(&self.tenant).requests.clone()
    }

    /// Requests served to one endpoint.
    pub fn request_count(&self, key: &str) -> u64 {
        lock(&self.tenant).requests.get(key).copied().unwrap_or(0)
    }

    /// Subscriptions the tenant holds now.
    pub fn active_subscriptions(&self) -> usize {
        lock(&self.tenant).subs.len()
    }

    /// Make a scenario action happen now.
    pub fn apply(&self, action: &Action) {
        self.apply_counting(action);
    }

    /// Make a scenario action happen now, and say how many data answers with values the tenant
    /// had sent before it took effect. Two such counts tell whether any answer carried what
    /// one action changed before the next one undid it.
    pub fn apply_counting(&self, action: &Action) -> u64 {
        let mut t = lock(&self.tenant);
        t.sync();
        t.apply(action);
        t.data_answers
    }

    /// Pin one service's statistic to `value` for good (a scenario `set`), returning
    /// [`apply_counting`](Self::apply_counting)'s count.
    pub fn pin_service(&self, service: &str, stat: &str, value: i64) -> u64 {
        self.apply_counting(&Action::Set {
            service: Some(service.into()),
            agent: None,
            totals: false,
            stat: stat.into(),
            value: toml::Value::Integer(value),
            duration: None,
        })
    }

    /// The data polls since `since`: when, and by which login (1, 2, … in the order they
    /// first polled; a new login is a new number).
    pub fn polls_since(&self, since: Instant) -> Vec<(Instant, u32)> {
        lock(&self.tenant)
            .polls
            .iter()
            .filter(|(at, _)| *at >= since)
            .copied()
            .collect()
    }

    /// Data answers with values sent so far (not 204s, not injected faults).
    pub fn data_answers(&self) -> u64 {
        lock(&self.tenant).data_answers
    }

    /// Seconds of simulated time since start.
    pub fn now(&self) -> u64 {
        let mut t = lock(&self.tenant);
        t.sync();
        t.model.now
    }

    /// The moment simulated second `secs` begins (scripted faults start and end on these).
    pub fn instant_of(&self, secs: u64) -> Instant {
        let t = lock(&self.tenant);
        t.started + Duration::from_secs_f64(secs as f64 / t.speed)
    }

    /// Stop serving and wait until the port is free.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Start a simulated tenant on `addr` (port 0 picks a free one).
pub async fn start(cfg: SimConfig, addr: SocketAddr) -> Result<SimHandle, String> {
    let tenant = Arc::new(Mutex::new(Tenant::new(cfg)?));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let app = router(tenant.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!("simulated tenant stopped: {e}");
        }
    });
    Ok(SimHandle {
        addr,
        tenant,
        shutdown: Some(tx),
        task: Some(task),
    })
}

type Shared = Arc<Mutex<Tenant>>;

fn router(tenant: Shared) -> Router {
    Router::new()
        .route("/configapi/v2/oauth/token", post(oauth_token))
        .route("/statsapi/auth", post(legacy_login).delete(legacy_logout))
        .route("/statsapi/subscription", post(create_subscription))
        .route("/statsapi/subscription/data", get(poll_data))
        .route("/statsapi/subscription/active", delete(delete_subscription))
        .route("/statsapi/cfg/dispositions", get(cfg_dispositions))
        .route("/statsapi/cfg/teams", get(cfg_teams))
        .route("/statsapi/cfg/services", get(cfg_services))
        .route("/statsapi/cfg/agents", get(cfg_agents))
        .route(
            "/statsapi/info/check_available_agents",
            get(check_available_agents),
        )
        .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
        .layer(middleware::from_fn_with_state(
            tenant.clone(),
            faults_and_headers,
        ))
        .with_state(tenant)
}

/// Count the request, inject the scripted faults, and add the headers real servers send.
async fn faults_and_headers(State(t): State<Shared>, req: Request, next: Next) -> Response {
    let key = format!("{} {}", req.method(), req.uri().path());
    let (fault, delay) = {
        let mut t = lock(&t);
        t.sync();
        t.count(key);
        let now = t.model.now;
        let f = &t.faults;
        let delay = f.slow.filter(|(_, u)| now < *u).map(|(d, _)| d);
        let fault = if now < f.disconnect_until {
            Some(Err(()))
        } else {
            f.errors.filter(|(_, u)| now < *u).map(|(s, _)| Ok(s))
        };
        (fault, delay)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut resp = if req.method() == Method::OPTIONS {
        StatusCode::OK.into_response()
    } else {
        match fault {
            Some(Err(())) => {
                // Cut the connection mid-answer: the body stream fails after the headers.
                let stream = futures_util::stream::once(async {
                    Err::<Bytes, _>(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "connection dropped by scenario",
                    ))
                });
                Response::new(Body::from_stream(stream))
            }
            Some(Ok(status)) => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let html = format!(
                    "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center><hr><center>nginx</center></body></html>"
                );
                (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
            }
            None => next.run(req).await,
        }
    };
    let h = resp.headers_mut();
    for (k, v) in [
        ("access-control-allow-methods", "GET, POST, DELETE, PUT"),
        (
            "access-control-allow-headers",
            "Accept, Origin, Content-type, Authorization",
        ),
        ("access-control-allow-credentials", "true"),
        (
            "cache-control",
            "no-store, no-cache, max-age=0, must-revalidate",
        ),
        ("expires", "Sat, 26 Jul 1997 05:00:00 GMT"),
        ("server", "nginx/1.15.12"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    resp
}

fn json_error(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// A login answer with the quirky fields the configuration asks for.
fn with_quirks(answer: &mut serde_json::Value, quirks: &Quirks) {
    if let Some(map) = answer.as_object_mut() {
        for (k, v) in &quirks.login_extra {
            map.insert(k.clone(), v.clone());
        }
    }
}

async fn oauth_token(State(t): State<Shared>, body: Bytes) -> Response {
    let mut t = lock(&t);
    if !t.profile.oauth {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return json_error(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    let id = form.get("client_id").cloned().unwrap_or_default();
    let secret = form.get("client_secret").cloned().unwrap_or_default();
    if !t
        .users
        .iter()
        .any(|u| u.name == id && !u.api_secret.is_empty() && u.api_secret == secret)
    {
        return json_error(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
    }
    let token = hex_token(&mut t.rng);
    let ttl = t.token_ttl;
    t.oauth.insert(
        token.clone(),
        OAuthToken {
            user: id,
            expires: Instant::now() + ttl,
        },
    );
    let scope = form
        .get("scope")
        .cloned()
        .unwrap_or_else(|| t.tenant.clone());
    let mut answer = json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs().to_string(),
        "scope": scope,
    });
    with_quirks(&mut answer, &t.quirks);
    Json(answer).into_response()
}

async fn legacy_login(State(t): State<Shared>, body: Bytes) -> Response {
    let mut t = lock(&t);
    if !t.profile.legacy_login {
        return json_error(
            StatusCode::FORBIDDEN,
            json!({"error": "illegal login attempt"}),
        );
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let field = |k: &str| {
        req.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string()
    };
    let (user, password) = (field("username"), field("password"));
    if !t
        .users
        .iter()
        .any(|u| u.name == user && !u.password.is_empty() && u.password == password)
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // One cookie per user: this login ends the user's earlier sessions.
    t.end_legacy_sessions_of(&user);
    let token = guid_token(&mut t.rng);
    let user_id = guid_token(&mut t.rng);
    t.legacy.insert(token.clone(), user.clone());
    let mut answer = json!({"token": token, "privileges": [], "user_id": user_id});
    with_quirks(&mut answer, &t.quirks);
    let mut resp = Json(answer).into_response();
    let tenant = t.tenant.clone();
    let cookies: Vec<String> = match t.profile.cookies {
        CookieScheme::BpSession => vec![format!("X-BP-SESSION-ID={token}; Path=/; HttpOnly")],
        CookieScheme::StatsapiTriple => vec![
            format!("X-STATSAPI-TOKEN={token}; Path=/; HttpOnly"),
            format!("X-STATSAPI-TENANT={tenant}; Path=/"),
            format!("X-STATSAPI-LOGIN={user}; Path=/"),
        ],
    };
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

async fn legacy_logout(State(t): State<Shared>, headers: HeaderMap) -> Response {
    let mut t = lock(&t);
    if let Some(Principal::Legacy { token, .. }) = t.principal(&headers) {
        t.legacy.remove(&token);
        t.subs.remove(&format!("legacy:{token}"));
    }
    StatusCode::OK.into_response()
}

async fn create_subscription(State(t): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut t = lock(&t);
    let Some(p) = t.principal(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let sub = match Subscription::parse(&body, &t.profile) {
        Ok(s) => s,
        Err(r) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error_code": r.code, "error_message": r.message}),
            );
        }
    };
    let key = p.key();
    if !t.subs.contains_key(&key) && t.subs.len() >= t.subscription_limit {
        return (
            StatusCode::CONFLICT,
            "Limit of active subscriptions exceeded for tenant",
        )
            .into_response();
    }
    t.subs.insert(key, ActiveSub { sub, polls: 0 });
    // A real server answers 200 with an empty, chunked body.
    Response::new(Body::empty())
}

/// How many polls [`SimHandle::polls_since`] remembers.
const POLL_LOG_LIMIT: usize = 100_000;

async fn poll_data(State(t): State<Shared>, headers: HeaderMap) -> Response {
    let mut guard = lock(&t);
    let t = &mut *guard;
    let Some(p) = t.principal(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let now = t.model.now;
    let ready_after = t.ready_after_polls;
    let Some(active) = t.subs.get_mut(&p.key()) else {
        return (
            StatusCode::NOT_FOUND,
            "Bad request (there is no active subscription)",
        )
            .into_response();
    };
    active.polls += 1;
    let login = headers
        .get(header::AUTHORIZATION)
        .or_else(|| headers.get(header::COOKIE))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let next = t.pollers.len() as u32 + 1;
    let poller = *t.pollers.entry(login).or_insert(next);
    t.polls.push_back((Instant::now(), poller));
    while t.polls.len() > POLL_LOG_LIMIT {
        t.polls.pop_front();
    }
    if active.polls <= ready_after || now < t.faults.not_ready_until {
        return StatusCode::NO_CONTENT.into_response();
    }
    if now < t.faults.malformed_until {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"1\":{\"service_grids\":[{\"id\":\"1\",\"values\":[{\"1\":\"Sal",
        )
            .into_response();
    }
    let pins = Pins(&t.pins, now, &t.quirks);
    let body = answer(&t.model, &active.sub, &pins);
    t.data_answers += 1;
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response()
}

async fn delete_subscription(State(t): State<Shared>, headers: HeaderMap) -> Response {
    let mut t = lock(&t);
    let Some(p) = t.principal(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if t.subs.remove(&p.key()).is_some() {
        StatusCode::OK.into_response()
    } else {
        StatusCode::from_u16(t.profile.delete_without_subscription)
            .unwrap_or(StatusCode::NOT_FOUND)
            .into_response()
    }
}

/// Jackson-style pretty JSON, as `/statsapi/cfg/*` answers are written.
fn pretty(v: serde_json::Value) -> Response {
    let text = serde_json::to_string_pretty(&v)
        .unwrap_or_default()
        .replace("\": ", "\" : ");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

fn authed_lookup(
    t: &Shared,
    headers: &HeaderMap,
    f: impl FnOnce(&Model) -> serde_json::Value,
) -> Response {
    let mut t = lock(t);
    if t.principal(headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    pretty(f(&t.model))
}

async fn cfg_dispositions(
    State(t): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    authed_lookup(&t, &headers, |_| {
        let flag = |k: &str| q.get(k).is_some_and(|v| v == "1");
        // Outbound-only and preview-only lists are narrower in a real tenant.
        let list: Vec<&str> = DISPOSITIONS
            .iter()
            .copied()
            .filter(|d| !(flag("outbound") || flag("preview")) || !d.contains("talking"))
            .filter(|d| !flag("agentCanSelect") || !d.contains("failure"))
            .collect();
        json!(list)
    })
}

fn named(list: impl Iterator<Item = (String, String)>) -> serde_json::Value {
    serde_json::Value::Array(
        list.map(|(id, name)| json!({"id": id, "name": name}))
            .collect(),
    )
}

async fn cfg_teams(State(t): State<Shared>, headers: HeaderMap) -> Response {
    authed_lookup(&t, &headers, |m| {
        named(m.teams.iter().map(|x| (x.id.clone(), x.name.clone())))
    })
}

async fn cfg_services(State(t): State<Shared>, headers: HeaderMap) -> Response {
    authed_lookup(&t, &headers, |m| {
        named(m.services.iter().map(|x| (x.id.clone(), x.name.clone())))
    })
}

async fn cfg_agents(State(t): State<Shared>, headers: HeaderMap) -> Response {
    authed_lookup(&t, &headers, |m| {
        named(m.agents.iter().map(|x| (x.id.clone(), x.login_id.clone())))
    })
}

async fn check_available_agents(
    State(t): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let t = lock(&t);
    let Some(name) = q.get("service") else {
        return (StatusCode::BAD_REQUEST, "missing parameter: service").into_response();
    };
    let Some(si) = t.model.service_index(name) else {
        return (StatusCode::BAD_REQUEST, format!("unknown service: {name}")).into_response();
    };
    let pins = Pins(&t.pins, t.model.now, &t.quirks);
    let ready = pins
        .service(&t.model.services[si].name, "agents_ready")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| {
            t.model
                .agents_on_service(si)
                .filter(|a| a.state == AgentState::Ready)
                .count() as u64
        });
    Json(json!({"availability": ready > 0})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sim_config_default_is_valid() {
        assert!(Tenant::new(SimConfig::default()).is_ok());
    }

    #[test]
    fn pins_set_again_and_again_do_not_pile_up() {
        let mut t = Tenant::new(SimConfig::default()).unwrap();
        let set = |service: &str, value: i64, secs: Option<u64>| Action::Set {
            service: Some(service.into()),
            agent: None,
            totals: false,
            stat: "in_max_wait_time".into(),
            value: toml::Value::Integer(value),
            duration: secs.map(|s| crate::scenario::Dur(Duration::from_secs(s))),
        };
        for i in 0..1000 {
            t.apply(&set(["Sales", "SALES", "Support"][i % 3], i as i64, None));
        }
        assert_eq!(t.pins.len(), 2, "one pin each for Sales and Support");
        t.apply(&set("Sales", 7, Some(5)));
        assert_eq!(t.pins.len(), 3, "a timed pin keeps the one beneath it");
        let pins = Pins(&t.pins, t.model.now, &t.quirks);
        assert_eq!(
            pins.service("sales", "in_max_wait_time").as_deref(),
            Some("7")
        );
        t.model.now += 10;
        t.apply(&set("Support", 1, None));
        assert_eq!(t.pins.len(), 2, "the expired pin is gone");
        let pins = Pins(&t.pins, t.model.now, &t.quirks);
        assert_eq!(
            pins.service("Sales", "in_max_wait_time").as_deref(),
            Some("999")
        );
    }
}
