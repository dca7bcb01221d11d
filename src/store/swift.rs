//! OpenStack Swift over its plain HTTP API: tempauth (`/auth/v1.0`) or Keystone v3 tokens.

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use tokio::sync::Mutex;

use super::{Access, Listing, ObjectMeta, StoreError, apply_delimiter};
use crate::config::SwiftConfig;
use crate::protocol::layout;

/// Object names keep their slashes; everything else unusual is encoded.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Clone)]
pub struct SwiftStore {
    client: reqwest::Client,
    auth_url: String,
    keystone: bool,
    user: String,
    key: String,
    project: String,
    domain: String,
    session: Arc<Mutex<Option<(String, String)>>>,
    /// `X-Container-Read` of public result containers; empty: leave it unset.
    public_read: String,
    /// Containers this process has already created (PUT on a container is idempotent, but one
    /// per object would double the requests).
    created: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl std::fmt::Debug for SwiftStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwiftStore")
            .field("auth_url", &self.auth_url)
            .field("user", &self.user)
            .finish()
    }
}

/// An HTTP answer that is not a success, classified by [`StoreError::is_permanent`].
fn status_err(what: impl Into<String>, status: reqwest::StatusCode) -> StoreError {
    StoreError::Status {
        what: what.into(),
        status: status.as_u16(),
    }
}

/// Longest one download or listing page may take, all of it: the read timeout alone lets a
/// server that sends a byte now and then hold a reader (the console's store state) for ever.
/// Uploads have none: a large artifact may take long.
const READ_DEADLINE: Duration = Duration::from_secs(300);

/// A listing page is at most 10,000 names (Swift's `container_listing_limit`), a few MiB.
const LIST_PAGE_CAP: u64 = 64 << 20;

/// At most `limit` bytes of a response's body: the rest is not read (the connection is dropped).
async fn read_at_most(
    mut resp: reqwest::Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, StoreError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut data = Vec::new();
    while data.len() < limit
        && let Some(chunk) = resp.chunk().await.map_err(|e| swift_err(what, e))?
    {
        let room = limit - data.len();
        data.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
    }
    Ok(data)
}

fn swift_err(what: impl Into<String>, detail: impl ToString) -> StoreError {
    StoreError::Swift {
        what: what.into(),
        detail: detail.to_string(),
    }
}

impl SwiftStore {
    pub fn new(auth_url: &str, cfg: &SwiftConfig) -> Result<Self, StoreError> {
        let keystone = match cfg.auth.as_deref() {
            Some(a) => a == "keystone",
            None => auth_url.trim_end_matches('/').ends_with("/v3"),
        };
        let user = cfg
            .user
            .clone()
            .ok_or_else(|| swift_err("configuration", "set swift.user (or ADTOP_SWIFT_USER)"))?;
        let key = cfg
            .key
            .clone()
            .ok_or_else(|| swift_err("configuration", "set swift.key (or ADTOP_SWIFT_KEY)"))?;
        let client = reqwest::Client::builder()
            // No limit on a whole request: a large artifact may take long to upload. A store
            // that stops answering is noticed by the read timeout.
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| swift_err("HTTP client", e))?;
        Ok(Self {
            client,
            auth_url: auth_url.trim_end_matches('/').to_string(),
            keystone,
            user,
            key,
            project: cfg.project.clone().unwrap_or_default(),
            domain: cfg.domain.clone().unwrap_or_else(|| "Default".into()),
            session: Arc::new(Mutex::new(None)),
            public_read: cfg
                .public_read
                .clone()
                .unwrap_or_else(|| layout::PUBLIC_READ_ACL.into()),
            created: Arc::default(),
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "swift {} (user {})",
            crate::broker::redact(&self.auth_url),
            self.user
        )
    }

