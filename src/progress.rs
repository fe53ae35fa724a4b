//! A spinner on stderr while a cluster read takes long: it appears after half a
//! second, says what is being read, and is wiped when the read ends. Only when
//! stderr is a terminal; never in pipes or logs.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const DELAY: Duration = Duration::from_millis(500);
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// What the cluster client is reading now, shared with the spinner.
pub type Status = Arc<Mutex<String>>;

pub struct Spinner {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner showing `status`, or nothing when stderr is no terminal
    /// or `enabled` is false.
    pub fn start(status: Status, enabled: bool) -> Spinner {
        let done = Arc::new(AtomicBool::new(false));
        let usable = enabled
            && std::io::stderr().is_terminal()
            && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let thread = usable.then(|| {
            let done = done.clone();
            std::thread::spawn(move || {
                std::thread::sleep(DELAY);
                let mut shown = false;
                let mut frame = 0;
                while !done.load(Ordering::Acquire) {
                    let what = status.lock().map(|s| s.clone()).unwrap_or_default();
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{} {what}", FRAMES[frame % FRAMES.len()]);
                    let _ = err.flush();
                    shown = true;
                    frame += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                if shown {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K");
                    let _ = err.flush();
                }
            })
        });
        Spinner { done, thread }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
