//! A fake Hugging Face Hub on loopback for tests (feature `fake-hub`): the repository info API
//! (`/api/models/{repo}/revision/{rev}`, with `?blobs=true` sizes, LFS sha256 and git blob ids),
//! `resolve` answering small files itself and redirecting LFS files to a second "CDN" listener
//! (with `X-Repo-Commit`, `ETag`, `X-Linked-Etag`, `X-Linked-Size` on the redirect), ranged `206`
//! answers, 401 for a gated repository without its token, 404s, and an interruption switch.
//! It counts the bytes it serves per file, so tests see what a resume fetched again.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes served per response piece.
const PIECE: usize = 256 * 1024;

/// A file's bytes: given, or generated on the fly (`len` bytes of a seeded pattern, so a
/// gigabyte costs no memory).
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Bytes),
    Pattern { len: u64, seed: u64 },
}

/// Rotations of one 1 MiB block make a pattern file.
const BLOCK: usize = 1 << 20;

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Self::Bytes(b) => b.len() as u64,
            Self::Pattern { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes `start..end`.
    pub fn slice(&self, start: u64, end: u64) -> Bytes {
        match self {
            Self::Bytes(b) => b.slice(start as usize..end as usize),
            Self::Pattern { seed, .. } => pattern_slice(*seed, start, end),
        }
    }
}

/// The 1 MiB base block of a seed, made once per process.
fn pattern_block(seed: u64) -> Arc<Vec<u8>> {
    static BLOCKS: std::sync::OnceLock<Mutex<HashMap<u64, Arc<Vec<u8>>>>> =
        std::sync::OnceLock::new();
    let blocks = BLOCKS.get_or_init(Mutex::default);
    let mut blocks = blocks.lock().unwrap();
    blocks
        .entry(seed)
        .or_insert_with(|| Arc::new(make_block(seed)))
        .clone()
}

fn make_block(seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..BLOCK)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Byte `i` of block `b` is `base[(i + b) % BLOCK]`: every block differs, slices are cheap.
fn pattern_slice(seed: u64, start: u64, end: u64) -> Bytes {
    let base = pattern_block(seed);
    let mut out = Vec::with_capacity((end - start) as usize);
    let mut at = start;
    while at < end {
        let (block, offset) = ((at / BLOCK as u64) as usize, (at % BLOCK as u64) as usize);
        let take = (BLOCK - offset).min((end - at) as usize);
        let from = (offset + block) % BLOCK;
        let first = take.min(BLOCK - from);
        out.extend_from_slice(&base[from..from + first]);
        out.extend_from_slice(&base[..take - first]);
        at += take as u64;
    }
    Bytes::from(out)
}

/// One file of a fake repository.
#[derive(Debug, Clone)]
pub struct FakeFile {
    pub path: String,
    pub content: Content,
    /// Stored in LFS (served through the CDN redirect, checked by sha256).
    pub lfs: bool,
}

impl FakeFile {
    pub fn small(path: &str, bytes: &[u8]) -> Self {
        Self {
            path: path.into(),
            content: Content::Bytes(Bytes::copy_from_slice(bytes)),
            lfs: false,
        }
    }

    pub fn lfs(path: &str, content: Content) -> Self {
        Self {
            path: path.into(),
            content,
            lfs: true,
        }
    }
}

/// A fake repository at one commit.
#[derive(Debug, Clone)]
pub struct FakeRepo {
    pub id: String,
    pub commit: String,
    pub files: Vec<FakeFile>,
    /// Gated: requests need `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Lie about one file's size and sha256 (set to what the "real" file would be).
    pub claimed: HashMap<String, (u64, String)>,
}

impl FakeRepo {
    pub fn new(id: &str, files: Vec<FakeFile>) -> Self {
        Self {
            id: id.into(),
            commit: format!("{:040x}", id.len() * 7919 + files.len()),
            files,
            token: None,
            claimed: HashMap::new(),
        }
    }
}

/// Hashes of a file, computed once at start.
#[derive(Debug, Clone)]
struct Hashed {
    file: FakeFile,
    sha256: String,
    git_oid: String,
}

