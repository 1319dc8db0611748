//! The threads the kernels split their work over: the calling thread and one helper per other
//! core, which after each job spins for a while before it sleeps. A training step is dozens of
//! short parallel passes (products, elementwise passes, the optimiser's updates) with a little
//! single-threaded work between them; a pool whose threads fall asleep between passes pays a
//! wake-up for each, which on two cores cost a quarter of a small step (measured, see
//! docs/results.md#speed).
//!
//! [`split`] runs `work(part)` for `0..parts` over the team and returns when every part is
//! done. Which thread runs a part never changes its result: the parts are fixed by the caller.
//! A second caller while the team is busy (tests running side by side) runs its parts itself.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// How long a helper spins for the next job before it sleeps: longer than the single-threaded
/// gaps inside a step, far shorter than the gaps between steps.
const SPIN: Duration = Duration::from_micros(300);

/// Whether the helpers flush subnormals (see [`flush_subnormals`]).
static FLUSH: AtomicBool = AtomicBool::new(false);

/// Makes the helpers flush subnormals to zero, or keep them, from their next job on, as the
/// caller's thread does (see `kernels::flush_subnormals`).
pub fn flush_subnormals(flush: bool) {
    FLUSH.store(flush, Ordering::SeqCst);
}

/// One job: `work` for the parts `0..parts`, claimed one at a time.
struct Job<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    parts: usize,
    next: AtomicUsize,
    done: AtomicUsize,
}

impl Job<'_> {
    /// Claims and runs parts until none is left.
    fn run(&self) {
        loop {
            let part = self.next.fetch_add(1, Ordering::SeqCst);
            if part >= self.parts {
                return;
            }
            (self.work)(part);
            self.done.fetch_add(1, Ordering::SeqCst);
        }
    }
}

struct Team {
    /// One caller at a time; the others run their parts themselves.
    caller: Mutex<()>,
    /// The job of the moment (a `Job` on the caller's stack), null between jobs.
    job: AtomicPtr<Job<'static>>,
    /// Helpers inside the job they loaded: the caller waits for them to leave before its job
    /// goes out of scope.
    inside: AtomicUsize,
    /// Helpers asleep, to be woken for a job.
    sleeping: Vec<(AtomicBool, OnceLock<Thread>)>,
    /// A count of jobs, so that a helper takes each job once.
    jobs: AtomicUsize,
    _not_send: UnsafeCell<()>,
}

// SAFETY: every field is shared through atomics or a mutex; the cell is never touched.
unsafe impl Sync for Team {}

fn team() -> &'static Team {
    static TEAM: OnceLock<&'static Team> = OnceLock::new();
    TEAM.get_or_init(|| {
        let helpers = threads() - 1;
        let team: &'static Team = Box::leak(Box::new(Team {
            caller: Mutex::new(()),
            job: AtomicPtr::new(std::ptr::null_mut()),
            inside: AtomicUsize::new(0),
            sleeping: (0..helpers)
                .map(|_| (AtomicBool::new(false), OnceLock::new()))
                .collect(),
            jobs: AtomicUsize::new(0),
            _not_send: UnsafeCell::new(()),
        }));
        for helper in 0..helpers {
            let spawned = std::thread::Builder::new()
                .name("compute-helper".to_owned())
                .spawn(move || help(team, helper));
            if let Ok(handle) = spawned {
                let _ = team.sleeping[helper].1.set(handle.thread().clone());
            }
        }
        team
    })
}

