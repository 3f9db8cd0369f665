//! The wire types against the example bodies in the spec (requests and responses): each parses
//! and serializes back to equivalent JSON. And bad bodies from a raw HTTP server: each is a typed
//! error or tolerated, never a panic.

use lookout_statsapi::wire::{
    AvailabilityBody, DispositionsBody, LegacyAuthResponse, NamedRef, StatKey, TokenResponse,
    set_stat_key,
};
use lookout_statsapi::{
    Auth, Cell, Client, ClientOptions, DataResponse, Error, PollOutcome, Secret,
    SubscriptionRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn round_trip<T: DeserializeOwned + Serialize>(json: &str) -> T {
    let original: Value = serde_json::from_str(json).expect("the example is JSON");
    let typed: T = serde_json::from_str(json).expect("the wire type reads the example");
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, original, "round trip changed the body");
    typed
}

/// Postman example request (5.x era): three apps, `statName`, `order: [{by, dir}]`, numeric id,
/// flags as booleans, totals filters.
const PM_REQUEST: &str = r#"{
  "1": {"agent_grids": [{"id": "1", "team_ids": ["6E3A2B2E-0B35-4E2C-8D3A-2F6C2D8B1A11"], "limit": 1000,
        "columns": [{"id": "1", "statName": "first_last_name"}, {"id": "2", "statName": "extension"},
                    {"id": "3", "statName": "acd_next_state"}, {"id": "4", "statName": "login_time"},
                    {"id": 5, "statName": "acd_state"}],
        "order": [{"by": "1", "dir": "DESC"}], "service_ids": [], "my_subteam_only": false,
        "logged_in_agents_only": false}]},
  "2": {"stats_totals": ["in_calls_waiting"],
        "stats_totals_service_ids": ["A1", "A2", "A3", "A4"], "stats_totals_dispositions": []},
  "3": {"stats_totals": ["in_average_speed_of_answer"],
        "stats_totals_service_ids": ["A1", "A2", "A3", "A4"], "stats_totals_dispositions": []}
}"#;

/// A BP engineer's captured request (2022): `stat_name`, gaps in column ids, a string flag.
const SL_REQUEST: &str = r#"{"1":{"agent_grids":[{"id":"1","columns":[{"id":"1","stat_name":"login_id"},{"id":"3","stat_name":"lastname"},{"id":"4","stat_name":"firstname"},{"id":"5","stat_name":"acd_state"},{"id":"6","stat_name":"reason"}],"logged_in_agents_only":"false","team_ids":["T1","T2","T3"]}]}}"#;

/// The documented template's keys: SUM with sum_stat_names, dispositions, order_by/order_dir,
/// string limit, filters, chat.
const DOC_REQUEST: &str = r#"{"app": {
  "stats_totals": ["in_calls_waiting"],
  "service_grids": [{"id": "1", "columns": [{"id": "1", "stat_name": "name"},
        {"id": "2", "stat_name": "SUM", "sum_stat_names": ["agents_ready", "agents_busy"]}],
     "order_by": "2", "order_dir": "ASC", "limit": "10", "filter_by": "1", "filter_value": "Sales",
     "filter_operation": "NE"}],
  "agent_grids": [{"id": "2", "columns": [{"id": "1", "stat_name": "calls_dispositions_per_day",
        "dispositions": ["Product sold", "Wrong number"]}]}],
  "chat_messages": {"filter": "", "limit": "6"}
}}"#;

/// 5.3 description page data example, and the SL capture.
const DOC_DATA: &str = r#"{"1":{"service_grids":[{"id":"1","values":[{"1":"Customer Service","2":"200","3":"0"},{"1":"Customer Service Chat","2":"200","3":"0"}]}]}}"#;
const SL_DATA: &str = r#"{"1":{"agent_grids":[{"id":"1","values":[{"1":"diana.yeh","3":"Yeh","4":"Diana","5":"","6":""},{"1":"omar.h","3":"Haddad","4":"Omar","5":"ready","6":""}]}]}}"#;
/// Postman example response: all four sections, a blank total, chat with urgency as a string.
const PM_DATA: &str = r#"{"example.subscription.string": {
  "stats_totals": {"agents_logged": "2", "agents_ready": "1", "in_average_speed_of_answer": ""},
  "service_grids": [{"id": "1", "values": [{"1": "Chat Service", "2": "0"}, {"1": "Voice Inbound", "2": "1"}]}],
  "agent_grids": [{"id": "2", "values": [{"1": "0", "2": "1"}]}],
  "chat_messages": [{"id": "17", "login_id": "diana.yeh", "first_name": "Diana", "last_name": "Yeh",
      "send_time": "2026-11-28 10:00:00", "is_urgent": "1", "content": "need help"}]
}}"#;

