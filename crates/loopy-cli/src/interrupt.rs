//! Signals during long work (render, conform): the first SIGINT, SIGTERM or SIGHUP
//! asks the work to stop cleanly (it removes its temporary files); a second removes
//! them and exits at once. The exit code is the shell's for the signal: 130 (SIGINT),
//! 143 (SIGTERM), 129 (SIGHUP).

use anyhow::{Context, Result};
use loopy_media::{render, RenderError};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;

/// How a render was asked to stop: the first signal stops it cleanly (the render
/// removes its temporary file); a second removes the temporary file and exits at
/// once. The exit code is the shell's for the signal: 130 (SIGINT), 143 (SIGTERM),
/// 129 (SIGHUP).
pub struct Interrupt {
    pub cancel: Arc<AtomicBool>,
    signal: Arc<AtomicI32>,
}

impl Interrupt {
    pub fn install() -> Result<Self> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let cancel = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicI32::new(0));
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
            .context("cannot install the signal handlers")?;
        let (flag, which) = (Arc::clone(&cancel), Arc::clone(&signal));
        std::thread::spawn(move || {
            for (count, received) in signals.forever().enumerate() {
                if count == 0 {
                    which.store(received, Ordering::SeqCst);
                    flag.store(true, Ordering::SeqCst);
                    // Only a person at a terminal presses Ctrl-C twice.
                    if received == SIGINT && !crate::output::quiet() {
                        eprintln!("\nstopping… (press Ctrl-C again to abort at once)");
                    }
                } else {
                    render::temp::remove_active_temp_files();
                    eprintln!("\naborted");
                    std::process::exit(128 + received);
                }
            }
        });
        Ok(Interrupt { cancel, signal })
    }

    /// 128 + the signal that stopped the work (SIGINT when none was recorded: the
    /// work stopped for another reason that looks like a cancel).
    pub fn exit_code(&self) -> i32 {
        match self.signal.load(Ordering::SeqCst) {
            0 => 128 + signal_hook::consts::SIGINT,
            signal => 128 + signal,
        }
    }

    /// `result`, unless the work stopped because of a signal: then says `note` (when
    /// not quiet, and if there is one) and exits with the signal's code.
    pub fn exit_if_cancelled<T>(
        &self,
        result: Result<T, RenderError>,
        note: &str,
    ) -> Result<T, RenderError> {
        if let Err(RenderError::Cancelled) = result {
            if !note.is_empty() && !crate::output::quiet() {
                eprintln!("{note}");
            }
            std::process::exit(self.exit_code());
        }
        result
    }
}
