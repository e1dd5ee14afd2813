//! A real `chatsource serve` child process on a loopback port: start, wait until it answers, kill -9.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const API_KEY: &str = "load_proof_key_0123456789abcdef";

pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    /// Starts the binary on `data_dir` with a fixed API key, on a fresh free port each time:
    /// a killed process's port may linger, and a new one costs nothing.
    pub async fn start(binary: &Path, data_dir: &Path, log: &Path) -> Result<Server, String> {
        let port = free_port()?;
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--api-key",
                API_KEY,
            ])
            .arg("--data-dir")
            .arg(data_dir)
            // The product logs every webhook at info; warnings and errors are what a proof needs.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready(log).await?;
        Ok(server)
    }

    async fn wait_ready(&mut self, log: &Path) -> Result<(), String> {
        let client = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the server exited ({status}) at start; see {}",
                    log.display()
                ));
            }
            let ready = client
                .get(format!("{}/api/sites", self.base))
                .bearer_auth(API_KEY)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!(
            "the server did not answer within 60 s; see {}",
            log.display()
        ))
    }

    /// SIGKILL: `Child::kill` sends it on Unix, so nothing gets to flush or close.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `target/release/chatsource` beside this binary, unless told otherwise.
pub fn default_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("chatsource")))
        .unwrap_or_else(|| PathBuf::from("target/release/chatsource"))
}
