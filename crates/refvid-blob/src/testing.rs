//! Test support: a real S3-compatible server (moto, from PyPI) on a free loopback port.
//!
//! Used by this crate's and the application's tests; `.ci/run` installs moto.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto S3 server, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto and creates `bucket`. `None` (reason printed) when moto cannot run and
    /// `REFVID_SKIP_S3=1` allows skipping; otherwise a missing moto is a test failure.
    pub fn start(bucket: &str) -> Option<Moto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let spawned = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let moto = match spawned {
            Ok(child) => Moto {
                child,
                endpoint: format!("http://127.0.0.1:{port}"),
            },
            Err(e) => return skip(&format!("python3 could not start: {e}")),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if create_bucket(port, bucket).is_ok_and(|ok| ok) {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        skip("moto's S3 server did not come up (pip install 'moto[server]')")
    }

    /// Points the AWS environment variables at this server.
    ///
    /// # Safety
    /// Changes the process environment: call before other threads read it.
    pub unsafe fn export_env(&self) {
        unsafe {
            std::env::set_var("AWS_ENDPOINT_URL", &self.endpoint);
            std::env::set_var("AWS_ACCESS_KEY_ID", "test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
            std::env::set_var("AWS_REGION", "us-east-1");
        }
    }
}

fn create_bucket(port: u16, bucket: &str) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let request = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.starts_with("HTTP/1.1 200"))
}

fn skip<T>(why: &str) -> Option<T> {
    assert_eq!(
        std::env::var("REFVID_SKIP_S3").as_deref(),
        Ok("1"),
        "{why}; set REFVID_SKIP_S3=1 to skip"
    );
    eprintln!("SKIPPED: {why}");
    None
}
