//! A client that writes a whole oversized body before reading anything still reads the 413
//! envelope: the server drains the rest of the body (within bounds) before it closes, instead
//! of resetting the connection under the client's feet.

use crate::helpers::*;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BODY_BYTES: usize = 25 * 1024 * 1024;

/// The request head; `chunked` sends the body without a length (the limit is hit mid-stream).
fn head(addr: &str, key: &str, chunked: bool) -> String {
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {BODY_BYTES}")
    };
    format!(
        "POST /v3/async/viduq2-pro-fast HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
}

/// The whole request as a naive client sends it: every byte, in one go.
fn request(addr: &str, key: &str, chunked: bool) -> Vec<u8> {
    let mut body = b"{\"prompt\":\"".to_vec();
    body.resize(BODY_BYTES - 2, b'x');
    body.extend_from_slice(b"\"}");
    let mut out = head(addr, key, chunked).into_bytes();
    if chunked {
        for chunk in body.chunks(1 << 20) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(&body);
    }
    out
}

/// Writes everything, then reads the answer to the end; any reset is an error.
async fn write_all_then_read(addr: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

fn assert_413_envelope(answer: &[u8]) {
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .expect("a body after the head");
    let doc: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["code"], 413);
    assert_eq!(doc["reason"], "REQUEST_TOO_LARGE");
}

#[tokio::test]
async fn a_client_that_writes_a_25_mib_body_first_reads_the_413_every_time() {
    let app = spawn_app_with(|c| c.workers = 0).await;
    let addr = app.base.trim_start_matches("http://").to_string();
    let sized = request(&addr, &app.key, false);
    let chunked = request(&addr, &app.key, true);
    let started = Instant::now();
    for round in 0..100 {
        let request = if round % 4 == 3 { &chunked } else { &sized };
        let answer =
            tokio::time::timeout(Duration::from_secs(20), write_all_then_read(&addr, request))
                .await
                .unwrap_or_else(|_| panic!("round {round} hung"))
                .unwrap_or_else(|e| panic!("round {round}: the connection broke: {e}"));
        assert_413_envelope(&answer);
    }
    eprintln!(
        "100 rounds (75 with Content-Length, 25 chunked) of 25 MiB written then read: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    app.stop().await;
}
