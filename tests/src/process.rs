//! Servers the tests start (moto, chromedriver): one per test process on a free loopback port,
//! ready once it answers HTTP, and gone when the test process ends, however it ends.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server; never dropped (it lives in a `static`), stopped by its watchdog.
pub struct Daemon {
    pub addr: SocketAddr,
    _server: Child,
    _watchdog: (Child, ChildStdin),
}

/// Starts `program args` (which must listen on `port`) and waits until `GET probe_path`
/// answers HTTP, for at most `timeout`; on failure the error carries the server's output.
pub fn start(
    name: &str,
    program: &Path,
    args: &[String],
    port: u16,
    probe_path: &str,
    timeout: Duration,
) -> Result<Daemon, String> {
    let log = std::env::temp_dir().join(format!(
        "chatsource-{name}-{}-{port}.log",
        std::process::id()
    ));
    let log_file = std::fs::File::create(&log)
        .map_err(|e| format!("creating {name}'s log {}: {e}", log.display()))?;
    let mut server = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file handle"))
        .stderr(log_file)
        // Its own process group, so the watchdog can stop it and anything it started.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", program.display()))?;

    // The watchdog reads its stdin, a pipe whose only writer is this process: the read ends
    // when this process ends (a panic, a signal, the test harness calling exit), and then the
    // watchdog stops the server. Its own process group spares it a terminal's Ctrl-C, which
    // would otherwise kill it before the test process.
    let mut watchdog = Command::new("sh")
        .args([
            "-c",
            r#"cat >/dev/null; kill -TERM "-$0" 2>/dev/null; rm -f "$1""#,
        ])
        .arg(server.id().to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| {
            let _ = server.kill();
            format!("starting {name}'s watchdog (sh): {e}")
        })?;
    let pipe = watchdog.stdin.take().expect("watchdog stdin is piped");

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while !answers_http(addr, probe_path) {
        let failure = match server.try_wait() {
            Ok(Some(status)) => Some(format!("exited ({status})")),
            _ if started.elapsed() > timeout => {
                let _ = server.kill();
                Some(format!("did not answer within {timeout:?}"))
            }
            _ => None,
        };
        if let Some(failure) = failure {
            let output = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "{name} ({} on {addr}) {failure}; its output:\n{output}",
                program.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Daemon {
        addr,
        _server: server,
        _watchdog: (watchdog, pipe),
    })
}

/// The program named by `env` if set, else the first of `candidates` that exists, else
/// `name` on PATH. `how` tells the reader how to get it.
pub fn find(env: &str, candidates: &[PathBuf], name: &str, how: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{env}={} is not a file; {how}", path.display()))
        };
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} was not found ({env}, PATH); {how}"))
}

/// A port nobody listens on now. The OS picks it; another process could take it before the
/// server binds it, in which case the server fails to start and says so.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free loopback port")
}

fn answers_http(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 5];
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .and_then(|()| stream.read_exact(&mut head))
        .is_ok_and(|()| &head == b"HTTP/")
}
