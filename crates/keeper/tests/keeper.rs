//! The session keeper against the simulated tenant over real HTTP on loopback, one scripted fault
//! per test. Each test checks what a user would see: the sequence of connection states, that
//! data is back within two poll intervals of the fault clearing (or of the retry the status
//! announced, when the keeper was backing off), that the keeper did not hammer the tenant while
//! it was failing, that it survived, and that it deleted its subscription on the way out.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use lookout_keeper::session::{self as keeper, BackoffPolicy, Clock, ShutdownReport};
use lookout_keeper::{ConnectionStatus, KeeperHandle, KeeperOptions, Plan, ProblemKind, Snapshot};
use lookout_sim::{Profile, Scenario, SimConfig, SimHandle, demo_user};
use lookout_statsapi::{Auth, Client, ClientOptions, Secret};
use tokio::time::{Instant, sleep, sleep_until};

/// The poll interval of every test: the shortest a user can configure.
const TICK: Duration = Duration::from_secs(1);

/// A wall clock the test can move.
#[derive(Default)]
struct TestClock {
    offset_secs: AtomicI64,
}

impl TestClock {
    fn jump(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> SystemTime {
        let off = self.offset_secs.load(Ordering::SeqCst);
        if off >= 0 {
            SystemTime::now() + Duration::from_secs(off as u64)
        } else {
            SystemTime::now() - Duration::from_secs(off.unsigned_abs())
        }
    }
}

enum Seen {
    Status {
        status: ConnectionStatus,
        /// For `Reconnecting`: when the announced retry is due.
        retry: Option<Instant>,
    },
    Snapshot(Arc<Snapshot>),
}

struct Harness {
    sim: Option<SimHandle>,
    keeper: Option<KeeperHandle>,
    log: Arc<Mutex<Vec<(Instant, Seen)>>>,
    started: Instant,
}

fn sim_config(profile: &str, scenario: &str) -> SimConfig {
    SimConfig {
        profile: Profile::named(profile).unwrap(),
        ..SimConfig::default()
    }
    .with_scenario(Scenario::parse(scenario).unwrap())
}

async fn start_sim(cfg: SimConfig) -> SimHandle {
    lookout_sim::start(cfg, "127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .await
        .unwrap()
}

fn oauth() -> Auth {
    let u = demo_user();
    Auth::OAuth {
        client_id: u.name,
        client_secret: Secret::new(u.api_secret),
        scope: "demo.lookout.test".into(),
    }
}

fn password() -> Auth {
    let u = demo_user();
    Auth::Password {
        tenant_url: "demo.lookout.test".into(),
        username: u.name,
        password: Secret::new(u.password),
    }
}

fn client(sim: &SimHandle, auth: Auth) -> Client {
    Client::new(&sim.url(), auth, ClientOptions::default()).unwrap()
}

/// Test options: 1 s polls, a fixed jitter seed, a long backoff shortened to seconds so a test
/// can watch it end, and the test's clock.
fn options(clock: &Arc<TestClock>) -> KeeperOptions {
    KeeperOptions {
        poll_interval: TICK,
        availability_services: vec!["Sales".into(), "Billing".into()],
        availability_interval: Duration::from_secs(2),
        long_backoff: BackoffPolicy {
            initial: Duration::from_secs(3),
            max: Duration::from_secs(6),
            full_jitter: false,
        },
        shutdown_timeout: Duration::from_secs(3),
        jitter_seed: Some(42),
        clock: clock.clone(),
        ..KeeperOptions::default()
    }
}

impl Harness {
    async fn start(sim: SimHandle, auth: Auth) -> Harness {
        let clock = Arc::new(TestClock::default());
        let opts = options(&clock);
        let client = client(&sim, auth);
        Harness::start_with(sim, client, Plan::overview(), opts, clock)
    }

    fn start_with(
        sim: SimHandle,
        client: Client,
        plan: Plan,
        opts: KeeperOptions,
        clock: Arc<TestClock>,
    ) -> Harness {
        let started = Instant::now();
        let mut keeper = keeper::spawn(client, plan, opts);
        let log: Arc<Mutex<Vec<(Instant, Seen)>>> = Arc::default();
        let mut changes = keeper.take_changes().unwrap();
        let mut snaps = keeper.snapshots();
        let (rec_log, rec_clock) = (log.clone(), clock.clone());
        tokio::spawn(async move {
            let mut snaps_open = true;
            loop {
                tokio::select! {
                    s = changes.recv() => match s {
                        Some(status) => {
                            let now = Instant::now();
                            let retry = match &status {
                                ConnectionStatus::Reconnecting { retry_at, .. } => Some(
                                    now + retry_at
                                        .duration_since(rec_clock.now())
                                        .unwrap_or_default(),
                                ),
                                _ => None,
                            };
                            rec_log.lock().unwrap().push((now, Seen::Status { status, retry }));
                        }
                        None => break,
                    },
                    r = snaps.changed(), if snaps_open => match r {
                        Ok(()) => {
                            let snap = snaps.borrow_and_update().clone();
                            if let Some(snap) = snap {
                                rec_log.lock().unwrap().push((Instant::now(), Seen::Snapshot(snap)));
                            }
                        }
                        Err(_) => snaps_open = false,
                    },
                }
            }
        });
        Harness {
            sim: Some(sim),
            keeper: Some(keeper),
            log,
            started,
        }
    }

    fn sim(&self) -> &SimHandle {
        self.sim.as_ref().unwrap()
    }

    fn keeper(&self) -> &KeeperHandle {
        self.keeper.as_ref().unwrap()
    }

    /// Real time of a simulated second (scenario times are simulated seconds since start).
    fn at(&self, sim_secs: u64) -> Instant {
        Instant::from_std(self.sim().instant_of(sim_secs))
    }

    /// Statuses seen so far, with when.
    fn statuses(&self) -> Vec<(Instant, ConnectionStatus, Option<Instant>)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Status { status, retry } => Some((*t, status.clone(), *retry)),
                Seen::Snapshot(_) => None,
            })
            .collect()
    }

    fn snapshots_between(&self, from: Instant, to: Instant) -> Vec<(Instant, Arc<Snapshot>)> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(t, s)| match s {
                Seen::Snapshot(snap) if *t >= from && *t <= to => Some((*t, snap.clone())),
                _ => None,
            })
            .collect()
    }

    /// Wait for the first status in `state` seen at or after `after`; panics with the whole
    /// log after `within`.
    async fn wait_state(&self, state: &str, after: Instant, within: Duration) -> Instant {
        let deadline = Instant::now() + within;
        loop {
            if let Some((t, _, _)) = self
                .statuses()
                .into_iter()
                .find(|(t, s, _)| *t >= after && s.state() == state)
            {
                return t;
            }
            if Instant::now() > deadline {
                panic!(
                    "no `{state}` within {within:?}; statuses:\n{}",
                    self.describe()
                );
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// The state names from the one in force at `from` to the last one seen by `to`, with
    /// repeats folded.
    fn states(&self, from: Instant, to: Instant) -> Vec<&'static str> {
        let all = self.statuses();
        let first = all.iter().rposition(|(t, _, _)| *t <= from).unwrap_or(0);
        let mut out: Vec<&'static str> = Vec::new();
        for (t, s, _) in &all[first..] {
            if *t > to {
                break;
            }
            if out.last() != Some(&s.state()) {
                out.push(s.state());
            }
        }
        out
    }

    /// Problems the keeper reported between two moments.
    fn problems(&self, from: Instant, to: Instant) -> Vec<(ProblemKind, String)> {
        self.statuses()
            .into_iter()
            .filter(|(t, _, _)| *t >= from && *t <= to)
            .filter_map(|(_, s, _)| s.problem().map(|p| (p.kind, p.message.clone())))
            .collect()
    }

    /// When data must be back after a fault cleared at `cleared`: two poll intervals after
    /// the fault cleared or, if the keeper was then backing off, two poll intervals after the
    /// retry it announced last (a request sent just before the fault cleared can still fail
    /// after it, by timing out).
    fn recovery_deadline(&self, cleared: Instant) -> Instant {
        let all = self.statuses();
        let recovered = all
            .iter()
            .position(|(t, s, _)| *t >= cleared && s.state() == "live")
            .unwrap_or(all.len());
        let retry = all[..recovered].iter().rev().find_map(|(_, _, r)| *r);
        retry.map_or(cleared, |r| r.max(cleared)) + TICK * 2 + Duration::from_millis(300)
    }

    /// API requests so far, availability checks left out (they run on their own cadence).
    fn api_requests(&self) -> u64 {
        self.sim()
            .requests()
            .iter()
            .filter(|(k, _)| !k.contains("check_available_agents"))
            .map(|(_, n)| n)
            .sum()
    }

    fn describe(&self) -> String {
        self.statuses()
            .iter()
            .map(|(t, s, _)| {
                format!(
                    "  {:>6.2}s {}: {}",
                    t.duration_since(self.started).as_secs_f64(),
                    s.state(),
                    s.problem().map(|p| p.message.as_str()).unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop the keeper: it must have survived, and its subscription must be gone.
    async fn finish(mut self) -> ShutdownReport {
        let keeper = self.keeper.take().unwrap();
        let report = keeper.shutdown().await;
        assert!(
            report.problem.is_none(),
            "shutdown: {report:?}\n{}",
            self.describe()
        );
        assert_eq!(
            self.sim().active_subscriptions(),
            0,
            "the subscription outlived the keeper"
        );
        if let Some(sim) = self.sim.take() {
            sim.stop().await;
        }
        report
    }
}

/// Run a scenario with one fault from `from` to `to` (simulated seconds) and check the common
/// promises: data before the fault, recovery in time after it, and at most `max_requests`
/// API calls while it lasted. Returns the moment data was back.
async fn fault_spell(h: &Harness, from: u64, to: u64, max_requests: u64) -> Instant {
    h.wait_state("live", h.started, Duration::from_secs(5))
        .await;
    sleep_until(h.at(from)).await;
    let before = h.api_requests();
    let cleared = h.at(to);
    sleep_until(cleared).await;
    let during = h.api_requests() - before;
    assert!(
        during <= max_requests,
        "{during} requests during a {}-second fault (at most {max_requests}):\n{:?}\n{}",
        to - from,
        h.sim().requests(),
        h.describe()
    );
    let live = h.wait_state("live", cleared, Duration::from_secs(30)).await;
    let deadline = h.recovery_deadline(cleared);
    assert!(
        live <= deadline,
        "data came back {:.2} s after the fault cleared, {:.2} s later than promised:\n{}",
        live.duration_since(cleared).as_secs_f64(),
        live.duration_since(deadline).as_secs_f64(),
        h.describe()
    );
    live
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn comes_up_live_with_availability_and_dispositions_and_frees_its_slot() {
    let sim = start_sim(sim_config("5.3", "")).await;
    let h = Harness::start(sim, oauth()).await;
    let live = h
        .wait_state("live", h.started, Duration::from_secs(5))
        .await;
    assert_eq!(
        h.states(h.started, live),
        [
            "connecting",
            "authenticating",
            "subscribing",
            "waiting_for_data",
            "live"
        ]
    );
    let snaps = h.snapshots_between(h.started, live + TICK);
    let snap = &snaps
        .first()
        .expect("a snapshot with the first live status")
        .1;
    assert!(snap.services.len() >= 6, "services: {:?}", snap.services);
    assert!(snap.totals.contains_key("in_calls_waiting"));
    // Availability of the configured services is merged into the very first snapshot.
    assert_eq!(
        snap.availability.keys().collect::<Vec<_>>(),
        ["Billing", "Sales"]
    );
    let dispositions = h.keeper().dispositions().borrow().clone();
    assert!(
        dispositions.is_some_and(|d| !d.is_empty()),
        "dispositions are fetched once per session"
    );
    assert_eq!(h.sim().request_count("GET /statsapi/cfg/dispositions"), 1);
    assert_eq!(h.sim().active_subscriptions(), 1);
    let report = h.finish().await;
    assert!(report.deleted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_is_checked_on_its_own_interval_and_merged_into_snapshots() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "0s"
do = "set"
service = "Billing"
stat = "agents_ready"
value = 2

[[event]]
at = "4s"
do = "set"
service = "Billing"
stat = "agents_ready"
value = 0
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = h
        .wait_state("live", h.started, Duration::from_secs(5))
        .await;
    let billing = |t: Instant| {
        h.snapshots_between(h.started, t)
            .last()
            .and_then(|(_, s)| s.availability.get("Billing").copied())
    };
    sleep_until(h.at(4) - Duration::from_millis(200)).await;
    assert_eq!(billing(Instant::now()), Some(true));
    // Checked every 2 s: the change shows in a snapshot within a check and a poll.
    let shows = h.at(4) + Duration::from_secs(2) + TICK + Duration::from_millis(300);
    sleep_until(shows).await;
    assert_eq!(billing(shows), Some(false), "{}", h.describe());
    // Its own cadence: two services every 2 s, not a check per poll.
    let checks = h
        .sim()
        .request_count("GET /statsapi/info/check_available_agents");
    let rounds = Instant::now().duration_since(live).as_secs_f64() / 2.0 + 1.0;
    assert!(
        checks as f64 <= (rounds + 1.0) * 2.0,
        "{checks} checks in {rounds:.1} rounds"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_keep_a_steady_cadence_when_answers_are_slow() {
    // Every answer takes 400 ms: poll starts must stay 1 s apart, not 1.4 s.
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "0s"
do = "slow"
delay = "400ms"
for = "10m"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = h
        .wait_state("live", h.started, Duration::from_secs(10))
        .await;
    sleep_until(live + TICK * 6 + Duration::from_millis(500)).await;
    let snaps = h.snapshots_between(live, live + TICK * 6 + Duration::from_millis(500));
    assert!(snaps.len() >= 6, "{} snapshots in 6.5 s", snaps.len());
    let span = snaps
        .last()
        .unwrap()
        .0
        .duration_since(snaps[0].0)
        .as_secs_f64();
    let mean = span / (snaps.len() - 1) as f64;
    assert!(
        (0.9..1.15).contains(&mean),
        "mean time between polls {mean:.3} s; drifting by the request time would give 1.4 s"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_over_password_session_is_not_fought() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "takeover"
user = "supervisor"
for = "9s"
"#,
    ))
    .await;
    let h = Harness::start(sim, password()).await;
    let logins_before = h.sim().request_count("POST /statsapi/auth");
    let live = fault_spell(&h, 4, 13, 14).await;
    let problems = h.problems(h.at(4), live);
    let taken = problems
        .iter()
        .find(|(k, _)| *k == ProblemKind::TakenOver)
        .unwrap_or_else(|| panic!("no takeover reported:\n{}", h.describe()));
    assert!(
        taken
            .1
            .contains("session taken over by another login of supervisor"),
        "{}",
        taken.1
    );
    assert!(taken.1.contains("OAuth"), "says what to do: {}", taken.1);
    // Fresh logins while the other login holds the user: a handful, not one per poll.
    let logins = h.sim().request_count("POST /statsapi/auth") - logins_before;
    assert!(
        (2..=5).contains(&logins),
        "{logins} logins during a 9-second takeover:\n{}",
        h.describe()
    );
    let states = h.states(h.at(4), live);
    assert_eq!(states.first(), Some(&"live"));
    assert_eq!(
        &states[states.len() - 3..],
        ["subscribing", "waiting_for_data", "live"]
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_is_made_again_at_once() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "drop_subscriptions"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 4, 0).await;
    assert_eq!(
        h.states(h.at(4), live),
        ["live", "subscribing", "waiting_for_data", "live"],
        "{}",
        h.describe()
    );
    assert_eq!(h.sim().request_count("POST /statsapi/subscription"), 2);
    // No new login was needed.
    assert_eq!(h.sim().request_count("POST /configapi/v2/oauth/token"), 1);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_204_spell_waits_and_keeps_the_last_snapshot() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "not_ready"
for = "4s"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 8, 5).await;
    let spell = h.problems(h.at(4), live);
    assert!(spell.is_empty(), "a 204 is not a problem: {spell:?}");
    assert_eq!(
        h.states(h.at(4), live),
        ["live", "waiting_for_data", "live"],
        "{}",
        h.describe()
    );
    // Nothing new while waiting; the latest snapshot stayed the one from before.
    let waiting = h
        .wait_state("waiting_for_data", h.at(4), Duration::ZERO)
        .await;
    assert!(
        h.snapshots_between(waiting, live - Duration::from_millis(1))
            .is_empty()
    );
    assert!(h.keeper().snapshots().borrow().is_some());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_tenant_means_a_long_backoff_until_a_slot_is_free() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "subscription_limit"
limit = 0
for = "7s"

[[event]]
at = "4s"
do = "drop_subscriptions"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 11, 6).await;
    let problems = h.problems(h.at(4), live);
    assert!(!problems.is_empty());
    for (kind, message) in &problems {
        assert_eq!(*kind, ProblemKind::SubscriptionLimit);
        assert!(
            message.contains("limit of active subscriptions"),
            "{message}"
        );
    }
    // The long backoff (shortened for the test to 1.5–3 s, then 3–6 s): the first create, at
    // most three refused in the 7 s, and the one that gets the freed slot.
    let creates = h.sim().request_count("POST /statsapi/subscription");
    assert!(creates <= 5, "{creates} creates:\n{}", h.describe());
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_subscription_fails_until_the_plan_changes() {
    let sim = start_sim(sim_config("5.3", "")).await;
    let clock = Arc::new(TestClock::default());
    let mut plan = Plan::overview();
    plan.services.push("no_such_stat".into());
    let client = client(&sim, oauth());
    let h = Harness::start_with(sim, client, plan, options(&clock), clock);
    let failed = h
        .wait_state("failed", h.started, Duration::from_secs(5))
        .await;
    let (kind, message) = h.problems(failed, failed).pop().unwrap();
    assert_eq!(kind, ProblemKind::SubscriptionRejected);
    assert!(
        message.contains("no_such_stat") && message.contains("rejected the subscription"),
        "the server's own message: {message}"
    );
    // Failed means quiet: nothing is sent until something changes.
    let before = h.api_requests();
    sleep(TICK * 3).await;
    assert_eq!(h.api_requests(), before, "requests while failed");
    h.keeper().set_plan(Plan::overview());
    let changed = Instant::now();
    let live = h.wait_state("live", changed, Duration::from_secs(5)).await;
    assert!(live <= changed + TICK * 2 + Duration::from_millis(300));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_back_off_exponentially_and_recover() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "errors"
status = 503
for = "10s"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    // Polling on would be 10 requests; 1 s doubling to 8 s with full jitter is about 5.
    let live = fault_spell(&h, 4, 14, 7).await;
    let problems = h.problems(h.at(4), live);
    assert!(problems.len() >= 2, "{}", h.describe());
    for (kind, message) in &problems {
        assert_eq!(*kind, ProblemKind::Server);
        assert!(message.contains("503"), "{message}");
    }
    // Attempts count up, and each announced wait stays under its doubling ceiling.
    let reconnecting: Vec<_> = h
        .statuses()
        .into_iter()
        .filter_map(|(t, s, r)| match s {
            ConnectionStatus::Reconnecting { attempt, .. } => Some((t, attempt, r.unwrap())),
            _ => None,
        })
        .collect();
    for (i, (t, attempt, retry)) in reconnecting.iter().enumerate() {
        assert_eq!(*attempt as usize, i + 1);
        let ceiling = BackoffPolicy::SHORT.ceiling(*attempt);
        assert!(
            retry.duration_since(*t) <= ceiling + Duration::from_millis(50),
            "attempt {attempt} waits {:?}, over {ceiling:?}",
            retry.duration_since(*t)
        );
    }
    // After recovery the backoff starts from the beginning again.
    sleep(TICK).await;
    let resumed = Instant::now();
    h.sim().apply(&lookout_sim::Action::Errors {
        status: 500,
        duration: lookout_sim::scenario::Dur(Duration::from_secs(3)),
    });
    let again = h
        .wait_state("reconnecting", resumed, Duration::from_secs(3))
        .await;
    let attempt = h
        .statuses()
        .into_iter()
        .find(|(t, _, _)| *t == again)
        .map(|(_, s, _)| s);
    assert!(
        matches!(
            attempt,
            Some(ConnectionStatus::Reconnecting { attempt: 1, .. })
        ),
        "{attempt:?}"
    );
    h.wait_state("live", again, Duration::from_secs(10)).await;
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_back_off_and_recover() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "slow"
delay = "3s"
for = "6s"
"#,
    ))
    .await;
    let clock = Arc::new(TestClock::default());
    let opts = ClientOptions {
        timeout: Duration::from_millis(1500),
        ..ClientOptions::default()
    };
    let client = Client::new(&sim.url(), oauth(), opts).unwrap();
    let h = Harness::start_with(sim, client, Plan::overview(), options(&clock), clock);
    let live = fault_spell(&h, 4, 10, 6).await;
    let problems = h.problems(h.at(4), live);
    assert!(!problems.is_empty(), "{}", h.describe());
    for (kind, message) in &problems {
        assert_eq!(*kind, ProblemKind::Timeout);
        assert!(message.contains("no answer within 1.5 s"), "{message}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_back_off_and_recover() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "malformed"
for = "5s"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 9, 6).await;
    let before = h.snapshots_between(h.started, h.at(4)).len();
    for (kind, message) in h.problems(h.at(4), live) {
        assert_eq!(kind, ProblemKind::Malformed);
        assert!(message.contains("body is not valid"), "{message}");
    }
    assert!(before > 0);
    assert!(
        h.snapshots_between(
            h.at(4) + Duration::from_millis(100),
            live - Duration::from_millis(1)
        )
        .is_empty(),
        "no snapshot is made from a broken body"
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_back_off_and_recover() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "disconnect"
for = "5s"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 9, 6).await;
    let problems = h.problems(h.at(4), live);
    assert!(!problems.is_empty());
    for (kind, _) in problems {
        assert_eq!(kind, ProblemKind::Network);
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_are_refreshed_before_they_expire_without_a_gap() {
    let mut cfg = sim_config("5.3", "");
    cfg.token_ttl = Duration::from_secs(3);
    let sim = start_sim(cfg).await;
    let h = Harness::start(sim, oauth()).await;
    let live = h
        .wait_state("live", h.started, Duration::from_secs(5))
        .await;
    // Polls at live + 1 s … live + 10 s, each bringing data.
    let end = live + TICK * 10 + Duration::from_millis(300);
    sleep_until(end).await;
    assert_eq!(h.states(live, end), ["live"], "{}", h.describe());
    let snaps = h.snapshots_between(live + Duration::from_millis(500), end);
    assert!(snaps.len() >= 10, "{} snapshots in 10 s", snaps.len());
    let longest = snaps
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0))
        .max()
        .unwrap();
    assert!(
        longest < TICK + Duration::from_millis(300),
        "a gap of {longest:?}"
    );
    // Three-second tokens over ten seconds: refreshed several times.
    assert!(h.sim().request_count("POST /configapi/v2/oauth/token") >= 4);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_means_a_new_login_and_a_new_subscription() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "expire_tokens"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    let live = fault_spell(&h, 4, 4, 0).await;
    assert_eq!(
        h.states(h.at(4), live),
        [
            "live",
            "authenticating",
            "subscribing",
            "waiting_for_data",
            "live"
        ],
        "{}",
        h.describe()
    );
    assert_eq!(h.sim().request_count("POST /configapi/v2/oauth/token"), 2);
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_restart_on_the_same_port_is_survived() {
    let sim = start_sim(sim_config("5.3", "")).await;
    let addr = sim.addr;
    let h = Harness::start(sim, oauth()).await;
    let mut h = h;
    h.wait_state("live", h.started, Duration::from_secs(5))
        .await;
    let down = Instant::now();
    h.sim.take().unwrap().stop().await;
    sleep(Duration::from_secs(3)).await;
    let sim = lookout_sim::start(sim_config("5.3", ""), addr)
        .await
        .unwrap();
    let up = Instant::now();
    h.sim = Some(sim);
    let live = h.wait_state("live", up, Duration::from_secs(20)).await;
    assert!(
        live <= h.recovery_deadline(up),
        "back {:.2} s after the restart:\n{}",
        live.duration_since(up).as_secs_f64(),
        h.describe()
    );
    let states = h.states(down, live);
    assert_eq!(states[..2], ["live", "reconnecting"], "{}", h.describe());
    assert_eq!(
        &states[states.len() - 4..],
        ["authenticating", "subscribing", "waiting_for_data", "live"],
        "the restarted tenant forgot the token:\n{}",
        h.describe()
    );
    for (kind, _) in h.problems(down, up) {
        assert_eq!(kind, ProblemKind::Network);
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_fail_until_the_configuration_changes() {
    let sim = start_sim(sim_config("5.3", "")).await;
    let wrong = Auth::OAuth {
        client_id: "supervisor".into(),
        client_secret: Secret::new("not-the-secret"),
        scope: "demo.lookout.test".into(),
    };
    let clock = Arc::new(TestClock::default());
    let client = client(&sim, wrong);
    let h = Harness::start_with(
        sim,
        client,
        Plan::overview(),
        options(&clock),
        clock.clone(),
    );
    let failed = h
        .wait_state("failed", h.started, Duration::from_secs(5))
        .await;
    let (kind, message) = h.problems(failed, failed).pop().unwrap();
    assert_eq!(kind, ProblemKind::CredentialsRejected);
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(
        !message.contains("not-the-secret"),
        "the secret leaked: {message}"
    );
    sleep(TICK * 2).await;
    assert_eq!(h.api_requests(), 1, "one try, then quiet");
    let fixed = client_for(h.sim(), oauth());
    h.keeper().reconnect(fixed, options(&clock));
    let changed = Instant::now();
    let live = h.wait_state("live", changed, Duration::from_secs(5)).await;
    assert_eq!(
        h.states(failed, live),
        [
            "failed",
            "connecting",
            "authenticating",
            "subscribing",
            "waiting_for_data",
            "live"
        ]
    );
    h.finish().await;
}

fn client_for(sim: &SimHandle, auth: Auth) -> Client {
    client(sim, auth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_password_login_fails_and_says_to_use_oauth() {
    let sim = start_sim(sim_config("5.36", "")).await;
    let h = Harness::start(sim, password()).await;
    let failed = h
        .wait_state("failed", h.started, Duration::from_secs(5))
        .await;
    let (kind, message) = h.problems(failed, failed).pop().unwrap();
    assert_eq!(kind, ProblemKind::LoginRetired);
    assert!(message.contains("switch to OAuth"), "{message}");
    sleep(TICK * 2).await;
    assert_eq!(h.api_requests(), 1);
    let report = h.finish().await;
    assert!(!report.deleted, "there was nothing to delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_jump_cuts_a_long_backoff_short() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "subscription_limit"
limit = 0
for = "2s"

[[event]]
at = "4s"
do = "drop_subscriptions"
"#,
    ))
    .await;
    let clock = Arc::new(TestClock::default());
    let mut opts = options(&clock);
    opts.long_backoff = BackoffPolicy::LONG;
    let client = client(&sim, oauth());
    let h = Harness::start_with(sim, client, Plan::overview(), opts, clock.clone());
    h.wait_state("live", h.started, Duration::from_secs(5))
        .await;
    let backing_off = h
        .wait_state("reconnecting", h.at(4), Duration::from_secs(5))
        .await;
    let (_, _, retry) = h
        .statuses()
        .into_iter()
        .find(|(t, _, _)| *t == backing_off)
        .unwrap();
    assert!(
        retry.unwrap().duration_since(backing_off) >= Duration::from_secs(15),
        "a full tenant waits long"
    );
    // The slot is free again; then the machine "wakes from sleep" an hour later.
    sleep_until(h.at(7)).await;
    clock.jump(3600);
    let jumped = Instant::now();
    let live = h.wait_state("live", jumped, Duration::from_secs(10)).await;
    assert!(
        live <= jumped + TICK * 3 + Duration::from_millis(300),
        "re-checked {:.2} s after the jump",
        live.duration_since(jumped).as_secs_f64()
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_jump_while_live_polls_at_once() {
    let sim = start_sim(sim_config("5.3", "")).await;
    let clock = Arc::new(TestClock::default());
    let mut opts = options(&clock);
    opts.poll_interval = Duration::from_secs(30);
    let client = client(&sim, oauth());
    let h = Harness::start_with(sim, client, Plan::overview(), opts, clock.clone());
    // With 30 s polls the first data would come after 30 s; a jump brings the poll forward.
    h.wait_state("waiting_for_data", h.started, Duration::from_secs(5))
        .await;
    sleep(Duration::from_millis(1500)).await;
    let polls = h.sim().request_count("GET /statsapi/subscription/data");
    clock.jump(-7200);
    let jumped = Instant::now();
    let live = h.wait_state("live", jumped, Duration::from_secs(5)).await;
    assert!(live <= jumped + Duration::from_millis(1500));
    assert_eq!(
        h.sim().request_count("GET /statsapi/subscription/data"),
        polls + 1
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_the_server_hangs() {
    let sim = start_sim(sim_config(
        "5.3",
        r#"
[[event]]
at = "4s"
do = "slow"
delay = "30s"
for = "1m"
"#,
    ))
    .await;
    let h = Harness::start(sim, oauth()).await;
    h.wait_state("live", h.started, Duration::from_secs(5))
        .await;
    sleep_until(h.at(5)).await;
    let mut h = h;
    let keeper = h.keeper.take().unwrap();
    let asked = Instant::now();
    let report = keeper.shutdown().await;
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(3) + Duration::from_millis(800),
        "shutdown took {took:?} with a 3 s limit"
    );
    assert!(!report.deleted);
    assert!(
        report
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("no answer within 3 s")),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_never_brings_the_keeper_down() {
    use std::io::{Read, Write};
    // Each connection gets the next kind of garbage, round and round.
    let answers: [&[u8]; 6] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"access_token\":1}",
        b"",
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"access_token\":\"\xff\xfe\",\"expires_in\":\"-1\"}",
    ];
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answers[n % answers.len()]);
        }
    });
    let clock = Arc::new(TestClock::default());
    let client = Client::new(&url, oauth(), ClientOptions::default()).unwrap();
    let mut keeper = keeper::spawn(client, Plan::overview(), options(&clock));
    let mut changes = keeper.take_changes().unwrap();
    let end = Instant::now() + Duration::from_secs(8);
    let mut seen = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout_at(end, changes.recv()).await {
        seen.push(s);
    }
    let attempts: Vec<u32> = seen
        .iter()
        .filter_map(|s| match s {
            ConnectionStatus::Reconnecting { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert!(attempts.len() >= 4, "{seen:#?}");
    assert_eq!(attempts, (1..=attempts.len() as u32).collect::<Vec<_>>());
    for s in &seen {
        assert!(
            !matches!(
                s,
                ConnectionStatus::Failed { .. } | ConnectionStatus::Live { .. }
            ),
            "{s:?}"
        );
        if let Some(p) = s.problem() {
            assert!(
                matches!(p.kind, ProblemKind::Malformed | ProblemKind::Network),
                "{p:?}"
            );
            assert!(p.message.contains("/configapi/v2/oauth/token"), "{p}");
        }
    }
    let report = keeper.shutdown().await;
    assert_eq!(
        report,
        ShutdownReport {
            deleted: false,
            problem: None
        }
    );
}

/// A token lifetime no clock can hold (`expires_in` near `u64::MAX`, or `"1e30"`) is clamped:
/// the keeper stays alive and live instead of its task panicking on the overflow.
#[tokio::test]
async fn absurd_token_lifetimes_do_not_stop_the_keeper() {
    for lifetime in [serde_json::json!(u64::MAX), serde_json::json!("1e30")] {
        let mut cfg = sim_config("5.3", "");
        cfg.quirks.login_extra = serde_json::json!({ "expires_in": lifetime })
            .as_object()
            .cloned()
            .unwrap();
        let sim = start_sim(cfg).await;
        let client = Client::new(&sim.url(), oauth(), ClientOptions::default()).unwrap();
        let keeper = keeper::spawn(
            client,
            Plan::overview(),
            options(&Arc::new(TestClock::default())),
        );
        let mut snapshots = keeper.snapshots();
        let got = tokio::time::timeout(Duration::from_secs(10), async {
            let mut n = 0;
            while n < 2 {
                snapshots.changed().await.expect("the keeper is alive");
                if snapshots.borrow_and_update().is_some() {
                    n += 1;
                }
            }
        })
        .await;
        assert!(got.is_ok(), "no data with expires_in = {lifetime}");
        let report = keeper.shutdown().await;
        assert!(report.deleted, "{lifetime}: {report:?}");
        sim.stop().await;
    }
}

/// Run the keeper against `sim` until it has delivered a snapshot in which `ready` holds.
async fn snapshot_where(
    sim: &SimHandle,
    options: KeeperOptions,
    ready: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let keeper = keeper::spawn(client(sim, oauth()), Plan::overview(), options);
    let mut snapshots = keeper.snapshots();
    let snap = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            snapshots.changed().await.expect("the keeper is alive");
            if let Some(s) = snapshots.borrow_and_update().clone()
                && ready(&s)
            {
                return s;
            }
        }
    })
    .await
    .expect("the snapshot asked for");
    keeper.shutdown().await;
    snap
}

/// The number in `service`'s row of the services grid, column `stat`.
fn service_number(snap: &Snapshot, service: &str, stat: &str) -> Option<f64> {
    let g = &snap.services;
    let row = (0..g.len()).find(|&r| g.get(r, "name").and_then(|v| v.as_str()) == Some(service))?;
    g.get(row, stat).and_then(|v| v.as_f64())
}

/// A server that sends more chat messages than the subscription asked for is read only as far
/// as it was asked: the snapshot (and every rule) sees at most the plan's limit.
#[tokio::test]
async fn no_more_chat_than_asked_for() {
    let mut cfg = sim_config("5.3", "");
    cfg.quirks.ignore_chat_limit = true;
    let sim = start_sim(cfg).await;
    let limit = Plan::overview().chat_limit.unwrap();
    for i in 0..limit + 70 {
        sim.apply(&lookout_sim::Action::Chat {
            from: None,
            urgent: i % 2 == 0,
            content: format!("message {i}"),
        });
    }
    let opts = options(&Arc::new(TestClock::default()));
    let snap = snapshot_where(&sim, opts, |_| true).await;
    assert_eq!(snap.chat.len(), limit, "{} messages kept", snap.chat.len());
    sim.stop().await;
}

/// A tenant that writes percentages as 0–1 fractions: rules and the overview still see 0–100
/// (`auto` tells from the values). The rules' test `fraction_percentages_reach_the_shipped_rules`
/// runs the shipped service-level rule over such a tenant.
#[tokio::test]
async fn fraction_percentages_reach_the_rules_as_percentages() {
    let mut cfg = sim_config("5.3", "");
    cfg.quirks.fraction_percentages = true;
    let sim = start_sim(cfg).await;
    for (service, level) in [("Support", 70), ("Billing", 92)] {
        sim.pin_service(service, "service_level", level);
        sim.pin_service(service, "service_level_target", 80);
        sim.pin_service(service, "in_calls_received_per_day", 50);
    }
    let opts = options(&Arc::new(TestClock::default()));
    let snap = snapshot_where(&sim, opts, |_| true).await;
    let level = |service: &str, stat: &str| service_number(&snap, service, stat).unwrap();
    assert!((level("Support", "service_level") - 70.0).abs() < 1e-6);
    assert!((level("Billing", "service_level_target") - 80.0).abs() < 1e-6);
    assert_eq!(
        snap.percent_scales
            .get("services.service_level")
            .map(String::as_str),
        Some("0–1 fraction (auto)")
    );
    sim.stop().await;
}

/// Told how the tenant writes them, Lookout reads percentages that way from the first answer.
#[tokio::test]
async fn a_stated_percent_scale_is_used_as_stated() {
    let mut cfg = sim_config("5.3", "");
    cfg.quirks.fraction_percentages = true;
    let sim = start_sim(cfg).await;
    // Only 0 and 1: `auto` cannot tell yet; `fraction` knows 1 is 100 %.
    sim.pin_service("Sales", "service_level", 100);
    let opts = KeeperOptions {
        percent_scale: lookout_keeper::config::PercentScale::Fraction,
        ..options(&Arc::new(TestClock::default()))
    };
    let snap = snapshot_where(&sim, opts, |_| true).await;
    assert_eq!(service_number(&snap, "Sales", "service_level"), Some(100.0));
    sim.stop().await;
}
