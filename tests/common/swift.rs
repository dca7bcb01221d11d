//! The test Swift started by `scripts/swift.sh` (single node, tempauth, on 127.0.0.1).

use std::time::Duration;

/// Where the test Swift is and who may use it, from the variables `scripts/swift.sh start`
/// prints (defaults: its own defaults).
#[derive(Debug, Clone)]
pub struct SwiftEnv {
    pub auth: String,
    pub user: String,
    pub key: String,
    pub user2: String,
    pub key2: String,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl SwiftEnv {
    /// The test Swift, or None with the reason printed when it is not running. With
    /// `ADTOP_REQUIRE_SWIFT=1` (set by `scripts/test.sh`) a missing Swift fails the test.
    pub async fn get() -> Option<Self> {
        let env = Self {
            auth: var("ADTOP_TEST_SWIFT_AUTH", "http://127.0.0.1:8080/auth/v1.0"),
            user: var("ADTOP_TEST_SWIFT_USER", "test:tester"),
            key: var("ADTOP_TEST_SWIFT_KEY", "testing"),
            user2: var("ADTOP_TEST_SWIFT_USER2", "test2:tester2"),
            key2: var("ADTOP_TEST_SWIFT_KEY2", "testing2"),
        };
        match env.token(&env.user, &env.key).await {
            Ok(_) => Some(env),
            Err(e) => {
                let why = format!(
                    "no test Swift at {} ({e}): start one with `eval \"$(scripts/swift.sh start)\"` (scripts/test.sh does)",
                    env.auth
                );
                assert!(std::env::var("ADTOP_REQUIRE_SWIFT").is_err(), "{why}");
                eprintln!("skipping: {why}");
                None
            }
        }
    }

    /// `swift+http://…/auth/v1.0`, the store URL adtop takes.
    pub fn store_url(&self) -> String {
        format!("swift+{}", self.auth)
    }

    /// The environment that gives adtop the first user's credentials.
    pub fn adtop_env(&self) -> Vec<(String, String)> {
        vec![
            ("ADTOP_SWIFT_USER".into(), self.user.clone()),
            ("ADTOP_SWIFT_KEY".into(), self.key.clone()),
        ]
    }

    /// (storage URL, token) of a user.
    pub async fn token(&self, user: &str, key: &str) -> Result<(String, String), String> {
        let resp = client()
            .get(&self.auth)
            .header("X-Auth-User", user)
            .header("X-Auth-Key", key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("authentication answered {}", resp.status()));
        }
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        match (h("X-Storage-Url"), h("X-Auth-Token")) {
            (Some(u), Some(t)) => Ok((u, t)),
            _ => Err("no storage URL or token".into()),
        }
    }

    /// The first user's storage URL: what britney is given as ADT_SWIFT_URL.
    pub async fn storage_url(&self) -> String {
        self.token(&self.user, &self.key)
            .await
            .expect("the test Swift answered a moment ago")
            .0
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// `scripts/swift.sh ACTION` (stop-proxy, start-proxy, ...), for outages.
pub fn script(action: &str) {
    let out = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/swift.sh"),
    )
    .arg(action)
    .output()
    .expect("run scripts/swift.sh");
    assert!(
        out.status.success(),
        "scripts/swift.sh {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test that takes the proxy away holds this for writing; every other Swift test for reading.
pub static OUTAGE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
