//! One target's loop over a range of inputs: each input under `catch_unwind`, on a thread
//! with a 1 MiB stack (half a tokio worker's) so deep recursion crashes the run instead of
//! hiding; panics and broken promises become findings, written to files.

use crate::findings::Findings;
use crate::fuzzer::Fuzzer;
use crate::targets::Target;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;
use std::time::Instant;

/// The stack each parser target runs on.
pub const PARSER_STACK: usize = 1024 * 1024;
/// The HTTP sample's stack: a tokio worker's, the handlers' own in production.
pub const HANDLER_STACK: usize = 2 * 1024 * 1024;

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Panics of this thread are kept from now on (message and place) instead of printed;
/// other threads' go to the usual hook.
pub fn capture_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let usual = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = info.to_string());
            } else {
                usual(info);
            }
        }));
    });
    CAPTURING.with(|c| c.set(true));
}

/// The message of the last panic caught on this thread.
pub fn last_panic() -> String {
    LAST_PANIC.with(|p| p.borrow().clone())
}

/// What a worker tells the supervisor as it goes.
pub enum Progress<'a> {
    /// Every input before this index is done (before each input when tracing).
    At(u64),
    Finding(u64, &'a str),
}

pub struct Outcome {
    pub inputs: u64,
    pub seconds: f64,
    pub findings: u64,
}

/// Runs inputs `from..to` of `target` with `seed` on a thread of `stack` bytes.
pub fn work(
    target: Target,
    seed: u64,
    (from, to): (u64, u64),
    trace: bool,
    findings_dir: &Path,
    mut progress: impl FnMut(Progress) + Send,
) -> Outcome {
    let dir = findings_dir.to_owned();
    on_stack(PARSER_STACK, move || {
        capture_panics();
        let fuzzer = Fuzzer::new(target);
        let mut findings = Findings::new(&dir, target.name(), seed);
        let started = Instant::now();
        for index in from..to {
            if trace || index % 1024 == 0 {
                progress(Progress::At(index));
            }
            // A generator's panic is the fuzzer's own bug, but it is reported like any other.
            let Ok(body) = catch_unwind(AssertUnwindSafe(|| fuzzer.input(seed, index))) else {
                let failure = format!("panic making the input: {}", last_panic());
                progress(Progress::Finding(index, &failure));
                findings.add(index, b"", &failure);
                continue;
            };
            let failure = match catch_unwind(AssertUnwindSafe(|| fuzzer.check(&body))) {
                Ok(Ok(())) => continue,
                Ok(Err(broken)) => format!("violation: {broken}"),
                Err(_) => format!("panic: {}", last_panic()),
            };
            progress(Progress::Finding(index, &failure));
            findings.add(index, &body, &failure);
        }
        Outcome {
            inputs: to.saturating_sub(from),
            seconds: started.elapsed().as_secs_f64(),
            findings: findings.count(),
        }
    })
}

/// Runs `f` on a new thread with a stack of `bytes`; a panic that escapes `f` is re-raised.
pub fn on_stack<T: Send>(bytes: usize, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("fuzz".into())
            .stack_size(bytes)
            .spawn_scoped(s, f)
            .expect("a fuzzing thread")
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
    })
}