    /// (storage URL, token), authenticating when there is none yet.
    async fn session(&self) -> Result<(String, String), StoreError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = if self.keystone {
            self.keystone_auth().await?
        } else {
            self.tempauth().await?
        };
        *guard = Some(s.clone());
        Ok(s)
    }

    async fn tempauth(&self) -> Result<(String, String), StoreError> {
        let resp = self
            .client
            .get(&self.auth_url)
            .header("X-Auth-User", &self.user)
            .header("X-Auth-Key", &self.key)
            .send()
            .await
            .map_err(|e| swift_err("authentication", e))?;
        if matches!(resp.status().as_u16(), 401 | 403) {
            return Err(StoreError::Credentials {
                user: self.user.clone(),
                status: resp.status().as_u16(),
            });
        }
        if !resp.status().is_success() {
            return Err(swift_err(
                "authentication",
                format!("answered {}", resp.status()),
            ));
        }
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match (h("X-Storage-Url"), h("X-Auth-Token")) {
            (Some(url), Some(token)) => Ok((url, token)),
            _ => Err(swift_err(
                "authentication",
                "no X-Storage-Url/X-Auth-Token in the answer",
            )),
        }
    }

    async fn keystone_auth(&self) -> Result<(String, String), StoreError> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.user, "domain": {"name": self.domain}, "password": self.key}}},
            "scope": {"project": {"name": self.project, "domain": {"name": self.domain}}}}});
        let resp = self
            .client
            .post(format!("{}/auth/tokens", self.auth_url))
            .json(&body)
            .send()
            .await
            .map_err(|e| swift_err("keystone authentication", e))?;
        if matches!(resp.status().as_u16(), 401 | 403) {
            return Err(StoreError::Credentials {
                user: self.user.clone(),
                status: resp.status().as_u16(),
            });
        }
        if !resp.status().is_success() {
            return Err(swift_err(
                "keystone authentication",
                format!("answered {}", resp.status()),
            ));
        }
        let token = resp
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| swift_err("keystone authentication", "no X-Subject-Token"))?;
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| swift_err("keystone catalog", e))?;
        let url = v
            .pointer("/token/catalog")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter(|s| s.get("type").and_then(|t| t.as_str()) == Some("object-store"))
            .flat_map(|s| {
                s.get("endpoints")
                    .and_then(|e| e.as_array())
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|e| e.get("interface").and_then(|i| i.as_str()) == Some("public"))
            .and_then(|e| e.get("url").and_then(|u| u.as_str()).map(str::to_string))
            .ok_or_else(|| swift_err("keystone catalog", "no public object-store endpoint"))?;
        Ok((url, token))
    }

    /// Send a request, re-authenticating once on 401 (tokens expire).
    async fn send(
        &self,
        what: &str,
        build: impl Fn(&str, &str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, StoreError> {
        for _ in 0..2 {
            let (url, token) = self.session().await?;
            let resp = build(&url, &token)
                .send()
                .await
                .map_err(|e| swift_err(what, e))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
                *self.session.lock().await = None;
                continue;
            }
            return Ok(resp);
        }
        Err(swift_err(what, "unauthorised after re-authenticating"))
    }

    /// Authenticate and read the account: a wrong key is an error naming the user, never the key.
    pub async fn check(&self) -> Result<(), StoreError> {
        let resp = self
            .send("account check", |url, token| {
                self.client
                    .head(url.to_string())
                    .header("X-Auth-Token", token)
            })
            .await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_err("account check", resp.status()))
        }
    }

    /// PUT the container with its read ACL, once per process.
    pub async fn ensure_container(
        &self,
        container: &str,
        access: &Access,
    ) -> Result<(), StoreError> {
        if self.created.lock().await.contains(container) {
            return Ok(());
        }
        let acl = match access {
            Access::Public => self.public_read.clone(),
            // Keystone names users `project:user` (`*:` is any project); tempauth's
            // `account:user` is given as it is.
            Access::Private(user) if user.contains(':') => user.clone(),
            Access::Private(user) => layout::private_read_acl(user),
        };
        let c = utf8_percent_encode(container, PATH).to_string();
        let resp = self
            .send("create container", |url, token| {
                let rb = self
                    .client
                    .put(format!("{url}/{c}"))
                    .header("X-Auth-Token", token);
                if acl.is_empty() {
                    rb
                } else {
                    rb.header("X-Container-Read", &acl)
                }
            })
            .await?;
        if !resp.status().is_success() {
            return Err(status_err(
                format!("create container {container}"),
                resp.status(),
            ));
        }
        self.created.lock().await.insert(container.to_string());
        Ok(())
    }

    /// PUT the container (no ACL change) unless this process made it already.
    async fn create_container(&self, container: &str) -> Result<(), StoreError> {
        if self.created.lock().await.contains(container) {
            return Ok(());
        }
        let c = utf8_percent_encode(container, PATH).to_string();
        let resp = self
            .send("create container", |url, token| {
                self.client
                    .put(format!("{url}/{c}"))
                    .header("X-Auth-Token", token)
            })
            .await?;
        if !resp.status().is_success() {
            return Err(status_err(
                format!("create container {container}"),
                resp.status(),
            ));
        }
        self.created.lock().await.insert(container.to_string());
        Ok(())
    }

    pub async fn put(
        &self,
        container: &str,
        name: &str,
        data: Vec<u8>,
        meta: ObjectMeta,
    ) -> Result<(), StoreError> {
        self.create_container(container).await?;
        let c = utf8_percent_encode(container, PATH).to_string();
        let n = utf8_percent_encode(name, PATH).to_string();
        let resp = self
            .send("upload", |url, token| {
                let mut rb = self
                    .client
                    .put(format!("{url}/{c}/{n}"))
                    .header("X-Auth-Token", token)
                    .body(data.clone());
                if let Some(t) = meta.content_type {
                    rb = rb.header("Content-Type", t);
                }
                if let Some(e) = meta.content_encoding {
                    rb = rb.header("Content-Encoding", e);
                }
                rb
            })
            .await?;
        self.upload_answer(container, name, resp.status()).await
    }

    async fn upload_answer(
        &self,
        container: &str,
        name: &str,
        status: reqwest::StatusCode,
    ) -> Result<(), StoreError> {
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            // The container went away under us: create it again on the next try.
            self.created.lock().await.remove(container);
        }
        Err(status_err(format!("upload {container}/{name}"), status))
    }

    /// PUT the file at `path` as an object, streaming it from disk as the request body with its
    /// length: memory stays flat whatever the size. Opened again for a retry after 401.
    pub async fn put_file(
        &self,
        container: &str,
        name: &str,
        path: &std::path::Path,
        meta: ObjectMeta,
    ) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        self.create_container(container).await?;
        let c = utf8_percent_encode(container, PATH).to_string();
        let n = utf8_percent_encode(name, PATH).to_string();
        for _ in 0..2 {
            let (url, token) = self.session().await?;
            let file = tokio::fs::File::open(path).await.map_err(io)?;
            let len = file.metadata().await.map_err(io)?.len();
            let mut rb = self
                .client
                .put(format!("{url}/{c}/{n}"))
                .header("X-Auth-Token", token)
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(reqwest::Body::from(file));
            if let Some(t) = meta.content_type {
                rb = rb.header("Content-Type", t);
            }
            if let Some(e) = meta.content_encoding {
                rb = rb.header("Content-Encoding", e);
            }
            let resp = rb.send().await.map_err(|e| swift_err("upload", e))?;
            if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
                *self.session.lock().await = None;
                continue;
            }
            return self.upload_answer(container, name, resp.status()).await;
        }
        Err(swift_err("upload", "unauthorised after re-authenticating"))
    }

    /// At most `limit` bytes of the object: the rest is not read (the connection is dropped).
    pub async fn get(
        &self,
        container: &str,
        name: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let path = format!(
            "{}/{}",
            utf8_percent_encode(container, PATH),
            utf8_percent_encode(name, PATH)
        );
        let resp = self
            .send("download", |url, token| {
                self.client
                    .get(format!("{url}/{path}"))
                    .header("X-Auth-Token", token)
                    .timeout(READ_DEADLINE)
            })
            .await?;
        match resp.status().as_u16() {
            404 => Ok(None),
            200 => read_at_most(resp, limit, "download").await.map(Some),
            s => Err(StoreError::Status {
                what: format!("download {container}/{name}"),
                status: s,
            }),
        }
    }

    pub async fn list(
        &self,
        container: &str,
        prefix: &str,
        delimiter: Option<char>,
        cap: usize,
    ) -> Result<Listing, StoreError> {
        let c = utf8_percent_encode(container, PATH).to_string();
        let mut out = Vec::new();
        let mut marker = String::new();
        loop {
            let mut query = vec![
                ("format", "json".to_string()),
                ("prefix", prefix.to_string()),
                ("marker", marker.clone()),
            ];
            if let Some(d) = delimiter {
                query.push(("delimiter", d.to_string()));
            }
            let resp = self
                .send("list", |url, token| {
                    self.client
                        .get(format!("{url}/{c}"))
                        .query(&query)
                        .header("X-Auth-Token", token)
                        .timeout(READ_DEADLINE)
                })
                .await?;
            match resp.status().as_u16() {
                404 => return Ok(out),
                // No content: the listing is over (an empty container answers so).
                204 => break,
                200 => {}
                s => {
                    return Err(StoreError::Status {
                        what: format!("list {container}"),
                        status: s,
                    });
                }
            }
            // A page that is not a listing is an error, not the end of the listing (which
            // would pass for a container that holds less), and no page fills memory.
            let body = read_at_most(resp, LIST_PAGE_CAP + 1, "list").await?;
            if body.is_empty() {
                break;
            }
            if body.len() as u64 > LIST_PAGE_CAP {
                return Err(swift_err(
                    format!("list {container}"),
                    format!("a listing page over {} MiB", LIST_PAGE_CAP >> 20),
                ));
            }
            let page: Vec<serde_json::Value> = serde_json::from_slice(&body).map_err(|e| {
                swift_err(
                    format!("list {container}"),
                    format!("not a JSON listing: {e}"),
                )
            })?;
            if page.is_empty() {
                break;
            }
            for item in &page {
                if let Some(n) = item
                    .get("name")
                    .or_else(|| item.get("subdir"))
                    .and_then(|n| n.as_str())
                {
                    if out.len() >= cap {
                        return Err(StoreError::TooLong {
                            what: format!("the listing of {container} under {prefix:?}"),
                            cap,
                        });
                    }
                    out.push(n.to_string());
                }
            }
            // Each page starts past the marker; one that does not (a proxy or a Swift that
            // ignores it) would be asked for again forever.
            let last = out.last().cloned().unwrap_or_default();
            if last <= marker {
                return Err(swift_err(
                    format!("list {container}"),
                    format!("a listing page that does not go past the marker {marker:?}"),
                ));
            }
            marker = last;
        }
        Ok(apply_delimiter(out, prefix, delimiter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A tempauth Swift whose every listing answers `listing`.
    async fn fake_swift(listing: &'static str) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = l.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = if head.starts_with(b"GET /auth") {
                    format!(
                        "HTTP/1.1 200 OK\r\nX-Storage-Url: http://127.0.0.1:{port}/v1/AUTH_t\r\nX-Auth-Token: tk\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{listing}",
                        listing.len()
                    )
                };
                let _ = c.write_all(reply.as_bytes()).await;
            }
        });
        format!("http://127.0.0.1:{port}/auth/v1.0")
    }

    /// The error of listing `20261208/` of the index, with at most `cap` names.
    async fn list_err(s: &SwiftStore, cap: usize) -> StoreError {
        s.list("adtop-index", "20261208/", None, cap)
            .await
            .unwrap_err()
    }

    fn store(auth: &str) -> SwiftStore {
        let cfg = SwiftConfig {
            user: Some("u".into()),
            key: Some("k".into()),
            ..Default::default()
        };
        SwiftStore::new(auth, &cfg).unwrap()
    }

    /// A listing page that is not JSON is an error naming the container; it used to end the
    /// listing there, as if the container held nothing more.
    #[tokio::test]
    async fn a_listing_that_is_not_json_is_an_error_not_an_empty_container() {
        let s = store(&fake_swift("<html>proxy error</html>").await);
        let e = list_err(&s, 10).await;
        assert!(
            e.to_string().contains("list adtop-index")
                && e.to_string().contains("not a JSON listing"),
            "{e}"
        );
        let s = store(&fake_swift("[]").await);
        assert!(
            s.list("adtop-index", "", None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }

    /// A Swift (or a proxy before it) that ignores the marker answers the same page forever:
    /// that is an error, not a loop that lists until memory runs out.
    #[tokio::test]
    async fn a_listing_that_never_goes_past_its_marker_ends_with_an_error() {
        let s = store(&fake_swift(r#"[{"name":"20261208/a"},{"name":"20261208/b"}]"#).await);
        let e = list_err(&s, 10).await;
        assert!(
            e.to_string().contains("list adtop-index")
                && e.to_string().contains("does not go past the marker"),
            "{e}"
        );
        let e = list_err(&s, 1).await;
        assert!(matches!(e, StoreError::TooLong { cap: 1, .. }), "{e}");
    }
}
