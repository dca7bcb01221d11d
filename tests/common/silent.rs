//! A TCP relay in front of the test broker that can go silent: once [`Silencer::silence`] is
//! called, whatever the broker sends (confirms, heartbeats, answers) is read and dropped, on open
//! connections and new ones, while what clients send still reaches it. That is a broker that
//! takes messages but no longer answers: a wedged node, a quorum queue stuck without a leader.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Silencer {
    /// `amqp://guest:guest@127.0.0.1:PORT/%2f`, through the relay.
    pub url: String,
    silent: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Silencer {
    /// A relay to the broker at `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let silent = Arc::new(AtomicBool::new(false));
        let (target, flag) = (target.to_string(), silent.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect(&target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (br, bw) = broker.into_split();
                tokio::spawn(pipe(cr, bw, None));
                tokio::spawn(pipe(br, cw, Some(flag.clone())));
            }
        });
        Self {
            url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            silent,
            task,
        }
    }

    pub fn silence(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }
}

impl Drop for Silencer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copy `from` to `to`, dropping the bytes while `silent` is set.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Option<Arc<AtomicBool>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if silent.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
