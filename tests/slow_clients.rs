//! The HTTP server under idle and slow clients: connections that never finish their
//! headers, idle keep-alive connections and slow bodies are cut after their timeouts, a
//! flood of them neither exhausts the server nor keeps `/healthz` from answering, and
//! unsafe `?name=` values and malformed webhook updates are refused.

mod common;

use std::time::Duration;

use ecobrief::config::{Config, TelegramMode};
use ecobrief::server::Secrets;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use common::fake_telegram::{FakeTelegram, Limits};
use common::{GROUP, TestApp};

const TOKEN: &str = "t";
/// Longest any one condition below is waited for.
const WAIT: Duration = Duration::from_secs(20);
const MAX_CONNECTIONS: usize = 20;
/// More stalled clients than there are connection slots.
const STALLED: usize = MAX_CONNECTIONS + 10;

/// One-second header timeout, 20 connections, two-second request timeout.
fn tight_limits(c: &mut Config) {
    c.server.header_timeout_seconds = 1;
    c.server.max_connections = MAX_CONNECTIONS as u64;
    c.server.request_timeout_seconds = 2;
}

/// A client that opens a fresh connection for each request, so none of ours sits idle in
/// a pool holding a slot.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn start(fake: &FakeTelegram) -> TestApp {
    TestApp::builder(fake)
        .secrets(Secrets {
            api_token: Some(TOKEN.into()),
            webhook_secret: None,
        })
        .config(tight_limits)
        .start()
        .await
}

/// `GET /healthz` until it answers 200 or `WAIT` is over; how long it took.
async fn healthz_answers(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(r) = client().get(app.url("/healthz")).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < WAIT, "/healthz never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads until the server closes the connection; what it sent. Panics after `WAIT`.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "the server kept the connection open for {WAIT:?}; it sent {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            // A reset is a close too.
            Ok(Err(_)) => return received,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_clients_are_cut_and_cannot_starve_healthz() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = start(&fake).await;
    // Positive control: the server answers before the flood.
    healthz_answers(&app).await;

    let address = app.address.expect("the server runs");
    let opened = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /healthz HTT").await.unwrap();
        stalled.push(stream);
    }
    // Each waits for the server to close it, timed from when they were opened.
    let closes: Vec<_> = stalled
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let sent = read_until_closed(&mut stream).await;
                (opened.elapsed(), sent)
            })
        })
        .collect();

    // More clients stalled than there are slots, and /healthz still answers.
    healthz_answers(&app).await;

    let mut closed_at = Vec::with_capacity(STALLED);
    for close in closes {
        let (at, sent) = close.await.unwrap();
        assert!(
            sent.is_empty(),
            "nothing is answered to a half-sent request: {:?}",
            String::from_utf8_lossy(&sent)
        );
        closed_at.push(at);
    }
    // Cut by the header timeout, not refused on arrival.
    let first = closed_at.iter().min().unwrap();
    assert!(
        *first >= Duration::from_millis(900),
        "a stalled client was cut after {first:?}, before the 1 s header timeout"
    );
    // At most 20 were served at once: the others waited in the backlog for a slot, and
    // their own timeout started only then.
    let late = closed_at
        .iter()
        .filter(|at| **at >= Duration::from_millis(1900))
        .count();
    assert!(
        late >= STALLED - MAX_CONNECTIONS,
        "only {late} of {STALLED} stalled clients waited for a slot: {closed_at:?}"
    );

    // Every slot is free again.
    healthz_answers(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = start(&fake).await;
    let mut stream = TcpStream::connect(app.address.unwrap()).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // Positive control: the request is answered and the connection kept alive.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + WAIT;
    while !answer.ends_with(b"ok\n") {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // Then nothing more: the server closes it after the header timeout.
    let rest = read_until_closed(&mut stream).await;
    assert!(rest.is_empty(), "{rest:?}");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(900),
        "closed after {idle:?}, before the header timeout"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_gets_408() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = start(&fake).await;
    let mut stream = TcpStream::connect(app.address.unwrap()).await.unwrap();
    let sent = Instant::now();
    stream
        .write_all(
            format!(
                "POST /api/items?name=commentary-2026-03-20.txt HTTP/1.1\r\nHost: localhost\r\n\
                 Authorization: Bearer {TOKEN}\r\nContent-Type: text/plain\r\n\
                 Content-Length: 100\r\n\r\n0123456789"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("server.request_timeout_seconds"),
        "{answer}"
    );
    // The headers were complete, so the header timeout (1 s) did not apply; the request
    // timeout (2 s) did.
    assert!(sent.elapsed() >= Duration::from_millis(1900), "{answer}");
    // The server goes on: the same push sent whole is stored.
    let stored = client()
        .post(app.url("/api/items?name=commentary-2026-03-20.txt"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("央行降息，市场情绪回暖。")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 201);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_control_or_bidi_characters_are_refused() {
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = start(&fake).await;
    let push = |name: &'static str| {
        let url = app.url(&format!("/api/items?name={name}"));
        async move {
            let response = client()
                .post(url)
                .bearer_auth(TOKEN)
                .header("content-type", "text/plain")
                .body("央行降息，市场情绪回暖。")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            (status, body)
        }
    };
    for bad in [
        "commentary-2026-03-20%0D%0A.txt",
        "commentary%00-2026-03-20.txt",
        "commentary-2026-03-20%E2%80%AEtxt.exe",
    ] {
        let (status, body) = push(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        let message = body["error"].as_str().unwrap_or_default();
        assert!(
            message.contains("query parameter name") && message.contains("plain file name"),
            "{bad}: {message}"
        );
    }
    let (status, body) = push("commentary-2026-03-20.txt").await;
    assert_eq!(status, 201, "{body}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_webhook_update_is_refused() {
    const SECRET: &str = "webhook-secret_123";
    let fake = FakeTelegram::start(Limits::default()).await;
    let app = TestApp::builder(&fake)
        .secrets(Secrets {
            api_token: None,
            webhook_secret: Some(SECRET.into()),
        })
        .config(|c| {
            tight_limits(c);
            c.telegram.mode = TelegramMode::Webhook;
            c.telegram.webhook_url = Some("https://bot.example.com/telegram/webhook".into());
        })
        .start()
        .await;
    let hook = app.url("/telegram/webhook");
    let post = |body: Vec<u8>| {
        client()
            .post(&hook)
            .header("X-Telegram-Bot-Api-Secret-Token", SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for bad in [
        b"not json\r\nat all".to_vec(),
        br#"{"message": {"text": "no update_id"}}"#.to_vec(),
        vec![0xff, 0xfe, b'{'],
    ] {
        let response = post(bad.clone()).await.unwrap();
        assert_eq!(
            response.status(),
            400,
            "{:?}",
            String::from_utf8_lossy(&bad)
        );
    }
    // Positive control: a real update passes the guard whole and is answered.
    let update = json!({
        "update_id": 1,
        "message": {
            "message_id": 77,
            "date": 1_700_000_000,
            "chat": { "id": GROUP, "type": "supergroup", "title": "Group" },
            "from": { "id": 5001, "is_bot": false, "first_name": "User" },
            "text": "/topic 黄金",
            "entities": [{ "type": "bot_command", "offset": 0, "length": 6 }]
        }
    });
    let response = post(serde_json::to_vec(&update).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let sent = fake
        .wait_for(WAIT, "the /topic reply by webhook", |sent| {
            sent.iter().any(|s| s.text.contains("黄金"))
        })
        .await;
    assert_eq!(sent.len(), 1, "only the real update is handled");
    app.shutdown().await;
}