struct Hub {
    repos: Vec<(FakeRepo, Vec<Hashed>)>,
    cdn: String,
    served: Mutex<HashMap<String, u64>>,
    requests: Mutex<HashMap<String, u64>>,
    cut: Mutex<Option<(String, u64)>>,
    outage: AtomicBool,
}

/// A running fake Hub: its endpoint (for `HF_ENDPOINT`) and what it served.
pub struct FakeHub {
    pub endpoint: String,
    hub: Arc<Hub>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeHub {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeHub {
    /// Starts the Hub and its CDN on two loopback ports.
    pub async fn start(repos: Vec<FakeRepo>) -> Self {
        let hub_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cdn_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cdn = format!("http://{}", cdn_listener.local_addr().unwrap());
        let hashed = repos
            .into_iter()
            .map(|r| {
                let files = r.files.iter().cloned().map(hash).collect();
                (r, files)
            })
            .collect();
        let hub = Arc::new(Hub {
            repos: hashed,
            cdn,
            served: Mutex::default(),
            requests: Mutex::default(),
            cut: Mutex::default(),
            outage: AtomicBool::new(false),
        });
        let endpoint = format!("http://{}", hub_listener.local_addr().unwrap());
        let api = Router::new()
            .route("/api/models/{org}/{repo}/revision/{rev}", get(info))
            .route(
                "/{org}/{repo}/resolve/{rev}/{*path}",
                get(resolve).head(resolve),
            )
            .with_state(hub.clone());
        let blobs = Router::new()
            .route("/repos/{sha}", get(cdn_blob))
            .with_state(hub.clone());
        let tasks = vec![
            tokio::spawn(async move { axum::serve(hub_listener, api).await.unwrap() }),
            tokio::spawn(async move { axum::serve(cdn_listener, blobs).await.unwrap() }),
        ];
        Self {
            endpoint,
            hub,
            tasks,
        }
    }

    /// Content bytes served for `path` so far (all responses, ranged or not).
    pub fn served_bytes(&self, path: &str) -> u64 {
        *self.hub.served.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// Content requests made for `path` so far.
    pub fn requests(&self, path: &str) -> u64 {
        *self.hub.requests.lock().unwrap().get(path).unwrap_or(&0)
    }

    /// The next response carrying byte `at` of `path` breaks off there, and the CDN answers
    /// 503 from then on until [`heal`](Self::heal).
    pub fn cut_at(&self, path: &str, at: u64) {
        *self.hub.cut.lock().unwrap() = Some((path.into(), at));
    }

    /// Ends the outage a cut started.
    pub fn heal(&self) {
        self.hub.outage.store(false, Ordering::SeqCst);
    }

    /// The sha256 the Hub reports for `path` of `repo`.
    pub fn sha256(&self, repo: &str, path: &str) -> String {
        self.hashed(repo, path).sha256
    }

    fn hashed(&self, repo: &str, path: &str) -> Hashed {
        let (_, files) = self.hub.repos.iter().find(|(r, _)| r.id == repo).unwrap();
        files.iter().find(|h| h.file.path == path).unwrap().clone()
    }
}

fn hash(file: FakeFile) -> Hashed {
    let len = file.content.len();
    let mut sha = Sha256::new();
    let mut git = Sha1::new();
    git.update(format!("blob {len}\0").as_bytes());
    let mut at = 0;
    while at < len {
        let end = (at + BLOCK as u64).min(len);
        let piece = file.content.slice(at, end);
        sha.update(&piece);
        git.update(&piece);
        at = end;
    }
    Hashed {
        sha256: hex::encode(sha.finalize()),
        git_oid: hex::encode(git.finalize()),
        file,
    }
}

impl Hub {
    /// The repository at a revision (`main` or its commit), or why it is refused (unknown,
    /// gated without its token, or no such revision).
    fn repo(
        &self,
        id: &str,
        rev: &str,
        headers: &HeaderMap,
    ) -> Result<&(FakeRepo, Vec<Hashed>), Refusal> {
        let found = self
            .repos
            .iter()
            .find(|(r, _)| r.id == id)
            .ok_or(Refusal::Unknown)?;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match &found.0.token {
            Some(token) if presented != Some(token.as_str()) => Err(Refusal::Gated),
            _ if rev != "main" && rev != found.0.commit => Err(Refusal::Revision(rev.into())),
            _ => Ok(found),
        }
    }

    fn asked(&self, path: &str) {
        *self
            .requests
            .lock()
            .unwrap()
            .entry(path.into())
            .or_default() += 1;
    }

    fn count(&self, path: &str, bytes: u64) {
        *self.served.lock().unwrap().entry(path.into()).or_default() += bytes;
    }
}

/// Why the Hub will not show a repository.
enum Refusal {
    Unknown,
    Gated,
    Revision(String),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Unknown => refuse(
                StatusCode::NOT_FOUND,
                "RepoNotFound",
                "Repository not found",
            ),
            Self::Gated => refuse(
                StatusCode::UNAUTHORIZED,
                "GatedRepo",
                "Invalid username or password.",
            ),
            Self::Revision(rev) => refuse(
                StatusCode::NOT_FOUND,
                "RevisionNotFound",
                &format!("Invalid rev id: {rev}"),
            ),
        }
    }
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({"error": message}))).into_response();
    response
        .headers_mut()
        .insert("x-error-code", HeaderValue::from_str(code).unwrap());
    response
}

