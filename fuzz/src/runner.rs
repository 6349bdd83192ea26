//! The driver: regressions first, then mutated corpus inputs until the
//! budget runs out; a panic, a broken assertion, an allocation peak over the
//! target's bound or a hang is a finding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use crate::Target;
use crate::mutate::mutate;
use crate::rng::{Rng, fnv1a};

/// The global allocator of every binary that links this crate: the system
/// allocator, counting live bytes and their peak so an iteration's memory
/// can be bounded.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// plain atomics and never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// How long one run of a target may take.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Stop after this many mutated inputs.
    pub iterations: Option<u64>,
    /// Stop after this much wall time.
    pub seconds: Option<f64>,
}

/// A run that found nothing.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Mutated inputs run.
    pub iterations: u64,
    /// Regression and corpus inputs replayed before them.
    pub replayed: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// Mutated inputs per second.
    pub fn rate(&self) -> f64 {
        self.iterations as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An input that broke a target.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The target's name.
    pub target: &'static str,
    /// The run's seed (`--seed`).
    pub seed: u64,
    /// Which mutated input (0-based); `None` for a replayed file.
    pub iteration: Option<u64>,
    /// What went wrong: the panic message and where, or the bound broken.
    pub message: String,
    /// The input itself.
    pub input: Vec<u8>,
    /// Where the input was saved, if it was.
    pub artifact: Option<PathBuf>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = match self.iteration {
            Some(i) => format!("seed {:#x}, iteration {i}", self.seed),
            None => "replayed input".to_string(),
        };
        writeln!(f, "FINDING in {} ({at}): {}", self.target, self.message)?;
        writeln!(
            f,
            "input ({} bytes, hex): {}",
            self.input.len(),
            hex(&self.input)
        )?;
        writeln!(f, "input (lossy): {:?}", excerpt(&self.input))?;
        if let Some(path) = &self.artifact {
            write!(
                f,
                "saved to {}; replay: cargo run -p fuzz -- replay {} {}",
                path.display(),
                self.target,
                path.display()
            )?;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(2000).collect()
}

thread_local! {
    /// Set while a target runs: the panic hook records instead of printing.
    static CAPTURE: RefCell<Option<Option<String>>> = const { RefCell::new(None) };
}

fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let captured = CAPTURE.with(|c| {
                let mut c = c.borrow_mut();
                match c.as_mut() {
                    Some(slot) => {
                        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
                            (*s).to_string()
                        } else if let Some(s) = info.payload().downcast_ref::<String>() {
                            s.clone()
                        } else {
                            "panic with a non-string payload".to_string()
                        };
                        let at = info
                            .location()
                            .map(|l| format!(" at {}:{}", l.file(), l.line()))
                            .unwrap_or_default();
                        *slot = Some(format!("panicked{at}: {msg}"));
                        true
                    }
                    None => false,
                }
            });
            if !captured {
                default(info);
            }
        }));
    });
}