/// The threads of the team: one per core this process may use.
pub fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A helper's life: take each job as it comes, spin a while for the next, then sleep.
fn help(team: &'static Team, index: usize) {
    let mut seen = 0;
    let mut flushing = false;
    let _ = super::kernels::flush_subnormals(flushing);
    loop {
        let started = Instant::now();
        while team.jobs.load(Ordering::SeqCst) == seen {
            if started.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let (asleep, _) = &team.sleeping[index];
            asleep.store(true, Ordering::SeqCst);
            // A job published after the flag was set will find it and wake this thread; one
            // published before is seen here.
            if team.jobs.load(Ordering::SeqCst) == seen {
                std::thread::park();
            }
            asleep.store(false, Ordering::SeqCst);
        }
        seen = team.jobs.load(Ordering::SeqCst);
        let flush = FLUSH.load(Ordering::SeqCst);
        if flush != flushing {
            let _ = super::kernels::flush_subnormals(flush);
            flushing = flush;
        }
        team.inside.fetch_add(1, Ordering::SeqCst);
        let job = team.job.load(Ordering::SeqCst);
        if !job.is_null() {
            // SAFETY: the caller keeps its job alive until `inside` is back to zero after it
            // cleared `job`; this thread entered before reading a non-null `job`.
            unsafe { (*job).run() };
        }
        team.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `work(part)` for every part in `0..parts` over the team (the caller included) and
/// returns once all are done.
pub fn split(parts: usize, work: impl Fn(usize) + Sync) {
    if parts <= 1 || threads() == 1 {
        (0..parts).for_each(work);
        return;
    }
    let team = team();
    let Ok(_turn) = team.caller.try_lock() else {
        (0..parts).for_each(work);
        return;
    };
    let job = Job {
        work: &work,
        parts,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
    };
    // SAFETY: the lifetime is erased only while `job` is published; it is unpublished, and
    // every helper has left it, before this function returns.
    let erased = unsafe { std::mem::transmute::<&Job<'_>, &'static Job<'static>>(&job) };
    team.job
        .store(std::ptr::from_ref(erased).cast_mut(), Ordering::SeqCst);
    team.jobs.fetch_add(1, Ordering::SeqCst);
    for (asleep, thread) in &team.sleeping {
        if asleep.load(Ordering::SeqCst)
            && let Some(thread) = thread.get()
        {
            thread.unpark();
        }
    }
    job.run();
    while job.done.load(Ordering::SeqCst) < parts {
        std::hint::spin_loop();
    }
    team.job.store(std::ptr::null_mut(), Ordering::SeqCst);
    while team.inside.load(Ordering::SeqCst) > 0 {
        std::hint::spin_loop();
    }
}

/// Runs `work(i, chunk)` for each `chunk`, `len` values long (the last shorter), of `values`,
/// over the team.
pub(crate) fn chunks_mut<T: Send>(
    values: &mut [T],
    len: usize,
    work: impl Fn(usize, &mut [T]) + Sync,
) {
    let total = values.len();
    let len = len.max(1);
    let base = Base(values.as_mut_ptr());
    split(total.div_ceil(len), |i| {
        let start = i * len;
        // SAFETY: each part is run once, and the parts' ranges do not overlap.
        let chunk =
            unsafe { std::slice::from_raw_parts_mut(base.at(start), len.min(total - start)) };
        work(i, chunk);
    });
}

/// `len` values from `write`, which writes every one of them: allocated without zeroing.
pub(crate) fn written(len: usize, write: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::with_capacity(len);
    write(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: every kernel handed such a slice writes all of it.
    unsafe { values.set_len(len) };
    values
}

/// `values` once every one of them is written.
///
/// # Safety
///
/// Every value of `values` must have been written.
pub(crate) unsafe fn init(values: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: written, as the caller promises; MaybeUninit<f32> has f32's layout.
    unsafe { &mut *(values as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// The start of a slice that parts of a job write disjoint ranges of.
struct Base<T>(*mut T);

// SAFETY: the parts sharing it touch disjoint elements.
unsafe impl<T: Send> Sync for Base<T> {}

impl<T> Base<T> {
    fn at(&self, offset: usize) -> *mut T {
        self.0.wrapping_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the parts of a job ran on the helpers too, and what `tiny * 1` gave on each.
    #[cfg(target_arch = "x86_64")]
    fn products_of_a_subnormal() -> (bool, Vec<u32>) {
        let tiny = f32::MIN_POSITIVE / 4.0;
        let caller = std::thread::current().id();
        let elsewhere = AtomicBool::new(false);
        let results: Vec<AtomicUsize> = (0..256).map(|_| AtomicUsize::new(0)).collect();
        split(256, |part| {
            let value = std::hint::black_box(tiny) * std::hint::black_box(1.0);
            results[part].store(value.to_bits() as usize, Ordering::SeqCst);
            if std::thread::current().id() != caller {
                elsewhere.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_micros(20));
        });
        let bits = results.iter().map(|r| r.load(Ordering::SeqCst) as u32);
        (elsewhere.load(Ordering::SeqCst), bits.collect())
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_helpers_flush_subnormals_as_the_plan_says() {
        if threads() < 2 {
            return;
        }
        let tiny = f32::MIN_POSITIVE / 4.0;
        for (flush, expected) in [(true, 0.0f32), (false, tiny), (true, 0.0)] {
            flush_subnormals(flush);
            let was = super::super::kernels::flush_subnormals(flush);
            // Another test's job may hold the team, and then this one's parts all run on
            // this thread: tried again until one runs on a helper.
            let (helped, bits) = (0..200)
                .map(|_| products_of_a_subnormal())
                .find(|(helped, _)| *helped)
                .unwrap_or_default();
            super::super::kernels::flush_subnormals(was);
            assert!(helped, "no part ran on a helper");
            assert!(
                bits.iter().all(|b| *b == expected.to_bits()),
                "flush {flush}"
            );
        }
        flush_subnormals(false);
    }

    #[test]
    fn every_part_runs_once_whatever_the_callers() {
        let counts: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for parts in [0, 1, 2, 3, 17, 100] {
                        split(parts, |part| {
                            counts[part].fetch_add(1, Ordering::SeqCst);
                        });
                    }
                });
            }
        });
        let runs: usize = counts.iter().map(|c| c.load(Ordering::SeqCst)).sum();
        assert_eq!(runs, 4 * (1 + 2 + 3 + 17 + 100));
        assert_eq!(
            counts[0].load(Ordering::SeqCst),
            4 * 5,
            "part 0 of each job with parts"
        );
        assert_eq!(
            counts[99].load(Ordering::SeqCst),
            4,
            "part 99 of the 100-part jobs"
        );
    }
}