async fn info(
    State(hub): State<Arc<Hub>>,
    Path((org, repo, rev)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (repo, files) = match hub.repo(&format!("{org}/{repo}"), &rev, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let blobs = query.get("blobs").is_some_and(|v| v == "true");
    let siblings: Vec<serde_json::Value> = files.iter().map(|h| sibling(repo, h, blobs)).collect();
    axum::Json(serde_json::json!({
        "_id": "fake", "id": repo.id, "modelId": repo.id, "sha": repo.commit,
        "private": repo.token.is_some(), "siblings": siblings,
    }))
    .into_response()
}

fn sibling(repo: &FakeRepo, h: &Hashed, blobs: bool) -> serde_json::Value {
    if !blobs {
        return serde_json::json!({"rfilename": h.file.path});
    }
    let (size, sha) = repo
        .claimed
        .get(&h.file.path)
        .cloned()
        .unwrap_or((h.file.content.len(), h.sha256.clone()));
    let mut entry =
        serde_json::json!({"rfilename": h.file.path, "blobId": h.git_oid, "size": size});
    if h.file.lfs {
        entry["lfs"] = serde_json::json!({"sha256": sha, "size": size, "pointerSize": 134});
    }
    entry
}

async fn resolve(
    State(hub): State<Arc<Hub>>,
    Path((org, repo, rev, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let (repo, files) = match hub.repo(&format!("{org}/{repo}"), &rev, &headers) {
        Ok(found) => found,
        Err(refused) => return refused.into_response(),
    };
    let Some(file) = files.iter().find(|h| h.file.path == path) else {
        return refuse(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
    };
    if file.file.lfs {
        return lfs_redirect(&hub, repo, file);
    }
    hub.asked(&file.file.path);
    let mut response = ranged(&hub, file, &headers);
    let named = response.headers_mut();
    named.insert(
        "x-repo-commit",
        HeaderValue::from_str(&repo.commit).unwrap(),
    );
    named.insert(header::ETAG, quoted(&file.git_oid));
    response
}

/// What the Hub answers for an LFS file: a redirect to the CDN carrying the metadata.
fn lfs_redirect(hub: &Hub, repo: &FakeRepo, file: &Hashed) -> Response {
    let location = format!("{}/repos/{}", hub.cdn, file.sha256);
    let mut response = (StatusCode::FOUND, "redirecting to the CDN").into_response();
    let named = response.headers_mut();
    named.insert(header::LOCATION, HeaderValue::from_str(&location).unwrap());
    named.insert(
        "x-repo-commit",
        HeaderValue::from_str(&repo.commit).unwrap(),
    );
    named.insert(header::ETAG, quoted(&file.git_oid));
    named.insert("x-linked-etag", quoted(&file.sha256));
    let size = HeaderValue::from_str(&file.file.content.len().to_string()).unwrap();
    named.insert("x-linked-size", size);
    response
}

fn quoted(text: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{text}\"")).unwrap()
}

async fn cdn_blob(
    State(hub): State<Arc<Hub>>,
    Path(sha): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = hub
        .repos
        .iter()
        .flat_map(|(_, files)| files)
        .find(|h| h.file.lfs && h.sha256 == sha)
        .cloned();
    let Some(file) = found else {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    };
    hub.asked(&file.file.path);
    if hub.outage.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "SlowDown").into_response();
    }
    ranged(&hub, &file, &headers)
}

/// `200` with the whole file, or `206` with the asked range (`416` past the end), streamed in
/// pieces; a pending cut inside the range breaks the stream off there.
fn ranged(hub: &Arc<Hub>, file: &Hashed, headers: &HeaderMap) -> Response {
    let len = file.file.content.len();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|v| parse_range(v, len));
    let (start, end, status) = match range {
        None => (0, len, StatusCode::OK),
        Some(Some((start, end))) => (start, end, StatusCode::PARTIAL_CONTENT),
        Some(None) => {
            let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            let whole = HeaderValue::from_str(&format!("bytes */{len}")).unwrap();
            refused.headers_mut().insert(header::CONTENT_RANGE, whole);
            return refused;
        }
    };
    let cut = take_cut(hub, &file.file.path, start, end);
    let body = body_of(hub.clone(), file.clone(), start, end, cut);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let named = response.headers_mut();
    named.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    named.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from_str(&(end - start).to_string()).unwrap(),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let value = format!("bytes {start}-{}/{len}", end - 1);
        named.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}