#[test]
fn subscription_requests_round_trip() {
    let pm: SubscriptionRequest = round_trip(PM_REQUEST);
    assert_eq!(pm.len(), 3);
    let grid = &pm["1"].agent_grids.as_ref().unwrap()[0];
    assert_eq!(grid.columns[4].key, StatKey::CamelCase);
    assert_eq!(grid.columns[4].id.as_text(), "5");
    assert_eq!(grid.limit.as_ref().unwrap().as_number(), Some(1000));
    let sl: SubscriptionRequest = round_trip(SL_REQUEST);
    let g = &sl["1"].agent_grids.as_ref().unwrap()[0];
    assert!(!g.logged_in_agents_only.as_ref().unwrap().is_true());
    assert_eq!(g.columns[1].id.as_text(), "3");
    let doc: SubscriptionRequest = round_trip(DOC_REQUEST);
    let sg = &doc["app"].service_grids.as_ref().unwrap()[0];
    assert_eq!(sg.columns[1].sum_stat_names.as_ref().unwrap().len(), 2);
    assert_eq!(sg.limit.as_ref().unwrap().as_number(), Some(10));
}

#[test]
fn the_stat_key_spelling_is_switchable() {
    let mut req: SubscriptionRequest = serde_json::from_str(SL_REQUEST).unwrap();
    set_stat_key(&mut req, StatKey::CamelCase);
    let text = serde_json::to_string(&req).unwrap();
    assert!(text.contains("\"statName\":\"login_id\"") && !text.contains("stat_name"));
    let both = r#"{"id":"1","stat_name":"a","statName":"b"}"#;
    let err = serde_json::from_str::<lookout_statsapi::Column>(both).unwrap_err();
    assert!(err.to_string().contains("both"));
}

#[test]
fn data_responses_round_trip() {
    let d: DataResponse = round_trip(DOC_DATA);
    assert_eq!(d["1"].service_grids.as_ref().unwrap()[0].values.len(), 2);
    let d: DataResponse = round_trip(SL_DATA);
    let row = &d["1"].agent_grids.as_ref().unwrap()[0].values[0];
    assert_eq!(row["5"], Cell::Text(String::new()));
    assert_eq!(row["5"].text(), None, "\"\" is no value");
    let d: DataResponse = round_trip(PM_DATA);
    let app = &d["example.subscription.string"];
    assert_eq!(
        app.chat_messages.as_ref().unwrap()[0]
            .is_urgent
            .text()
            .unwrap(),
        "1"
    );
}

