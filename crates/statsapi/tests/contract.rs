//! Contract tests: the client against the simulated tenant over real HTTP on loopback, for every
//! endpoint, every documented status path and every version profile.

use std::net::SocketAddr;
use std::time::Duration;

use lookout_sim::{Action, Profile, SimConfig, SimHandle, User, demo_user};
use lookout_statsapi::wire::{Flag, OrderBy};
use lookout_statsapi::{
    AppSubscription, Auth, ChatRequest, Client, ClientOptions, Column, DataResponse,
    DispositionFilter, Error, GridRequest, PollOutcome, Secret, StatKey, SubscriptionRequest,
};

fn wallboard_user() -> User {
    User {
        name: "wallboard".into(),
        password: "wb-password".into(),
        api_secret: "wb-secret".into(),
    }
}

async fn sim_with(profile: &str, tweak: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig {
        profile: Profile::named(profile).unwrap(),
        users: vec![demo_user(), wallboard_user()],
        ..SimConfig::default()
    };
    tweak(&mut cfg);
    lookout_sim::start(cfg, "127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .await
        .unwrap()
}

async fn sim(profile: &str) -> SimHandle {
    sim_with(profile, |_| {}).await
}

fn oauth(user: &User) -> Auth {
    Auth::OAuth {
        client_id: user.name.clone(),
        client_secret: Secret::new(&user.api_secret),
        scope: "demo.lookout.test".into(),
    }
}

fn password(user: &User) -> Auth {
    Auth::Password {
        tenant_url: "demo.lookout.test".into(),
        username: user.name.clone(),
        password: Secret::new(&user.password),
    }
}

fn client(sim: &SimHandle, auth: Auth) -> Client {
    client_with(sim, auth, ClientOptions::default())
}

fn client_with(sim: &SimHandle, auth: Auth, opts: ClientOptions) -> Client {
    Client::new(&sim.url(), auth, opts).unwrap()
}

fn timeout_ms(ms: u64) -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(ms),
        ..ClientOptions::default()
    }
}

/// Totals, a service grid, an agent grid and chat, in one app.
fn full_request() -> SubscriptionRequest {
    let services = GridRequest::new(
        "s",
        vec![
            Column::new("1", "name"),
            Column::new("2", "in_calls_waiting"),
            Column::new("3", "agents_ready"),
            Column::new("4", "service_level"),
        ],
    );
    let agents = GridRequest::new(
        "a",
        vec![
            Column::new("1", "login_id"),
            Column::new("2", "acd_state"),
            Column::new("3", "state_duration"),
        ],
    );
    let app = AppSubscription {
        stats_totals: Some(vec!["in_calls_waiting".into(), "agents_logged".into()]),
        service_grids: Some(vec![services]),
        agent_grids: Some(vec![agents]),
        chat_messages: Some(ChatRequest {
            filter: Some(String::new()),
            limit: Some(10.into()),
        }),
        ..Default::default()
    };
    SubscriptionRequest::from([("1".to_string(), app)])
}

/// A client that has logged in and subscribed to [`full_request`].
async fn subscribed(sim: &SimHandle, auth: Auth) -> Client {
    subscribed_with(client(sim, auth)).await
}

async fn subscribed_with(mut c: Client) -> Client {
    c.authenticate().await.unwrap();
    c.create_subscription(&full_request()).await.unwrap();
    c
}

/// Poll until data (the first poll after create is 204).
async fn poll_until_data(c: &Client) -> DataResponse {
    for _ in 0..5 {
        match c.poll_data().await.unwrap() {
            PollOutcome::Data(d) => return d,
            PollOutcome::NotReady => {}
        }
    }
    panic!("no data after 5 polls");
}

/// A whole session: login, create, 204, data, delete, 404.
async fn full_cycle(sim: &SimHandle, mut c: Client) {
    c.authenticate().await.unwrap();
    c.create_subscription(&full_request()).await.unwrap();
    assert_eq!(
        c.poll_data().await.unwrap(),
        PollOutcome::NotReady,
        "204 first"
    );
    let data = poll_until_data(&c).await;
    let app = &data["1"];
    let totals = app.stats_totals.as_ref().unwrap();
    assert!(
        totals["agents_logged"]
            .text()
            .unwrap()
            .parse::<u32>()
            .unwrap()
            > 0
    );
    let services = &app.service_grids.as_ref().unwrap()[0];
    assert_eq!(services.id.as_text(), "s");
    assert_eq!(services.values.len(), 6);
    assert_eq!(services.values[0]["1"].text().unwrap(), "Sales");
    let agents = &app.agent_grids.as_ref().unwrap()[0];
    assert_eq!(agents.values.len(), 40);
    assert!(app.chat_messages.is_some());
    assert_eq!(sim.active_subscriptions(), 1);
    c.delete_subscription().await.unwrap();
    assert_eq!(sim.active_subscriptions(), 0, "the tenant slot is freed");
    assert!(matches!(
        c.poll_data().await,
        Err(Error::NoSubscription { .. })
    ));
}

