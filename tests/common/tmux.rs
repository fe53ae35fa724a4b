//! A terminal for the tests: a tmux server of the test's own, running a
//! command, typed into and read like a screen (tmux comes from Debian's
//! packages; scripts/test.sh installs it).

use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
}

impl Tmux {
    /// A tmux server of its own (tests run in parallel) running `command`.
    pub fn start(name: &str, command: &str) -> Tmux {
        let socket = format!("mtls-test-{}-{name}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "150",
                "-y",
                "40",
                command,
            ])
            .status()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(status.success());
        Tmux { socket }
    }

    /// The screen, with escape sequences for colors.
    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-e"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `text` and Enter.
    pub fn send(&self, text: &str) {
        let mut args = vec!["-L", &self.socket, "send-keys", "-t", "0"];
        if !text.is_empty() {
            args.extend(["-l", text]);
            let status = Command::new("tmux")
                .args(&args)
                .status()
                .expect("send-keys");
            assert!(status.success());
            args.truncate(5);
        }
        args.push("Enter");
        let status = Command::new("tmux")
            .args(&args)
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(text) || started.elapsed() > timeout {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Tmux {
    /// Types `text`, without Enter.
    pub fn type_keys(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Presses keys by tmux's names (`Tab`, `Enter`).
    pub fn press(&self, keys: &[&str]) {
        for key in keys {
            let status = Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-t", "0", key])
                .status()
                .expect("send-keys");
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
