//! The HTTP server on a real socket: `/healthz` answered from the store, and a graceful stop.

use std::net::SocketAddr;
use std::time::Duration;

use conjure_gateway::{PgStore, server};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use conjure_test::pg::fresh_database;

/// A hang guard, not a speed assertion: a stop that never comes fails instead of hanging.
const HANG: Duration = Duration::from_secs(60);

/// One request on its own connection; the status code and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.expect("read");
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
}

async fn start(store: PgStore) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    let app = conjure_app::App::new(conjure_app::Config::new(
        std::env::temp_dir().join("conjure-gateway-test-none"),
        std::env::temp_dir().join("conjure-gateway-test-none"),
    ));
    let gateway = conjure_gateway::Gateway::new(store, app, "test");
    let served = tokio::spawn(server::serve(listener, gateway, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, served }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_from_the_store() {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    let running = start(store.clone()).await;
    let (status, body) = get(running.addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["schema_version"], conjure_gateway::store::SCHEMA_VERSION);
    assert_eq!(get(running.addr, "/nothing-here").await.0, 404);
    // The database gone (its connections closed): unavailable, and no URL in the answer.
    store.close().await;
    let (status, body) = get(running.addr, "/healthz").await;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["status"], "unavailable");
    assert!(!body.to_string().contains(&db.name), "{body}");
    let _ = running.stop.send(());
    tokio::time::timeout(HANG, running.served).await.expect("stopped").expect("joined").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_closes_idle_connections_the_listener_and_the_store() {
    let db = fresh_database().await;
    let store = PgStore::connect(&db.url).await.expect("connect");
    let running = start(store.clone()).await;
    // A client that keeps its connection open after an answer must not hold the stop up.
    let mut idle = TcpStream::connect(running.addr).await.expect("connect");
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", running.addr);
    idle.write_all(request.as_bytes()).await.expect("send");
    let mut first = [0_u8; 12];
    idle.read_exact(&mut first).await.expect("an answer");
    assert_eq!(&first, b"HTTP/1.1 200");
    let _ = running.stop.send(());
    tokio::time::timeout(HANG, running.served).await.expect("stopped").expect("joined").unwrap();
    assert!(TcpStream::connect(running.addr).await.is_err(), "still accepting after the stop");
    assert!(store.ping().await.is_err(), "the store's connections were closed");
}