#[tokio::test]
async fn oauth_session_on_5_3() {
    let s = sim("5.3").await;
    let mut c = client(&s, oauth(&demo_user()));
    let login = c.authenticate().await.unwrap();
    let left = login.expires_at.expect("OAuth has a lifetime") - std::time::Instant::now();
    assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
    full_cycle(&s, c).await;
}

#[tokio::test]
async fn password_session_with_bp_session_cookie() {
    let s = sim("5.3").await;
    full_cycle(&s, client(&s, password(&demo_user()))).await;
}

#[tokio::test]
async fn password_session_with_statsapi_cookie_triple() {
    let s = sim("5.2").await;
    full_cycle(&s, client(&s, password(&demo_user()))).await;
}

#[tokio::test]
async fn stat_name_spelling_falls_back_once_and_sticks() {
    // 3.12 takes only `statName`; the client starts with `stat_name`.
    let s = sim("3.12").await;
    let mut c = client(&s, password(&demo_user()));
    c.authenticate().await.unwrap();
    assert_eq!(c.stat_key(), StatKey::SnakeCase);
    c.create_subscription(&full_request()).await.unwrap();
    assert_eq!(
        c.stat_key(),
        StatKey::CamelCase,
        "the spelling that worked is kept"
    );
    assert_eq!(s.request_count("POST /statsapi/subscription"), 2);
    poll_until_data(&c).await;
    c.create_subscription(&full_request()).await.unwrap();
    assert_eq!(
        s.request_count("POST /statsapi/subscription"),
        3,
        "no retry once known"
    );

    // Without the fallback the rejection, with the server's reason, reaches the caller.
    let mut strict = client_with(
        &s,
        password(&demo_user()),
        ClientOptions {
            stat_key_fallback: false,
            ..ClientOptions::default()
        },
    );
    strict.authenticate().await.unwrap();
    match strict.create_subscription(&full_request()).await {
        Err(Error::SubscriptionRejected {
            error_message: Some(m),
            ..
        }) => assert!(m.contains("stat_name"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stat_name_only_server_with_camel_case_client() {
    let s = sim("5.2").await;
    let c = subscribed_with(client_with(
        &s,
        password(&demo_user()),
        ClientOptions {
            stat_key: StatKey::CamelCase,
            ..ClientOptions::default()
        },
    ))
    .await;
    assert_eq!(c.stat_key(), StatKey::SnakeCase);
}

fn agent_grid(tweak: impl FnOnce(&mut GridRequest)) -> SubscriptionRequest {
    let mut g = GridRequest::new(
        "g",
        vec![
            Column::new("l", "login_id"),
            Column::new("s", "acd_state"),
            Column::new("h", "in_calls_handled_per_day"),
        ],
    );
    tweak(&mut g);
    SubscriptionRequest::from([(
        "x".to_string(),
        AppSubscription {
            agent_grids: Some(vec![g]),
            ..Default::default()
        },
    )])
}

async fn agent_rows(c: &mut Client, req: SubscriptionRequest) -> Vec<(String, String)> {
    c.create_subscription(&req).await.unwrap();
    let data = poll_until_data(c).await;
    data["x"].agent_grids.as_ref().unwrap()[0]
        .values
        .iter()
        .map(|r| {
            (
                r["l"].text().unwrap_or_default().into_owned(),
                r["s"].text().unwrap_or_default().into_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn both_order_forms_limit_and_filter() {
    let s = sim("5.3").await;
    let mut c = client(&s, oauth(&demo_user()));
    c.authenticate().await.unwrap();

    let by_dir = agent_rows(
        &mut c,
        agent_grid(|g| {
            g.order_by = Some("l".into());
            g.order_dir = Some("DESC".into());
        }),
    )
    .await;
    let mut sorted: Vec<String> = by_dir.iter().map(|r| r.0.clone()).collect();
    sorted.sort();
    sorted.reverse();
    assert_eq!(
        by_dir.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        sorted
    );

    let array_form = agent_rows(
        &mut c,
        agent_grid(|g| {
            g.order = Some(vec![OrderBy {
                by: "l".into(),
                dir: Some("ASC".into()),
            }]);
            g.limit = Some(5.into());
        }),
    )
    .await;
    sorted.reverse();
    assert_eq!(
        array_form.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        sorted[..5].to_vec(),
        "order [{{by, dir}}] and limit"
    );

    // The wallboards' "drop logged-out agents" filter: acd_state NE "".
    let filtered = agent_rows(
        &mut c,
        agent_grid(|g| {
            g.filter_by = Some("s".into());
            g.filter_value = Some(String::new());
            g.filter_operation = Some("NE".into());
        }),
    )
    .await;
    assert!(
        !filtered.is_empty() && filtered.len() < 40,
        "{}",
        filtered.len()
    );
    assert!(filtered.iter().all(|r| !r.1.is_empty()));

    // logged_in_agents_only as the string "true", as one real client sends it.
    let logged_in = agent_rows(
        &mut c,
        agent_grid(|g| g.logged_in_agents_only = Some(Flag::Text("true".into()))),
    )
    .await;
    assert_eq!(logged_in.len(), filtered.len());
}

#[tokio::test]
async fn order_array_is_rejected_by_servers_that_predate_it() {
    let s = sim("5.2").await;
    let mut c = client(&s, password(&demo_user()));
    c.authenticate().await.unwrap();
    let req = agent_grid(|g| {
        g.order = Some(vec![OrderBy {
            by: "l".into(),
            dir: None,
        }])
    });
    match c.create_subscription(&req).await {
        Err(Error::SubscriptionRejected {
            status: 400,
            error_message: Some(m),
            ..
        }) => assert!(m.contains("\"order\""), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn sum_columns_and_team_filter() {
    let s = sim("5.3").await;
    let mut c = client(&s, oauth(&demo_user()));
    c.authenticate().await.unwrap();
    let mut sum = Column::new("t", "SUM");
    sum.sum_stat_names = Some(vec!["agents_ready".into(), "agents_busy".into()]);
    let grid = GridRequest::new(
        "s",
        vec![
            Column::new("r", "agents_ready"),
            Column::new("b", "agents_busy"),
            sum,
        ],
    );
    let req = SubscriptionRequest::from([(
        "1".to_string(),
        AppSubscription {
            service_grids: Some(vec![grid]),
            ..Default::default()
        },
    )]);
    c.create_subscription(&req).await.unwrap();
    let data = poll_until_data(&c).await;
    for row in &data["1"].service_grids.as_ref().unwrap()[0].values {
        let n = |k: &str| row[k].text().unwrap().parse::<i64>().unwrap();
        assert_eq!(n("t"), n("r") + n("b"));
    }

    let teams = c.teams().await.unwrap();
    assert_eq!(teams.len(), 3);
    let req = agent_grid(|g| g.team_ids = Some(vec![teams[0].id.clone()]));
    let rows = agent_rows(&mut c, req).await;
    assert!(!rows.is_empty() && rows.len() < 40);
}

#[tokio::test]
async fn unknown_statistic_is_a_400_with_the_servers_message() {
    let s = sim("5.3").await;
    let mut c = client(&s, oauth(&demo_user()));
    c.authenticate().await.unwrap();
    let req = agent_grid(|g| g.columns.push(Column::new("z", "in_ewt_x")));
    let err = c.create_subscription(&req).await.unwrap_err();
    match &err {
        Error::SubscriptionRejected {
            error_code: Some(code),
            error_message: Some(m),
            ..
        } => {
            assert_eq!(code, "2");
            assert!(m.contains("in_ewt_x"), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !err.is_transient(),
        "retrying will not fix a bad subscription"
    );
    assert!(err.to_string().contains("in_ewt_x"));
    // A column that refers to a missing column id is rejected too.
    let req = agent_grid(|g| g.order_by = Some("nope".into()));
    assert!(matches!(
        c.create_subscription(&req).await,
        Err(Error::SubscriptionRejected { .. })
    ));
}

#[tokio::test]
async fn legacy_login_retired_on_5_36() {
    let s = sim("5.36").await;
    let mut c = client(&s, password(&demo_user()));
    let err = c.authenticate().await.unwrap_err();
    assert!(matches!(err, Error::LegacyLoginRetired { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("OAuth") && msg.contains("auth = \"oauth\""),
        "{msg}"
    );
    // OAuth works there.
    full_cycle(&s, client(&s, oauth(&demo_user()))).await;
}

#[tokio::test]
async fn oauth_on_a_server_without_it() {
    let s = sim("5.2").await;
    let err = client(&s, oauth(&demo_user()))
        .authenticate()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::OAuthUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("auth = \"password\""));
}

#[tokio::test]
async fn wrong_credentials_are_rejected_in_both_modes() {
    let s = sim("5.3").await;
    let mut bad = demo_user();
    bad.password = "wrong".into();
    bad.api_secret = "wrong".into();
    for auth in [oauth(&bad), password(&bad)] {
        let err = client(&s, auth).authenticate().await.unwrap_err();
        assert!(matches!(err, Error::AuthRejected { .. }), "{err:?}");
        assert!(!err.is_transient());
        assert!(
            !err.to_string().contains("wrong"),
            "no secret in messages: {err}"
        );
    }
}

#[tokio::test]
async fn tenant_subscription_limit_409_then_freed() {
    let s = sim_with("5.3", |c| c.subscription_limit = 1).await;
    let mut a = subscribed(&s, oauth(&demo_user())).await;
    let mut b = client(&s, password(&wallboard_user()));
    b.authenticate().await.unwrap();
    let err = b.create_subscription(&full_request()).await.unwrap_err();
    assert!(matches!(err, Error::SubscriptionLimit { .. }), "{err:?}");
    assert!(err.to_string().contains("limit of active subscriptions"));
    // Replacing one's own subscription is not a new one.
    a.create_subscription(&full_request()).await.unwrap();
    a.delete_subscription().await.unwrap();
    b.create_subscription(&full_request()).await.unwrap();
}

#[tokio::test]
async fn dropped_subscriptions_give_404_then_recreate_works() {
    let s = sim("5.3").await;
    let mut c = subscribed(&s, oauth(&demo_user())).await;
    poll_until_data(&c).await;
    s.apply(&Action::DropSubscriptions);
    assert!(matches!(
        c.poll_data().await,
        Err(Error::NoSubscription { .. })
    ));
    c.create_subscription(&full_request()).await.unwrap();
    poll_until_data(&c).await;
}

#[tokio::test]
async fn a_second_login_of_the_same_user_ends_the_first() {
    let s = sim("5.3").await;
    let first = subscribed(&s, password(&demo_user())).await;
    poll_until_data(&first).await;
    let mut second = client(&s, password(&demo_user()));
    second.authenticate().await.unwrap();
    let err = first.poll_data().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    // The second login has a session of its own.
    second.create_subscription(&full_request()).await.unwrap();
}

#[tokio::test]
async fn takeover_and_token_expiry_give_401() {
    let s = sim("5.3").await;
    let legacy = subscribed(&s, password(&demo_user())).await;
    s.apply(&Action::Takeover {
        user: Some("supervisor".into()),
        duration: None,
    });
    assert!(matches!(
        legacy.poll_data().await,
        Err(Error::Unauthorized { .. })
    ));

    let mut c = subscribed(&s, oauth(&demo_user())).await;
    s.apply(&Action::ExpireTokens);
    assert!(matches!(
        c.poll_data().await,
        Err(Error::Unauthorized { .. })
    ));
    // A fresh token serves the same OAuth user's subscription.
    c.authenticate().await.unwrap();
    poll_until_data(&c).await;
}

#[tokio::test]
async fn lookups_and_availability() {
    let s = sim("5.3").await;
    let mut c = client(&s, oauth(&demo_user()));
    // Availability needs no login.
    assert!(c.check_available_agents("Sales").await.is_ok());
    let err = c
        .check_available_agents("No Such Service")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(matches!(c.teams().await, Err(Error::Unauthorized { .. })));
    c.authenticate().await.unwrap();
    let services = c.services().await.unwrap();
    assert_eq!(
        services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        [
            "Sales",
            "Support",
            "Billing",
            "Support Chat",
            "VIP",
            "Retention"
        ]
    );
    assert_eq!(c.agents().await.unwrap().len(), 40);
    let all = c.dispositions(DispositionFilter::default()).await.unwrap();
    assert!(all.contains(&"Product sold".to_string()));
    let selectable = c
        .dispositions(DispositionFilter {
            agent_can_select: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(selectable.len() < all.len(), "the flags narrow the list");

    // Availability follows the agents: hold everyone on Billing in a meeting.
    s.apply(&Action::Agents {
        service: Some("Billing".into()),
        team: None,
        logins: None,
        count: None,
        state: "not_ready".into(),
        reason: None,
        duration: None,
    });
    assert!(!c.check_available_agents("Billing").await.unwrap());
}

#[tokio::test]
async fn chat_filter_and_limit() {
    let s = sim("5.3").await;
    for (i, urgent) in [(1, false), (2, true), (3, false)] {
        s.apply(&Action::Chat {
            from: None,
            urgent,
            content: format!("message {i} about refunds"),
        });
    }
    s.apply(&Action::Chat {
        from: None,
        urgent: true,
        content: "unrelated <b>bold</b>".into(),
    });
    let mut c = client(&s, oauth(&demo_user()));
    c.authenticate().await.unwrap();
    let req = SubscriptionRequest::from([(
        "c".to_string(),
        AppSubscription {
            chat_messages: Some(ChatRequest {
                filter: Some("refunds".into()),
                limit: Some(2.into()),
            }),
            ..Default::default()
        },
    )]);
    c.create_subscription(&req).await.unwrap();
    let data = poll_until_data(&c).await;
    let app = &data["c"];
    assert!(
        app.stats_totals.is_none() && app.agent_grids.is_none(),
        "only what was asked"
    );
    let msgs = app.chat_messages.as_ref().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(
        msgs[0].content.text().unwrap(),
        "message 3 about refunds",
        "newest first"
    );
    assert_eq!(msgs[1].is_urgent.text().unwrap(), "1");
}

#[tokio::test]
async fn faults_map_to_typed_errors() {
    let s = sim("5.3").await;
    let c = subscribed_with(client_with(&s, oauth(&demo_user()), timeout_ms(500))).await;
    poll_until_data(&c).await;
    let dur = |s: u64| lookout_sim::scenario::Dur(Duration::from_secs(s));

    s.apply(&Action::Errors {
        status: 503,
        duration: dur(60),
    });
    let err = c.poll_data().await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 503, .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(err.to_string().contains("/statsapi/subscription/data"));

    let s2 = sim("5.3").await;
    let c2 = subscribed_with(client_with(&s2, oauth(&demo_user()), timeout_ms(500))).await;
    poll_until_data(&c2).await;
    s2.apply(&Action::Malformed { duration: dur(60) });
    let err = c2.poll_data().await.unwrap_err();
    match &err {
        Error::Decode {
            excerpt, status, ..
        } => {
            assert_eq!(*status, 200);
            assert!(excerpt.contains("service_grids"), "{excerpt}");
        }
        other => panic!("{other:?}"),
    }

    let s3 = sim("5.3").await;
    let c3 = client_with(&s3, oauth(&demo_user()), timeout_ms(300));
    s3.apply(&Action::Slow {
        delay: lookout_sim::scenario::Dur(Duration::from_secs(2)),
        duration: dur(60),
    });
    let err = c3.check_available_agents("Sales").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within"));

    let s4 = sim("5.3").await;
    let c4 = client(&s4, oauth(&demo_user()));
    s4.apply(&Action::Disconnect { duration: dur(60) });
    let err = c4.check_available_agents("Sales").await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn oversized_bodies_are_not_read() {
    let s = sim("5.3").await;
    let c = subscribed_with(client_with(
        &s,
        oauth(&demo_user()),
        ClientOptions {
            max_body_bytes: 1_000,
            ..ClientOptions::default()
        },
    ))
    .await;
    let _ = c.poll_data().await; // 204
    let err = c.poll_data().await.unwrap_err();
    assert!(
        matches!(err, Error::BodyTooLarge { limit: 1_000, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn subscription_requests_keep_the_not_ready_window() {
    let s = sim_with("5.3", |c| c.ready_after_polls = 3).await;
    let mut c = subscribed(&s, oauth(&demo_user())).await;
    for _ in 0..3 {
        assert_eq!(c.poll_data().await.unwrap(), PollOutcome::NotReady);
    }
    assert!(matches!(c.poll_data().await.unwrap(), PollOutcome::Data(_)));
    // A new POST restarts the cache: not ready again.
    c.create_subscription(&full_request()).await.unwrap();
    assert_eq!(c.poll_data().await.unwrap(), PollOutcome::NotReady);
}

#[tokio::test]
async fn a_restarted_tenant_on_the_same_port_forgets_sessions() {
    let s = sim("5.3").await;
    let addr = s.addr;
    let mut c = subscribed(&s, oauth(&demo_user())).await;
    s.stop().await;
    assert!(matches!(c.poll_data().await, Err(Error::Transport { .. })));
    let cfg = SimConfig {
        users: vec![demo_user()],
        ..SimConfig::default()
    };
    let _s2 = lookout_sim::start(cfg, addr).await.unwrap();
    assert!(matches!(
        c.poll_data().await,
        Err(Error::Unauthorized { .. })
    ));
    c.authenticate().await.unwrap();
    assert!(matches!(
        c.poll_data().await,
        Err(Error::NoSubscription { .. })
    ));
}

#[tokio::test]
async fn a_value_set_again_and_again_answers_the_latest_and_answers_are_counted() {
    let s = sim("5.3").await;
    let c = subscribed(&s, oauth(&demo_user())).await;
    let set = |value: i64, secs: Option<u64>| Action::Set {
        service: Some("Sales".into()),
        agent: None,
        totals: false,
        stat: "in_calls_waiting".into(),
        value: toml::Value::Integer(value),
        duration: secs.map(|s| lookout_sim::scenario::Dur(Duration::from_secs(s))),
    };
    let waiting = |d: &DataResponse| -> String {
        let sales = &d["1"].service_grids.as_ref().unwrap()[0].values[0];
        sales["2"].text().unwrap().to_string()
    };
    let before = s.data_answers();
    assert_eq!(c.poll_data().await.unwrap(), PollOutcome::NotReady);
    assert_eq!(s.data_answers(), before, "a 204 is no data answer");
    for i in 0..100 {
        s.apply(&set(i % 2, None));
    }
    s.apply(&set(42, None));
    assert_eq!(waiting(&poll_until_data(&c).await), "42");
    let counted = s.apply_counting(&set(9, Some(1)));
    assert_eq!(counted, before + 1, "one answer with values so far");
    assert_eq!(
        waiting(&poll_until_data(&c).await),
        "9",
        "the newer pin, for a while"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        waiting(&poll_until_data(&c).await),
        "42",
        "once the timed pin is over, the value set for good is back"
    );
    assert_eq!(s.data_answers(), before + 3);
}

fn quirky_login(fields: serde_json::Value) -> impl FnOnce(&mut SimConfig) {
    move |c| c.quirks.login_extra = fields.as_object().cloned().unwrap_or_default()
}

/// A login answer holds a token, so it is never quoted in an error (a warning, the overview,
/// stderr): odd fields that do not matter are read past, and an answer that cannot be used is
/// refused by saying where it is wrong, not what it says.
#[tokio::test]
async fn login_answers_are_never_quoted() {
    // Odd but usable: a lifetime written as a float, a numeric user id.
    let s = sim_with(
        "5.3",
        quirky_login(serde_json::json!({"expires_in": 3600.0, "user_id": 42})),
    )
    .await;
    let login = client(&s, oauth(&demo_user()))
        .authenticate()
        .await
        .expect("an OAuth answer with `expires_in: 3600.0`");
    assert!(login.expires_at.is_some(), "the lifetime is read");
    client(&s, password(&demo_user()))
        .authenticate()
        .await
        .expect("a legacy answer with a numeric `user_id`");

    // Unusable: the token is not a string. The answer around it must not be shown.
    let s = sim_with(
        "5.3",
        quirky_login(serde_json::json!({"access_token": 98765, "id_token": "idt-SECRET-idt"})),
    )
    .await;
    let err = client(&s, oauth(&demo_user()))
        .authenticate()
        .await
        .unwrap_err();
    let shown = format!("{err} / {err:?}");
    assert!(matches!(err, Error::Decode { .. }), "{shown}");
    assert!(shown.contains("/configapi/v2/oauth/token"), "{shown}");
    for leak in ["98765", "SECRET", "{\"", "Bearer", "expires_in\":"] {
        assert!(!shown.contains(leak), "`{leak}` in: {shown}");
    }
}

/// A proxy's error page becomes a short summary: the status and the page's title, not a
/// screenful of markup in the overview and the logs.
#[tokio::test]
async fn html_error_pages_become_a_status_and_a_title() {
    let s = sim("5.3").await;
    let c = subscribed_with(client_with(&s, oauth(&demo_user()), timeout_ms(500))).await;
    poll_until_data(&c).await;
    s.apply(&Action::Errors {
        status: 503,
        duration: lookout_sim::scenario::Dur(Duration::from_secs(60)),
    });
    let err = c.poll_data().await.unwrap_err().to_string();
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(
        err.contains("“503 Service Unavailable”"),
        "the title: {err}"
    );
    assert!(!err.contains('<'), "no markup: {err}");
    assert!(err.len() < 160, "short: {err}");
}
