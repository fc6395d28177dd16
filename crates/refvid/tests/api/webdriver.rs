//! A small W3C WebDriver client over HTTP, enough to drive headless Chromium through the
//! console: start `chromedriver`, open a session, find elements, type, click, run a script,
//! take a screenshot. Only loopback is spoken to.

use serde_json::{Value, json};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages put the browser and its driver (`scripts/test-deps.sh` installs them).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running `chromedriver` with one headless Chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

impl Browser {
    /// Starts the driver and a headless session, or says why it cannot.
    pub async fn start() -> Result<Browser, String> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(path).exists() {
                return Err(format!("{path} is missing: run scripts/test-deps.sh"));
            }
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {CHROMEDRIVER}: {e}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        browser.wait_ready().await?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1100",
                         "--autoplay-policy=no-user-gesture-required"]
            }
        }}});
        let created = browser.call("POST", "/session", caps).await?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session id in {created}"))?
            .to_string();
        Ok(browser)
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = self.http.get(format!("{}/status", self.base)).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == json!(true)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("chromedriver did not become ready in 20 s".into())
    }

    /// One WebDriver command; returns its `value` or the driver's error as text.
    async fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let v: Value = response.json().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {}", v["value"]));
        }
        Ok(v["value"].clone())
    }

    async fn session_call(&self, method: &str, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    pub async fn goto(&self, url: &str) {
        self.session_call("POST", "/url", json!({"url": url})).await;
    }

    /// All elements matching a CSS selector, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .session_call(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| {
                Element(
                    e[ELEMENT_KEY]
                        .as_str()
                        .unwrap_or_else(|| panic!("not an element: {e}"))
                        .to_string(),
                )
            })
            .collect()
    }

    /// The one element matching `css`; panics when there is none.
    pub async fn find(&self, css: &str) -> Element {
        self.find_all(css)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no element matches {css}"))
    }

    pub async fn type_into(&self, element: &Element, text: &str) {
        let path = format!("/element/{}/value", element.0);
        self.session_call("POST", &path, json!({"text": text}))
            .await;
    }

    pub async fn clear(&self, element: &Element) {
        let path = format!("/element/{}/clear", element.0);
        self.session_call("POST", &path, json!({})).await;
    }

    pub async fn click(&self, element: &Element) {
        let path = format!("/element/{}/click", element.0);
        self.session_call("POST", &path, json!({})).await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page and returns its value.
    pub async fn script(&self, script: &str, args: Value) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Polls `script` until it returns something other than `null`/`false`, or panics with `what`.
    pub async fn wait_until(&self, what: &str, script: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.script(script, json!([])).await;
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .script("return document.body.innerText", json!([]))
                    .await;
                panic!("timed out waiting for {what}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let v = self.session_call("GET", "/screenshot", json!({})).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        let path = format!("/session/{}", self.session);
        let _ = self.call("DELETE", &path, json!({})).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    /// Ends the session first (closing Chromium, which outlives a killed driver), then the driver.
    /// Plain blocking HTTP: this also runs while a failed test unwinds.
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let addr = self.base.trim_start_matches("http://").to_string();
            if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE /session/{} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.session
                );
                let _ = stream.write_all(request.as_bytes());
                let _ = stream.read_to_end(&mut Vec::new());
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