/// Runs `target` on one input: `Err` with the reason when it panics or its
/// allocation peak passes the target's memory bound.
pub fn check_one(target: &Target, input: &[u8]) -> Result<(), String> {
    install_hook();
    CAPTURE.with(|c| *c.borrow_mut() = Some(None));
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let result = panic::catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let message = CAPTURE.with(|c| c.borrow_mut().take()).flatten();
    match result {
        Err(_) => Err(message.unwrap_or_else(|| "panicked".into())),
        Ok(()) => {
            let limit = target.memory_limit(input.len());
            if peak > limit {
                Err(format!(
                    "allocated {peak} bytes at peak for a {}-byte input (bound {limit})",
                    input.len()
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// Where a target's files live: `corpus/<target>`, `regressions/<target>`,
/// `artifacts/<target>` under the fuzz crate.
pub fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

/// Every file in `dir`, sorted by name (missing dir: none).
pub fn load_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// Saves a failing input under `artifacts/<target>/<fnv>.bin`.
fn save_artifact(target: &str, input: &[u8]) -> Option<PathBuf> {
    let dir = dir("artifacts", target);
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{:016x}.bin", fnv1a(input)));
    std::fs::write(&path, input).ok()?;
    Some(path)
}

/// The longest an input may run before it counts as a hang.
const HANG_AFTER: Duration = Duration::from_secs(30);

/// Replays `target`'s regressions and corpus, then fuzzes it within
/// `budget`. Runs on a thread with an 8 MiB stack (a main thread's); a
/// watchdog reports an input that runs past 30 s and ends the process, as
/// a hang cannot be unwound.
pub fn run(target: &'static Target, seed: u64, budget: Budget) -> Result<Outcome, Finding> {
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let beat = Arc::new(AtomicU64::new(0));
    let worker = {
        let current = Arc::clone(&current);
        let beat = Arc::clone(&beat);
        std::thread::Builder::new()
            .name(format!("fuzz-{}", target.name))
            .stack_size(8 << 20)
            .spawn(move || fuzz_loop(target, seed, budget, &current, &beat))
            .expect("spawn the fuzz thread")
    };
    let mut last = (beat.load(Ordering::Relaxed), Instant::now());
    while !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let b = beat.load(Ordering::Relaxed);
        if b != last.0 {
            last = (b, Instant::now());
        } else if last.1.elapsed() > HANG_AFTER {
            let input = current.lock().map(|g| g.clone()).unwrap_or_default();
            let finding = Finding {
                target: target.name,
                seed,
                iteration: None,
                message: format!("hang: one input ran for more than {HANG_AFTER:?}"),
                artifact: save_artifact(target.name, &input),
                input,
            };
            eprintln!("{finding}");
            std::process::exit(3);
        }
    }
    worker.join().expect("the fuzz thread catches panics")
}

fn fuzz_loop(
    target: &'static Target,
    seed: u64,
    budget: Budget,
    current: &Mutex<Vec<u8>>,
    beat: &AtomicU64,
) -> Result<Outcome, Finding> {
    let start = Instant::now();
    let fail = |input: &[u8], iteration: Option<u64>, message: String| Finding {
        target: target.name,
        seed,
        iteration,
        message,
        artifact: if iteration.is_some() {
            save_artifact(target.name, input)
        } else {
            None
        },
        input: input.to_vec(),
    };
    let mut replayed = 0;
    let regressions = load_dir(&dir("regressions", target.name));
    let corpus: Vec<Vec<u8>> = load_dir(&dir("corpus", target.name))
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    for (path, input) in &regressions {
        set(current, input);
        if let Err(m) = check_one(target, input) {
            return Err(fail(input, None, format!("{} ({})", m, path.display())));
        }
        beat.fetch_add(1, Ordering::Relaxed);
        replayed += 1;
    }
    for input in &corpus {
        set(current, input);
        if let Err(m) = check_one(target, input) {
            return Err(fail(input, None, format!("{m} (a corpus entry)")));
        }
        beat.fetch_add(1, Ordering::Relaxed);
        replayed += 1;
    }
    let deadline = budget.seconds.map(Duration::from_secs_f64);
    let mut i = 0u64;
    loop {
        if budget.iterations.is_some_and(|n| i >= n) {
            break;
        }
        if deadline.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        let mut rng = Rng::new(seed ^ i.wrapping_mul(0xA076_1D64_78BD_642F));
        let input = mutate(&corpus, target.tokens, target.max_len, &mut rng);
        set(current, &input);
        if let Err(m) = check_one(target, &input) {
            return Err(fail(&input, Some(i), m));
        }
        beat.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    Ok(Outcome {
        iterations: i,
        replayed,
        elapsed: start.elapsed(),
    })
}

fn set(current: &Mutex<Vec<u8>>, input: &[u8]) {
    if let Ok(mut g) = current.lock() {
        g.clear();
        g.extend_from_slice(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runner itself: a panicking target is a finding, with its message,
    /// and an allocation past the bound is one too.
    #[test]
    fn the_runner_reports_panics_and_memory() {
        fn boom(data: &[u8]) {
            assert!(!data.starts_with(b"boom"), "said boom");
        }
        fn hog(data: &[u8]) {
            let v = vec![1u8; (1 << 20) + data.len()];
            assert!(v.len() >= 1 << 20);
        }
        let t = crate::Target {
            name: "test_boom",
            about: "",
            run: boom,
            max_len: 16,
            tokens: &[],
            memory_base: 1 << 20,
            memory_per_byte: 0,
        };
        let e = check_one(&t, b"boom!").unwrap_err();
        assert!(e.contains("said boom"), "{e}");
        assert!(check_one(&t, b"fine").is_ok());
        let h = crate::Target {
            run: hog,
            memory_base: 1 << 19,
            ..t
        };
        let e = check_one(&h, b"").unwrap_err();
        assert!(e.contains("at peak"), "{e}");
    }
}
