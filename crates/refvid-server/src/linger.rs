//! Lingering close: a connection the server ends while the client is still sending is drained
//! before it is closed, so the client can read the answer (e.g. a 413 for an oversized body).
//!
//! Without this, closing a socket whose receive buffer still holds unread request bytes makes
//! the kernel send a reset, and a client that writes its whole body before reading (most simple
//! clients) gets "connection reset" or "broken pipe" instead of the error envelope. As nginx's
//! lingering close does, [`LingeringStream`] shuts its write side (the client sees the end of the
//! answer), then reads and discards what the client still sends, within a byte and time budget,
//! and only then closes.

use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

/// How much a closing connection may still read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Linger {
    /// Bytes read and discarded at most (a client sending more is then cut off).
    pub max_bytes: u64,
    /// Longest the draining lasts in all.
    pub max_time: Duration,
    /// Longest wait for the client's next bytes.
    pub idle: Duration,
}

impl Default for Linger {
    /// nginx's lingering time and timeout (30 s, 5 s), and three times the largest body.
    fn default() -> Self {
        Self {
            max_bytes: 3 * refvid_api::MAX_BODY_BYTES as u64,
            max_time: Duration::from_secs(30),
            idle: Duration::from_secs(5),
        }
    }
}

/// A TCP listener whose connections close with a [`Linger`].
pub struct LingeringListener {
    inner: TcpListener,
    linger: Linger,
}

impl LingeringListener {
    pub fn new(inner: TcpListener, linger: Linger) -> Self {
        Self { inner, linger }
    }
}

impl Listener for LingeringListener {
    type Io = LingeringStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let io = LingeringStream {
            stream: Some(stream),
            linger: self.linger,
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that drains before it closes (when dropped inside a Tokio runtime).
pub struct LingeringStream {
    /// Always `Some` until dropped.
    stream: Option<TcpStream>,
    linger: Linger,
}

impl LingeringStream {
    fn stream(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.stream.as_mut().expect("present until dropped"))
    }
}

impl Drop for LingeringStream {
    fn drop(&mut self) {
        let (Some(stream), Ok(runtime)) =
            (self.stream.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(drain_then_close(stream, self.linger));
    }
}

/// Shuts the write side, reads and discards until the client closes or a budget runs out,
/// then closes (dropping the stream).
async fn drain_then_close(mut stream: TcpStream, linger: Linger) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + linger.max_time;
    let mut scratch = vec![0u8; 64 * 1024];
    let mut left = linger.max_bytes;
    while left > 0 {
        let wait = linger
            .idle
            .min(deadline.saturating_duration_since(Instant::now()));
        match timeout(wait, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n as u64),
            _ => return,
        }
    }
}

impl AsyncRead for LingeringStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_read(cx, buf)
    }
}

impl AsyncWrite for LingeringStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().stream().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().stream().poll_shutdown(cx)
    }
}
