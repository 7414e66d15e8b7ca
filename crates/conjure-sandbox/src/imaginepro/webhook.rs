//! `webhookOverride`: the final message, POSTed once to a loopback URL.
//!
//! ImaginePro documents only that the payload is the message-fetch object, `ref` included (§9);
//! the method, signature and retries are unknown. The sandbox sends `POST` with a JSON body,
//! no signature, one attempt, and never leaves the machine: only `http://` URLs whose host is
//! a loopback address or `localhost` are called; any other URL is recorded as skipped. The
//! request is written by hand over a `TcpStream` (HTTP/1.1, `Connection: close`) because the
//! sandbox has no HTTP client and needs none for one loopback POST.

use std::net::IpAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

/// `(host:port, path)` of a loopback `http://` URL, or `None` for any other.
pub(crate) fn loopback(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    if authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, p.parse::<u16>().ok()?),
        _ => (authority, 80),
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let is_loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    is_loopback.then(|| (format!("{host}:{port}"), path.to_owned()))
}

/// POSTs `body` to the loopback `url` once; the HTTP status, or why there is none.
pub(crate) async fn post(url: &str, body: &[u8]) -> Result<u16, String> {
    let (authority, path) = loopback(url).ok_or("not a loopback http:// URL")?;
    let call = async {
        let mut stream = TcpStream::connect(authority.as_str()).await.map_err(|e| e.to_string())?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nUser-Agent: conjure-sandbox\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        stream.write_all(body).await.map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.map_err(|e| e.to_string())?;
        let status_line = String::from_utf8_lossy(&answer);
        status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| "no HTTP status in the answer".to_owned())
    };
    tokio::time::timeout(TIMEOUT, call).await.map_err(|_| "timed out".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls_are_called() {
        assert_eq!(
            loopback("http://127.0.0.1:9000/hook?x=1"),
            Some(("127.0.0.1:9000".into(), "/hook?x=1".into()))
        );
        assert_eq!(loopback("http://localhost/h"), Some(("localhost:80".into(), "/h".into())));
        assert_eq!(loopback("http://[::1]:81"), Some(("[::1]:81".into(), "/".into())));
        assert_eq!(loopback("https://127.0.0.1/h"), None);
        assert_eq!(loopback("http://example.com/h"), None);
        assert_eq!(loopback("http://127.0.0.1@example.com/h"), None);
        assert_eq!(loopback("http://10.0.0.1/h"), None);
    }
}
