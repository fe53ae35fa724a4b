//! Ctrl-C and SIGTERM during the writes of a change.
//!
//! A change of several targets writes them one after another. Killed between
//! two writes, it would leave no word of what was written. So while writes run,
//! SIGINT and SIGTERM only raise a flag: the write in flight finishes, no new
//! one starts, and the command reports what was written and what was not. A
//! second signal ends the process at once, as a user pressing Ctrl-C twice
//! expects.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signals received since [`Interrupt::install`].
pub struct Interrupt {
    /// The last signal received; 0 for none.
    last: Arc<AtomicUsize>,
}

impl Interrupt {
    /// From now on, SIGINT and SIGTERM are noted rather than ending the
    /// process, the first time. Should the handlers not install, signals keep
    /// their default action.
    pub fn install() -> Interrupt {
        let last = Arc::new(AtomicUsize::new(0));
        for signal in [SIGINT, SIGTERM] {
            // The second signal ends the process (exit 128 + signal number, as
            // a shell reports it); the first is noted.
            let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let _ = signal_hook::flag::register_conditional_shutdown(
                signal,
                128 + signal,
                Arc::clone(&flag),
            );
            let _ = signal_hook::flag::register(signal, flag);
            let noted = Arc::clone(&last);
            let _ = signal_hook::flag::register_usize(signal, noted, signal as usize);
        }
        Interrupt { last }
    }

    /// The signal received, if any: `SIGINT` or `SIGTERM`.
    pub fn raised(&self) -> Option<&'static str> {
        match self.last.load(Ordering::SeqCst) {
            0 => None,
            s if s == SIGINT as usize => Some("SIGINT"),
            _ => Some("SIGTERM"),
        }
    }
}
