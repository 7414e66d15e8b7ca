//! Recording fake servers: an axum one answering scripted replies, and a raw TCP one that reads
//! a request and hangs up without answering.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-case names; every value received.
    pub headers: BTreeMap<String, Vec<String>>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let values = self.headers.get(&name.to_ascii_lowercase())?;
        assert_eq!(values.len(), 1, "header {name} sent {} times", values.len());
        values.first().map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// What the server answers to the next request.
#[derive(Clone, Debug)]
pub enum Reply {
    Json(u16, Value),
    JsonWithHeaders(u16, Value, Vec<(&'static str, &'static str)>),
    Raw {
        status: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
    /// Never answers (the client must time out).
    Hang,
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

pub struct FakeServer {
    pub base: String,
    shared: Arc<Shared>,
}

impl FakeServer {
    pub async fn start(script: Vec<Reply>) -> FakeServer {
        let shared = Arc::new(Shared {
            recorded: Mutex::new(Vec::new()),
            script: Mutex::new(script.into()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeServer { base: format!("http://{addr}"), shared }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    pub fn count(&self, method: &str) -> usize {
        self.requests().iter().filter(|r| r.method == method).count()
    }

    /// The only request received (panics unless exactly one arrived).
    pub fn only(&self) -> Recorded {
        let all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request, got {all:#?}");
        all.into_iter().next().unwrap()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    shared.recorded.lock().unwrap().push(Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let (status, content_type, body, extra) = match reply {
        Some(Reply::Json(s, v)) => (s, "application/json", v.to_string().into_bytes(), vec![]),
        Some(Reply::JsonWithHeaders(s, v, h)) => {
            (s, "application/json", v.to_string().into_bytes(), h)
        }
        Some(Reply::Raw { status, content_type, body }) => (status, content_type, body, vec![]),
        Some(Reply::Hang) => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        None => (599, "text/plain", b"unscripted request".to_vec(), vec![]),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    response.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    for (k, v) in extra {
        response.headers_mut().insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    response
}

/// Reads whole HTTP/1.1 requests and closes the connection without a word.
pub struct HangUpServer {
    pub base: String,
    pub requests: Arc<AtomicUsize>,
}

impl HangUpServer {
    pub async fn start() -> HangUpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else { return };
                let counter = counter.clone();
                tokio::spawn(async move {
                    if read_one_request(&mut socket).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = socket.shutdown().await;
                });
            }
        });
        HangUpServer { base: format!("http://{addr}"), requests }
    }

    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads headers and a Content-Length body; true when a complete request arrived.
async fn read_one_request(socket: &mut tokio::net::TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let Ok(n) = socket.read(&mut chunk).await else { return false };
        if n == 0 {
            return false;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return true;
        }
    }
}

/// A loopback address nothing listens on (bound, then released).
pub async fn closed_port_base() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
