//! The guarded client against a tiny HTTP/1.1 server on a loopback port.

use refvid_media::{FetchError, FetchPolicy, GuardedHttp};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HELLO: &[u8] = b"hello reference";

/// Starts the server; returns its port.
async fn serve() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, port));
        }
    });
    port
}

async fn read_request(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn response(status: &str, headers: &[(&str, String)], body: &[u8], sized: bool) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    if sized {
        head += &format!("content-length: {}\r\n", body.len());
    }
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    let mut out = (head + "\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

async fn answer(mut stream: TcpStream, port: u16) {
    let request = read_request(&mut stream).await;
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let redirect = |to: String| response("302 Found", &[("location", to)], b"", true);
    let bytes = match path.as_str() {
        "/ok" => response("200 OK", &[], HELLO, true),
        "/big" => response("200 OK", &[], &[7u8; 5000], true),
        "/big-unsized" => response("200 OK", &[], &[7u8; 5000], false),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            response("200 OK", &[], HELLO, true)
        }
        "/to-ok" => redirect("/ok".into()),
        "/to-other-loopback" => redirect(format!("http://127.0.0.2:{port}/ok")),
        "/to-private" => redirect("http://10.0.0.1/ok".into()),
        "/to-hex-loopback" => redirect(format!("http://0x7f.0.0.2:{port}/ok")),
        "/loop" => redirect("/loop".into()),
        "/hook" if request.starts_with("POST") => response("201 Created", &[], b"", true),
        _ => response("404 Not Found", &[], b"", true),
    };
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

fn open() -> GuardedHttp {
    GuardedHttp::new(FetchPolicy {
        allow_private_networks: true,
        ..FetchPolicy::default()
    })
    .unwrap()
}

fn guarded() -> GuardedHttp {
    GuardedHttp::new(FetchPolicy::default()).unwrap()
}

/// The guard on, except that 127.0.0.1 counts as public: lets redirects be tested.
fn only_127_0_0_1_is_public() -> GuardedHttp {
    fn accept(ip: IpAddr) -> bool {
        ip == IpAddr::V4(Ipv4Addr::LOCALHOST)
    }
    GuardedHttp::with_guard(FetchPolicy::default(), accept).unwrap()
}

#[tokio::test]
async fn loopback_is_refused_when_the_guard_is_on() {
    let port = serve().await;
    for url in [
        format!("http://127.0.0.1:{port}/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        format!("http://2130706433:{port}/ok"),
        format!("http://0x7f.1:{port}/ok"),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let err = guarded().get_bytes(&url).await.unwrap_err();
        assert!(matches!(err, FetchError::Blocked(_)), "{url}: {err}");
        assert!(err.to_string().contains("not a public address"), "{err}");
    }
    let err = guarded()
        .post_json(&format!("http://127.0.0.1:{port}/hook"), b"{}", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Blocked(_)), "{err}");
}

#[tokio::test]
async fn loopback_is_allowed_with_allow_private_networks() {
    let port = serve().await;
    let body = open()
        .get_bytes(&format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap();
    assert_eq!(&body[..], HELLO);
    let body = open()
        .get_bytes(&format!("http://localhost:{port}/to-ok"))
        .await
        .unwrap();
    assert_eq!(&body[..], HELLO);
    let headers = [("x-refvid-signature".to_string(), "abc".to_string())];
    let status = open()
        .post_json(&format!("http://127.0.0.1:{port}/hook"), b"{}", &headers)
        .await
        .unwrap();
    assert_eq!(status, 201);
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    let port = serve().await;
    let http = only_127_0_0_1_is_public();
    let body = http
        .get_bytes(&format!("http://127.0.0.1:{port}/to-ok"))
        .await
        .unwrap();
    assert_eq!(&body[..], HELLO);
    for (path, host) in [
        ("to-other-loopback", "127.0.0.2"),
        ("to-private", "10.0.0.1"),
        ("to-hex-loopback", "127.0.0.2"),
    ] {
        let err = http
            .get_bytes(&format!("http://127.0.0.1:{port}/{path}"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::Blocked(h) if h == host),
            "{path}: {err}"
        );
    }
}

#[tokio::test]
async fn redirect_loops_stop_at_the_limit() {
    let port = serve().await;
    let err = open()
        .get_bytes(&format!("http://127.0.0.1:{port}/loop"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::TooManyRedirects(3)), "{err}");
}

#[tokio::test]
async fn the_byte_cap_holds_with_and_without_content_length() {
    let port = serve().await;
    let policy = FetchPolicy {
        allow_private_networks: true,
        max_bytes: 1000,
        ..FetchPolicy::default()
    };
    let http = GuardedHttp::new(policy.clone()).unwrap();
    for path in ["big", "big-unsized"] {
        let err = http
            .get_bytes(&format!("http://127.0.0.1:{port}/{path}"))
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::TooLarge(1000)), "{path}: {err}");
    }
    let http = GuardedHttp::new(FetchPolicy {
        max_bytes: 5000,
        ..policy
    })
    .unwrap();
    for path in ["big", "big-unsized"] {
        assert_eq!(
            http.get_bytes(&format!("http://127.0.0.1:{port}/{path}"))
                .await
                .unwrap()
                .len(),
            5000
        );
    }
}

#[tokio::test]
async fn the_total_timeout_holds() {
    let port = serve().await;
    let policy = FetchPolicy {
        allow_private_networks: true,
        timeout: Duration::from_millis(400),
        ..FetchPolicy::default()
    };
    let http = GuardedHttp::new(policy).unwrap();
    let started = Instant::now();
    let err = http
        .get_bytes(&format!("http://127.0.0.1:{port}/slow"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Timeout(_)), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn only_http_and_https_and_only_success() {
    let port = serve().await;
    for url in [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
    ] {
        let err = open().get_bytes(url).await.unwrap_err();
        assert!(matches!(err, FetchError::BadScheme), "{url}: {err}");
    }
    assert!(matches!(
        open().get_bytes("not a url").await.unwrap_err(),
        FetchError::BadUrl
    ));
    let err = open()
        .get_bytes(&format!("http://127.0.0.1:{port}/missing"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Status(404)), "{err}");
}

#[tokio::test]
async fn transport_failures_are_sentences_without_internals() {
    let closed = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = open()
        .get_bytes(&format!("http://127.0.0.1:{port}/ok"))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Network(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "the request failed: could not connect to the server (its name may not resolve, or nothing answers)"
    );
    let err = guarded()
        .get_bytes("http://no-such-host.invalid/a.png")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("could not connect"), "{err}");
}