/// `bytes=a-b` or `bytes=a-` as `start..end` within `len`; `None` when unsatisfiable.
fn parse_range(value: &str, len: u64) -> Option<(u64, u64)> {
    let (first, last) = value.strip_prefix("bytes=")?.split_once('-')?;
    let start: u64 = first.trim().parse().ok()?;
    let end = match last.trim() {
        "" => len,
        last => last.parse::<u64>().ok()?.saturating_add(1).min(len),
    };
    (start < end).then_some((start, end))
}

/// The cut that falls inside `start..end` of `path`, taken (it happens once).
fn take_cut(hub: &Hub, path: &str, start: u64, end: u64) -> Option<u64> {
    let mut cut = hub.cut.lock().unwrap();
    match cut.as_ref() {
        Some((p, at)) if p == path && (start..end).contains(at) => {
            let at = *at;
            *cut = None;
            Some(at)
        }
        _ => None,
    }
}

fn body_of(hub: Arc<Hub>, file: Hashed, start: u64, end: u64, cut: Option<u64>) -> Body {
    let pieces = stream::unfold(start, move |at| {
        let (hub, file) = (hub.clone(), file.clone());
        async move {
            if at >= end {
                return None;
            }
            if let Some(cut) = cut.filter(|c| at >= *c) {
                hub.outage.store(true, Ordering::SeqCst);
                let broken = std::io::Error::other(format!("connection cut at byte {cut}"));
                return Some((Err(broken), end));
            }
            let stop = (at + PIECE as u64)
                .min(end)
                .min(cut.filter(|c| *c > at).unwrap_or(end));
            let piece = file.file.content.slice(at, stop);
            hub.count(&file.file.path, piece.len() as u64);
            Some((Ok::<Bytes, std::io::Error>(piece), stop))
        }
    });
    Body::from_stream(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_slices_agree_with_the_whole() {
        let content = Content::Pattern {
            len: 3 * BLOCK as u64 + 5,
            seed: 9,
        };
        let whole = content.slice(0, content.len());
        for (a, b) in [
            (0, 10),
            (BLOCK as u64 - 3, BLOCK as u64 + 7),
            (2 * BLOCK as u64, content.len()),
        ] {
            assert_eq!(content.slice(a, b), whole.slice(a as usize..b as usize));
        }
        assert_ne!(whole.slice(0..BLOCK), whole.slice(BLOCK..2 * BLOCK));
    }

    #[test]
    fn ranges_parse_as_servers_read_them() {
        assert_eq!(parse_range("bytes=0-0", 10), Some((0, 1)));
        assert_eq!(parse_range("bytes=5-", 10), Some((5, 10)));
        assert_eq!(parse_range("bytes=5-100", 10), Some((5, 10)));
        assert_eq!(parse_range("bytes=10-", 10), None);
    }
}
