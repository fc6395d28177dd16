//! Outbound HTTP behind the address guard: reference images and webhook events.
//!
//! Names are resolved by our own resolver, which drops every address the guard refuses, and the
//! client connects only to what it returned, so a DNS answer that changes between check and
//! connect cannot slip through. IP literals are checked before the request. Redirects are
//! followed by hand, each hop checked again. Every call has a total time limit and a byte cap.

use crate::guard::is_public;
use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Limits of outbound requests.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Turns the guard off (local testing only).
    pub allow_private_networks: bool,
    /// Whole-request time limit.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Redirects followed for GET.
    pub max_redirects: u8,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            max_bytes: 20 * 1024 * 1024,
            max_redirects: 3,
        }
    }
}

/// Why a fetch failed, as a sentence for the user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("only http and https URLs can be fetched")]
    BadScheme,
    #[error("the URL is not valid")]
    BadUrl,
    #[error(
        "{0} is not a public address; loopback, private, link-local and other internal networks cannot be reached"
    )]
    Blocked(String),
    #[error("the server answered HTTP {0} instead of 200")]
    Status(u16),
    #[error("the response is larger than the limit of {0} bytes")]
    TooLarge(u64),
    #[error("no complete answer arrived within the time limit of {0} seconds")]
    Timeout(u64),
    #[error(
        "the URL redirected more than {0} times; it must lead to the file in at most {0} redirects"
    )]
    TooManyRedirects(u8),
    #[error("the request failed: {0}")]
    Network(String),
}

/// Resolves names and keeps only the addresses the guard allows.
struct GuardedResolver {
    accept: fn(IpAddr) -> bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let accept = self.accept;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| accept(a.ip())).collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(FetchError::Blocked(host)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client that obeys a [`FetchPolicy`].
#[derive(Clone)]
pub struct GuardedHttp {
    client: reqwest::Client,
    policy: FetchPolicy,
    accept: fn(IpAddr) -> bool,
}

impl GuardedHttp {
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        if policy.allow_private_networks {
            return Self::build(policy, None);
        }
        Self::build(policy, Some(is_public))
    }

    /// A client whose guard accepts exactly the addresses `accept` approves, for tests that
    /// need one loopback address to stand in for the public internet.
    #[doc(hidden)]
    pub fn with_guard(policy: FetchPolicy, accept: fn(IpAddr) -> bool) -> Result<Self, FetchError> {
        Self::build(policy, Some(accept))
    }

    fn build(policy: FetchPolicy, guard: Option<fn(IpAddr) -> bool>) -> Result<Self, FetchError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("refvid/", env!("CARGO_PKG_VERSION")));
        if let Some(accept) = guard {
            builder = builder.dns_resolver(Arc::new(GuardedResolver { accept }));
        }
        let client = builder
            .build()
            .map_err(|e| FetchError::Network(e.to_string()))?;
        let accept = guard.unwrap_or(|_| true);
        Ok(Self {
            client,
            policy,
            accept,
        })
    }

    /// Checks scheme and IP-literal hosts (names are checked by the resolver at connect time).
    fn check_url(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let url = reqwest::Url::parse(url).map_err(|_| FetchError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::BadScheme);
        }
        let literal: Option<IpAddr> = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(v4.into()),
            Some(url::Host::Ipv6(v6)) => Some(v6.into()),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::BadUrl),
        };
        if let Some(ip) = literal.filter(|ip| !(self.accept)(*ip)) {
            return Err(FetchError::Blocked(ip.to_string()));
        }
        Ok(url)
    }

    /// GETs a body of at most `max_bytes`, following up to `max_redirects` checked redirects.
    pub async fn get_bytes(&self, url: &str) -> Result<Bytes, FetchError> {
        let limit = self.policy.timeout.as_secs();
        tokio::time::timeout(self.policy.timeout, self.get_following(url))
            .await
            .map_err(|_| FetchError::Timeout(limit))?
    }

    async fn get_following(&self, url: &str) -> Result<Bytes, FetchError> {
        let mut url = self.check_url(url)?;
        for _ in 0..=self.policy.max_redirects {
            let response = self
                .client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| self.network(e))?;
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok());
                let next = location
                    .and_then(|l| url.join(l).ok())
                    .ok_or(FetchError::BadUrl)?;
                url = self.check_url(next.as_str())?;
                continue;
            }
            if !response.status().is_success() {
                return Err(FetchError::Status(response.status().as_u16()));
            }
            return self.read_capped(response).await;
        }
        Err(FetchError::TooManyRedirects(self.policy.max_redirects))
    }

    async fn read_capped(&self, response: reqwest::Response) -> Result<Bytes, FetchError> {
        let cap = self.policy.max_bytes;
        if response.content_length().is_some_and(|n| n > cap) {
            return Err(FetchError::TooLarge(cap));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.network(e))?;
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(FetchError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.into())
    }

    /// POSTs a JSON body (no redirects followed); returns the status code.
    pub async fn post_json(
        &self,
        url: &str,
        body: &[u8],
        headers: &[(String, String)],
    ) -> Result<u16, FetchError> {
        let url = self.check_url(url)?;
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_vec());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let limit = self.policy.timeout.as_secs();
        let response = tokio::time::timeout(self.policy.timeout, request.send())
            .await
            .map_err(|_| FetchError::Timeout(limit))?
            .map_err(|e| self.network(e))?;
        Ok(response.status().as_u16())
    }

    /// Maps a client error, surfacing the guard's refusal from inside the resolver.
    fn network(&self, e: reqwest::Error) -> FetchError {
        let mut source: Option<&dyn std::error::Error> = Some(&e);
        while let Some(err) = source {
            if let Some(FetchError::Blocked(host)) = err.downcast_ref::<FetchError>() {
                return FetchError::Blocked(host.clone());
            }
            source = err.source();
        }
        if e.is_timeout() {
            return FetchError::Timeout(self.policy.timeout.as_secs());
        }
        FetchError::Network(describe(&e).to_string())
    }
}

/// A sentence for a transport failure, without the client library's internals.
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "could not connect to the server (its name may not resolve, or nothing answers)"
    } else if e.is_body() || e.is_decode() {
        "the connection broke before the whole answer arrived"
    } else if e.is_redirect() {
        "the server's redirect could not be followed"
    } else {
        "the server sent an answer that is not valid HTTP"
    }
}
