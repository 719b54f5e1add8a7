use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub use microdash::testing::{eventually, get_json, spawn_app};

/// The real `microdash` binary running `serve` on an ephemeral port.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    /// The demo token, when this start created it.
    pub demo_token: Option<String>,
}

pub fn microdash(args: &[&str], data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_microdash"));
    cmd.args(args).env("MICRODASH_DATA_DIR", data_dir).env("MICRODASH_LOG", "warn");
    cmd
}

pub fn start_server(data_dir: &Path) -> ServerProcess {
    let mut child = microdash(&["serve", "--http-addr", "127.0.0.1:0"], data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("microdash starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut demo_token = None;
    let url = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(t) = line.split_whitespace().find(|w| w.starts_with("mdt_")) {
            demo_token.get_or_insert_with(|| t.to_string());
        }
        if let Some(rest) = line.strip_prefix("microdash listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let _: SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    ServerProcess { child, url, demo_token }
}

impl ServerProcess {
    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.child.wait().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
