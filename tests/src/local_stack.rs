//! The local stack as `scripts/local` runs it, as real processes: moto with its write-ahead
//! journal, and `groupshare-local serve` (every route, S3 events through a queue into
//! upload-completed, the sweep on a schedule). Tests talk to it over HTTP like any client, and
//! can kill either process with SIGKILL and start it again on the same data.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The two processes and the data directory they share across restarts.
pub struct LocalStack {
    pub api: String,
    pub aws: String,
    data: PathBuf,
    aws_port: u16,
    api_port: u16,
    moto: Option<Child>,
    server: Option<Child>,
}

impl LocalStack {
    /// Starts both processes on fresh free ports and a fresh data directory.
    pub async fn start() -> Self {
        let data = std::env::temp_dir().join(crate::unique("gs-local"));
        let (aws_port, api_port) = (free_port(), free_port());
        let mut stack = Self {
            api: format!("http://127.0.0.1:{api_port}"),
            aws: format!("http://127.0.0.1:{aws_port}"),
            data,
            aws_port,
            api_port,
            moto: None,
            server: None,
        };
        stack.start_moto().await;
        stack.start_server().await;
        stack
    }

    async fn start_moto(&mut self) {
        let root = workspace();
        let child = Command::new(root.join(".local/venv-aws/bin/python"))
            .arg(root.join("scripts/lib/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &self.aws_port.to_string()])
            .arg("--data-dir")
            .arg(self.data.join("moto"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts (scripts/test installs it into .local/venv-aws)");
        self.moto = Some(child);
        wait_http(&format!("{}/moto-api/", self.aws)).await;
    }

    async fn start_server(&mut self) {
        let bin = std::env::var("GROUPSHARE_LOCAL_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| workspace().join("target/debug/groupshare-local"));
        let child = Command::new(&bin)
            .arg("serve")
            .env("AWS_ENDPOINT_URL", &self.aws)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .env("GROUPSHARE_PORT", self.api_port.to_string())
            .env("GROUPSHARE_DATA_DIR", self.data.join("api"))
            .env("GROUPSHARE_SWEEP_SECONDS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts ({e}); scripts/test builds it", bin.display()));
        self.server = Some(child);
        wait_http(&format!("{}/config", self.api)).await;
    }

    /// SIGKILL both processes (no chance to flush anything), then start them again.
    pub async fn crash_and_restart(&mut self) {
        for child in [self.server.take(), self.moto.take()].into_iter().flatten() {
            kill(child);
        }
        self.start_moto().await;
        self.start_server().await;
    }

    /// SIGKILL only the API server, then start it again.
    pub async fn crash_server_and_restart(&mut self) {
        if let Some(child) = self.server.take() {
            kill(child);
        }
        self.start_server().await;
    }

    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

fn kill(mut child: Child) {
    let _ = child.kill(); // SIGKILL on Unix
    let _ = child.wait();
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for child in [self.server.take(), self.moto.take()].into_iter().flatten() {
            kill(child);
        }
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

async fn wait_http(url: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if reqwest::get(url).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not come up within 60 s");
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