#[test]
fn auth_and_lookup_bodies_round_trip() {
    let t: TokenResponse = round_trip(
        r#"{"access_token":"15490315E83E4F0A8C7B6D5E4F3A2B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E1AF9","token_type":"Bearer","expires_in":"3600","scope":"yourcompany.brightpattern.com"}"#,
    );
    assert_eq!(t.expires_in.unwrap().seconds(), Some(3600));
    let t: TokenResponse =
        round_trip(r#"{"access_token":"X","token_type":"Bearer","expires_in":3264}"#);
    assert_eq!(t.expires_in.as_ref().unwrap().seconds(), Some(3264));
    assert!(
        !format!("{t:?}").contains("\"X\""),
        "tokens stay out of Debug"
    );
    let l: LegacyAuthResponse = round_trip(
        r#"{"token":"552B7CF9-B2D7-4966-A446-CEAFB1028AD8","privileges":[],"user_id":"3F540B8B-5BBB-477B-B8FB-C6BF400795C3"}"#,
    );
    assert_eq!(l.privileges, Some(serde_json::json!([])));
    let _: LegacyAuthResponse = round_trip(r#"{"token":"T"}"#);
    let d: DispositionsBody = round_trip(r#"["Agent failure","Product sold"]"#);
    assert_eq!(d.into_names().len(), 2);
    let d: DispositionsBody = round_trip(r#"{"dispositions":["Product sold"]}"#);
    assert_eq!(d.into_names(), ["Product sold"]);
    let a: AvailabilityBody = round_trip(r#"{"availability":true}"#);
    assert!(a.availability.is_true());
    let _: Vec<NamedRef> = round_trip(r#"[{"id":"T1","name":"Customer Service"}]"#);
}

#[test]
fn odd_but_tolerable_data() {
    // Unknown keys, numbers and nulls as values, a nested value in a cell, missing sections.
    let body = r#"{"1":{"stats_totals":{"a":3,"b":null,"c":1.5,"d":true},
        "service_grids":[{"id":1,"values":[{"1":{"nested":[1,2]},"2":["x"]}],"extra":1}],
        "surprise":{"x":1}},
      "2":{}}"#;
    let d: DataResponse = serde_json::from_str(body).unwrap();
    let totals = d["1"].stats_totals.as_ref().unwrap();
    assert_eq!(totals["a"].text().unwrap(), "3");
    assert_eq!(totals["b"].text(), None);
    assert_eq!(totals["c"].text().unwrap(), "1.5");
    let row = &d["1"].service_grids.as_ref().unwrap()[0].values[0];
    assert_eq!(row["1"], Cell::Unsupported);
    assert_eq!(row["2"], Cell::Unsupported);
    assert!(d["2"].stats_totals.is_none() && d["2"].agent_grids.is_none());
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    for body in [
        r#"[]"#,
        r#"{"1":{"service_grids":{"id":"1"}}}"#,
        r#"{"1":{"service_grids":[{"values":[]}]}}"#,
        r#"{"1":{"service_grids":[{"id":"1","values":"x"}]}}"#,
        r#"{"1":{"stats_totals":["a"]}}"#,
        r#"{"1":{"chat_messages":[1]}}"#,
        "",
        "{",
        "\u{0}\u{1}",
    ] {
        assert!(
            serde_json::from_str::<DataResponse>(body).is_err(),
            "{body:?}"
        );
    }
}

/// A server that answers every request with the same raw HTTP response.
async fn raw_server(response: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let _ = sock.write_all(&response).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn http(status: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn client_for(url: &str) -> Client {
    Client::new(
        url,
        Auth::Password {
            tenant_url: "t".into(),
            username: "u".into(),
            password: Secret::new("p"),
        },
        ClientOptions {
            max_body_bytes: 64 * 1024,
            ..ClientOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn bad_bodies_over_real_http() {
    // Malformed JSON on a data poll.
    let c = client_for(&raw_server(http("200 OK", b"{\"1\": {\"agent_gri")).await);
    match c.poll_data().await.unwrap_err() {
        Error::Decode {
            endpoint, excerpt, ..
        } => {
            assert!(endpoint.starts_with("GET http://127.0.0.1:"));
            assert!(endpoint.ends_with("/statsapi/subscription/data"));
            assert!(excerpt.contains("agent_gri"));
        }
        other => panic!("{other:?}"),
    }
    // Wrong types.
    let c = client_for(&raw_server(http("200 OK", br#"{"1":{"service_grids":"no"}}"#)).await);
    assert!(matches!(c.poll_data().await, Err(Error::Decode { .. })));
    // Unknown fields and missing sections are fine.
    let c = client_for(&raw_server(http("200 OK", br#"{"1":{"new_section":[1]}}"#)).await);
    assert!(matches!(c.poll_data().await, Ok(PollOutcome::Data(_))));
    // Oversized, announced by Content-Length, and streamed without one.
    let big = vec![b' '; 100 * 1024];
    let c = client_for(&raw_server(http("200 OK", &big)).await);
    assert!(matches!(
        c.poll_data().await,
        Err(Error::BodyTooLarge { .. })
    ));
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..100 {
        chunked.extend_from_slice(b"400\r\n");
        chunked.extend_from_slice(&[b' '; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let c = client_for(&raw_server(chunked).await);
    assert!(matches!(
        c.poll_data().await,
        Err(Error::BodyTooLarge { .. })
    ));
    // A 200 login with no token and no cookie.
    let mut c = client_for(&raw_server(http("200 OK", br#"{"token":""}"#)).await);
    assert!(matches!(c.authenticate().await, Err(Error::Decode { .. })));
    // Not HTTP at all.
    let c = client_for(&raw_server(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()).await);
    assert!(matches!(c.poll_data().await, Err(Error::Transport { .. })));
    // An undocumented status, with an HTML body.
    let c = client_for(&raw_server(http("502 Bad Gateway", b"<html>bad gateway</html>")).await);
    let err = c.poll_data().await.unwrap_err();
    assert!(matches!(err, Error::Status { status: 502, .. }));
    assert!(err.to_string().contains("bad gateway"), "{err}");
    // A 400 on create without the documented error body still says something.
    let mut c = client_for(&raw_server(http("400 Bad Request", b"no")).await);
    let err = c
        .create_subscription(&serde_json::from_str(SL_REQUEST).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no"), "{err}");
    // Nothing listening.
    let c = client_for("http://127.0.0.1:9");
    assert!(matches!(c.poll_data().await, Err(Error::Transport { .. })));
}
