//! The threads of one encoder pass: the caller and the helpers of one process-wide team, which
//! share each parallel loop of the pass chunk by chunk.
//!
//! Why not rayon: an encoder pass is some 40 parallel loops of 0.05–1 ms each, with short
//! serial stretches between them. Rayon's idle workers sleep after a few dozen microseconds,
//! and in a virtual machine waking a thread on a halted virtual core takes 30–150 µs at the
//! median and up to milliseconds at the tail (measured on the 2-core hosts this project runs
//! on), so a pass paid that many times over, and split its loops in halves that waited for the
//! slower core. Here:
//!
//! - a pass holds the team from its first loop to its last; its helpers spin between loops
//!   (yielding to the scheduler after [`SPIN`]) and sleep only when the pass is over and no
//!   other pass has started within [`LINGER`];
//! - a loop is cut into chunks that every thread claims one at a time, the caller too, so the
//!   loop never waits for a helper that is late: the caller starts at once, a helper that wakes
//!   late takes what is left, and one that never comes leaves the caller to do it all;
//! - a pass takes the team only when it is the only pass in flight. One that starts while
//!   another is in flight runs on its own thread, and a pass holding the team stops offering
//!   its loops while others are in flight; helpers sleep then. Under load every core already
//!   has a pass to run: sharing loops would add hand-offs and spinning helpers that take cores
//!   from the passes, and making every pass wait for the team would serialize them (measured:
//!   a quarter fewer streamed answers a second at 50 clients);
//! - the helpers are kept off the core of the thread that runs the pass ([`Placement`]): the
//!   scheduler left a helper queued behind that thread, with the other core idle, in 11–16%
//!   of the passes of a guard answering one request at a time, which then ran at one core's
//!   speed;
//! - at most as many passes compute at once as there are cores (the team's pass counts for
//!   one); the others wait in line, first come first served ([`Line`]). Left to the
//!   scheduler, dozens of passes would share the cores evenly and all finish late together,
//!   which doubled the slowest requests' latency under load.
//!
//! Each chunk is computed the same way whichever thread claims it, so results do not depend on
//! the threads (the encoder's bit-for-bit tests cover this).

use std::cell::Cell;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, TryLockError};
use std::thread::{LocalKey, Thread};
use std::time::{Duration, Instant};

/// How long a waiting thread spins before it yields its core at each check.
const SPIN: Duration = Duration::from_micros(200);
/// How long helpers wait for the next pass after one ends before they sleep.
const LINGER: Duration = Duration::from_micros(50);

/// One parallel loop: `chunks` calls of `f`, claimed one at a time.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    chunks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Claims and runs chunks until none is left. A panicking chunk counts as done (and
    /// marks the job), so that the caller never waits for it.
    fn work(&self) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c >= self.chunks {
                return;
            }
            if catch_unwind(AssertUnwindSafe(|| (self.f)(c))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// What the caller and its helpers share.
struct Shared {
    /// The loop on offer: a `*const Job` with its lifetime erased, null between loops.
    job: AtomicPtr<()>,
    /// Bumped for each loop offered.
    epoch: AtomicU64,
    /// Helpers between reading `job` and being done with what they read.
    entered: AtomicUsize,
    /// A pass holds the team: helpers spin instead of sleeping.
    active: AtomicBool,
    /// Until when (nanoseconds after `EPOCH`) helpers stay awake for a pass announced by
    /// [`expect`].
    awake_until: AtomicU64,
    /// Passes in flight, holding the team or not (see [`pass`]).
    in_flight: AtomicUsize,
    /// Per helper: asleep, or about to sleep (the pass's start wakes it).
    parked: Vec<AtomicBool>,
    threads: OnceLock<Vec<Thread>>,
    placement: Placement,
}

/// The clock of [`Shared::awake_until`].
fn now_nanos() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

impl Shared {
    /// Whether a pass announced by [`expect`] may still come.
    fn expected(&self) -> bool {
        now_nanos() < self.awake_until.load(Ordering::SeqCst)
    }

    /// Whether the pass holding the team may offer loops: it is the only one in flight.
    fn alone(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) <= 1
    }

    /// Whether helpers should stay awake: a pass holding the team may offer a loop, or one
    /// announced by [`expect`] may come, and no other pass is in flight.
    fn wanted(&self) -> bool {
        self.alone() && (self.active.load(Ordering::SeqCst) || self.expected())
    }

    /// Wakes the helpers that sleep.
    fn wake(&self) {
        if let Some(threads) = self.threads.get() {
            for (flag, t) in self.parked.iter().zip(threads) {
                if flag.swap(false, Ordering::SeqCst) {
                    t.unpark();
                }
            }
        }
    }
}

/// Places for passes computing at once, given in the order they were asked for.
struct Line {
    state: Mutex<LineState>,
}

struct LineState {
    free: usize,
    waiting: VecDeque<Arc<Waiter>>,
}

/// A thread waiting in [`Line`]: given a place by the one that leaves it.
struct Waiter {
    given: AtomicBool,
    thread: Thread,
}

impl Line {
    fn new(places: usize) -> Line {
        Line {
            state: Mutex::new(LineState {
                free: places.max(1),
                waiting: VecDeque::new(),
            }),
        }
    }

    /// Takes a place, waiting behind those that asked before. The place is held until the
    /// returned value is dropped (a panic too gives it back).
    fn enter(&self) -> Place<'_> {
        let me = {
            let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if st.free > 0 && st.waiting.is_empty() {
                st.free -= 1;
                return Place(self);
            }
            let me = Arc::new(Waiter {
                given: AtomicBool::new(false),
                thread: std::thread::current(),
            });
            st.waiting.push_back(me.clone());
            me
        };
        // `park` may return without an unpark: the flag decides.
        while !me.given.load(Ordering::Acquire) {
            std::thread::park();
        }
        Place(self)
    }

    /// Hands the place to the first in line, or frees it.
    fn leave(&self) {
        let mut st = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match st.waiting.pop_front() {
            Some(next) => {
                drop(st);
                next.given.store(true, Ordering::Release);
                next.thread.unpark();
            }
            None => st.free += 1,
        }
    }
}

/// A place in [`Line`], given back on drop.
struct Place<'a>(&'a Line);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// The process's team: `helpers` threads beside whichever thread runs a pass.
pub(crate) struct Team {
    shared: &'static Shared,
    /// Held by the pass using the team.
    gate: Mutex<()>,
    /// One place per core for the passes in flight.
    line: Line,
}

thread_local! {
    /// The team this thread holds for its pass, if any.
    static HELD: Cell<Option<&'static Team>> = const { Cell::new(None) };
    /// This thread runs a pass without the team: a pass inside it is part of it.
    static SOLO: Cell<bool> = const { Cell::new(false) };
    /// This thread is in a loop it offered to the team: a loop inside one of its chunks runs
    /// on this thread alone (the team has one loop on offer at a time).
    static IN_LOOP: Cell<bool> = const { Cell::new(false) };
}

impl Team {
    /// The team, started on first use with one helper less than the machine has cores.
    fn global() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            Team::start(cores.saturating_sub(1))
        })
    }

    /// The team, when this thread's passes are to use it: the rayon context asks for more
    /// than one thread (`RAYON_NUM_THREADS`, or a pool of one installed by a caller) and the
    /// machine has more than one core.
    fn wanted() -> Option<&'static Team> {
        if rayon::current_num_threads() <= 1 {
            return None;
        }
        Some(Team::global()).filter(|t| !t.shared.parked.is_empty())
    }

    fn start(helpers: usize) -> Team {
        let shared: &'static Shared = Box::leak(Box::new(Shared {
            job: AtomicPtr::new(std::ptr::null_mut()),
            epoch: AtomicU64::new(0),
            entered: AtomicUsize::new(0),
            active: AtomicBool::new(false),
            awake_until: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            parked: (0..helpers).map(|_| AtomicBool::new(false)).collect(),
            threads: OnceLock::new(),
            placement: Placement::new(helpers),
        }));
        let threads = (0..helpers)
            .filter_map(|i| {
                std::thread::Builder::new()
                    .name(format!("encoder-{}", i + 1))
                    .spawn(move || helper(shared, i))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect();
        let _ = shared.threads.set(threads);
        Team {
            shared,
            gate: Mutex::new(()),
            line: Line::new(helpers + 1),
        }
    }

    /// Offers `f(0) … f(chunks − 1)` to the team and works on it until every chunk is done.
    fn run(&self, chunks: usize, f: &(dyn Fn(usize) + Sync)) {
        let s = self.shared;
        let job = Job {
            f,
            chunks,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
        };
        s.job
            .store(&job as *const Job<'_> as *mut (), Ordering::SeqCst);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        // The caller may have moved to another core since the last loop.
        s.placement.keep_helpers_off_this_core();
        // Helpers that slept while other passes were in flight.
        s.wake();
        job.work();
        wait_until(|| job.done.load(Ordering::Acquire) == chunks);
        // Withdraw the offer, then wait for every helper that may have read it to let go:
        // `job` lives on this stack.
        s.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        wait_until(|| s.entered.load(Ordering::SeqCst) == 0);
        if job.panicked.load(Ordering::Relaxed) {
            resume_unwind(Box::new("a chunk of an encoder loop panicked"));
        }
    }
}

/// Spins until `done()`, then yields the core between checks.
fn wait_until(done: impl Fn() -> bool) {
    let start = Instant::now();
    let mut n = 0u32;
    while !done() {
        n = n.wrapping_add(1);
        if n.is_multiple_of(64) && start.elapsed() > SPIN {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// A helper's life: wait for a loop, take chunks of it, again.
fn helper(s: &'static Shared, me: usize) {
    s.placement.register(me);
    let mut seen = s.epoch.load(Ordering::Acquire);
    loop {
        // Wait for the next loop.
        let mut since = Instant::now();
        let mut n = 0u32;
        loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            n = n.wrapping_add(1);
            if !n.is_multiple_of(64) {
                std::hint::spin_loop();
                continue;
            }
            if s.wanted() {
                if since.elapsed() > SPIN {
                    std::thread::yield_now();
                }
            } else if !s.alone() || since.elapsed() > LINGER {
                // Sleep until a pass may offer loops or is expected. The flag is raised before
                // the state is read again, and whoever changes the state so that helpers are
                // wanted (a pass raising `active`, [`expect`] its deadline, a pass offering a
                // loop once it is alone) does so before it reads the flag: one of the two sees
                // the other, so no loop is offered with this helper asleep unwoken.
                s.parked[me].store(true, Ordering::SeqCst);
                while !s.wanted() && s.parked[me].load(Ordering::SeqCst) {
                    std::thread::park();
                }
                s.parked[me].store(false, Ordering::SeqCst);
                since = Instant::now();
            }
        }
        s.entered.fetch_add(1, Ordering::SeqCst);
        let p = s.job.load(Ordering::SeqCst);
        // The epoch is read again: a pointer read after a newer loop was offered belongs to
        // that loop, which the next turn takes.
        if !p.is_null() && s.epoch.load(Ordering::SeqCst) == seen {
            // SAFETY: the offering thread keeps the job alive until `entered` is back to zero
            // after it withdrew the offer, and this thread counted itself in before reading.
            let job = unsafe { &*(p as *const Job<'_>) };
            job.work();
        }
        s.entered.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs `f` as one encoder pass: on this thread and the team's helpers when the rayon
/// context asks for more than one thread (`RAYON_NUM_THREADS`, or a pool of one thread
/// installed by a caller) and no other pass is in flight, on this thread alone otherwise.
/// When as many passes as cores are computing, it waits for one of them to end, behind those
/// that came before it. A pass inside a pass is part of it.
pub(crate) fn pass<R>(f: impl FnOnce() -> R) -> R {
    if HELD.with(Cell::get).is_some() || SOLO.with(Cell::get) {
        return f();
    }
    let Some(team) = Team::wanted() else {
        return f();
    };
    let s = team.shared;
    // Counted for as long as `f` runs, whether it holds the team or not.
    struct InFlight(&'static Shared);
    impl Drop for InFlight {
        fn drop(&mut self) {
            self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let before = s.in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight(s);
    // When no other pass was in flight the gate is free; it is tried, not waited for, so
    // that a pass never waits for the team. A pass that panicked left it poisoned, which
    // changes nothing here.
    let gate = match before {
        0 => match team.gate.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        },
        _ => None,
    };
    let _place = team.line.enter();
    let Some(_gate) = gate else {
        return raised(&SOLO, f);
    };
    // Before the helpers wake, so that none is woken onto this thread's core.
    s.placement.keep_helpers_off_this_core();
    s.active.store(true, Ordering::SeqCst);
    s.wake();
    struct Release(&'static Team);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.shared.active.store(false, Ordering::SeqCst);
            HELD.with(|h| h.set(None));
        }
    }
    HELD.with(|h| h.set(Some(team)));
    let _release = Release(team);
    f()
}

/// Where the helpers may run: anywhere but the core of the thread that runs the pass.
///
/// The scheduler places a thread where it woke or last ran, and moves a queued one to an idle
/// core only when that core next balances, which it may not do for a whole pass: it counts a
/// thread that ran within the last half millisecond as cache-hot, and a spinning helper always
/// did. On a guard answering one request at a time (2 cores, int8), 46 of 410 passes had the
/// helper claim under 10% of the chunks (a pass then ran at one core's speed, 7–9 ms against
/// 4.8 ms at the median), and in 42 of them it had last run on the caller's core. So the
/// thread that holds the team reads its core (`getcpu`, no system call) before the pass and
/// before each loop, and where a helper's allowed cores include it, takes it out of them (one
/// `sched_setaffinity`, which moves a helper queued there at once). The helper keeps that mask
/// until a pass runs from the core it was sent to; the helpers' own cores are never chosen
/// here, only avoided. Alternated pass by pass in one proxy (405 passes each): no pass with a
/// starved helper against 63 without this, a mean pass of 5.79 against 6.44 ms, p90 7.57
/// against 9.18 ms.
/// Elsewhere than Linux, or where the calls fail, nothing is done.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct Placement {
    /// Per helper: its kernel thread id, 0 until it has started.
    tids: Vec<std::sync::atomic::AtomicI32>,
    /// Per helper: the core its mask leaves out, [`Placement::NONE`] while it has the
    /// process's whole mask.
    kept_off: Vec<AtomicUsize>,
    /// The cores the process may use, read when the team started.
    #[cfg(target_os = "linux")]
    allowed: Option<libc::cpu_set_t>,
}

impl Placement {
    const NONE: usize = usize::MAX;

    fn new(helpers: usize) -> Placement {
        Placement {
            tids: (0..helpers)
                .map(|_| std::sync::atomic::AtomicI32::new(0))
                .collect(),
            kept_off: (0..helpers).map(|_| AtomicUsize::new(Self::NONE)).collect(),
            #[cfg(target_os = "linux")]
            allowed: affinity::mask(0),
        }
    }

    /// Called by helper `me` on its own thread when it starts.
    fn register(&self, me: usize) {
        #[cfg(target_os = "linux")]
        self.tids[me].store(affinity::thread_id(), Ordering::SeqCst);
        #[cfg(not(target_os = "linux"))]
        let _ = me;
    }

    /// Makes sure no helper may run on this thread's core (see [`Placement`]). Called only by
    /// the thread holding the team, so that two threads never set a helper's mask at once.
    fn keep_helpers_off_this_core(&self) {
        #[cfg(target_os = "linux")]
        {
            let (Some(allowed), Some(core)) = (&self.allowed, affinity::current_core()) else {
                return;
            };
            for (tid, kept_off) in self.tids.iter().zip(&self.kept_off) {
                let tid = tid.load(Ordering::SeqCst);
                if tid != 0
                    && kept_off.load(Ordering::Relaxed) != core
                    && affinity::set_all_but(tid, allowed, core)
                {
                    kept_off.store(core, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The Linux calls behind [`Placement`].
#[cfg(target_os = "linux")]
mod affinity {
    /// The cores thread `tid` (0: the calling thread) may run on, `None` if they cannot be
    /// read.
    pub(super) fn mask(tid: libc::pid_t) -> Option<libc::cpu_set_t> {
        // SAFETY: `set` is a plain bit set that the call fills; zeroed is a valid value.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: the size passed is the size of `set`.
        let ok = unsafe {
            libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set)
        } == 0;
        ok.then_some(set)
    }

    /// The kernel's id of the calling thread.
    pub(super) fn thread_id() -> libc::pid_t {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }

    /// The core the calling thread runs on.
    pub(super) fn current_core() -> Option<usize> {
        // SAFETY: sched_getcpu has no preconditions.
        usize::try_from(unsafe { libc::sched_getcpu() }).ok()
    }

    /// Lets thread `tid` run on the cores of `allowed` but `core`. True when done, and when
    /// `core` is not in `allowed` (the thread cannot be there: nothing to do); false when that
    /// would leave no core, or the call failed (the thread's mask is then unchanged).
    pub(super) fn set_all_but(tid: libc::pid_t, allowed: &libc::cpu_set_t, core: usize) -> bool {
        let mut set = *allowed;
        // SAFETY: CPU_* only read and write within `set`, and check `core` against its size.
        unsafe {
            if core >= libc::CPU_SETSIZE as usize || !libc::CPU_ISSET(core, &set) {
                // A core outside the mask: the helper cannot be there.
                return true;
            }
            libc::CPU_CLR(core, &mut set);
            if libc::CPU_COUNT(&set) == 0 {
                return false;
            }
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }
}

/// Runs `f` with this thread's `flag` raised, and lowers it after, on a panic too.
fn raised<R>(flag: &'static LocalKey<Cell<bool>>, f: impl FnOnce() -> R) -> R {
    struct Lower(&'static LocalKey<Cell<bool>>);
    impl Drop for Lower {
        fn drop(&mut self) {
            self.0.with(|l| l.set(false));
        }
    }
    flag.with(|l| l.set(true));
    let _lower = Lower(flag);
    f()
}

/// Announces a pass within `within`: the team's sleeping helpers are woken now and stay
/// awake until then, so that the pass finds them at work rather than paying for their wake-up
/// (which on a virtual machine can take longer than a short pass). For a caller that knows a
/// pass is coming before it can start it: a request has arrived, but its text must be read
/// and tokenized first. Costs a system call when helpers sleep, nothing otherwise. Does
/// nothing while a pass is in flight: the pass announced would then run on its own thread.
pub fn expect(within: Duration) {
    let Some(team) = Team::wanted() else {
        return;
    };
    let s = team.shared;
    if s.in_flight.load(Ordering::SeqCst) > 0 {
        return;
    }
    let until = now_nanos().saturating_add(within.as_nanos() as u64);
    s.awake_until.fetch_max(until, Ordering::SeqCst);
    s.wake();
}

/// `f(0) … f(chunks − 1)`, shared with the team when this thread holds it for its pass and
/// no other pass is in flight, in order on this thread otherwise. Every call is made once;
/// which thread makes it varies.
pub(crate) fn for_each(chunks: usize, f: impl Fn(usize) + Sync) {
    match HELD.with(Cell::get) {
        Some(team) if chunks > 1 && !IN_LOOP.with(Cell::get) && team.shared.alone() => {
            raised(&IN_LOOP, || team.run(chunks, &f))
        }
        _ => (0..chunks).for_each(f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_chunk_runs_once_whoever_runs_it() {
        let team = Team::start(1);
        for chunks in [1usize, 2, 7, 100] {
            let hits: Vec<AtomicU32> = (0..chunks).map(|_| AtomicU32::new(0)).collect();
            team.shared.active.store(true, Ordering::SeqCst);
            for _ in 0..50 {
                team.run(chunks, &|c| {
                    hits[c].fetch_add(1, Ordering::Relaxed);
                });
            }
            team.shared.active.store(false, Ordering::SeqCst);
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 50));
        }
    }

    #[test]
    fn a_team_without_helpers_or_asleep_still_finishes() {
        // No helper at all: the caller does every chunk.
        let alone = Team::start(0);
        let sum = AtomicUsize::new(0);
        alone.run(10, &|c| {
            sum.fetch_add(c, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 45);
        // A helper asleep (no pass active): the caller does not wait for it.
        let team = Team::start(1);
        std::thread::sleep(Duration::from_millis(5));
        let sum = AtomicUsize::new(0);
        team.run(10, &|c| {
            sum.fetch_add(c, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 45);
    }

    #[test]
    fn a_panicking_chunk_reaches_the_caller_after_the_helpers_let_go() {
        let team = Team::start(1);
        team.shared.active.store(true, Ordering::SeqCst);
        let r = catch_unwind(AssertUnwindSafe(|| {
            team.run(8, &|c| assert!(c != 5, "chunk 5"));
        }));
        assert!(r.is_err());
        assert_eq!(team.shared.entered.load(Ordering::SeqCst), 0);
        // The team still works.
        let n = AtomicUsize::new(0);
        team.run(8, &|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 8);
        team.shared.active.store(false, Ordering::SeqCst);
    }

    #[test]
    fn a_loop_inside_a_chunk_runs_whole() {
        let total = AtomicUsize::new(0);
        pass(|| {
            for_each(4, |_| {
                for_each(5, |c| {
                    total.fetch_add(c + 1, Ordering::Relaxed);
                })
            })
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 15);
    }

    #[test]
    fn a_pass_does_not_wait_for_the_team_and_shares_no_loop_while_another_is_in_flight() {
        use std::sync::mpsc::channel;
        let timeout = Duration::from_secs(30);
        let (inside_tx, inside_rx) = channel();
        let (done_tx, done_rx) = channel();
        let (b_in_tx, b_in_rx) = channel();
        let (b_go_tx, b_go_rx) = channel::<()>();
        std::thread::scope(|sc| {
            // A: a pass that stays in flight until B has run a whole pass of its own.
            sc.spawn(move || {
                pass(|| {
                    inside_tx.send(()).unwrap();
                    let b_done = done_rx.recv_timeout(timeout).is_ok();
                    // B is in flight again (inside its second pass, held there): this pass's
                    // loop runs on this thread alone.
                    let b_inside = b_in_rx.recv_timeout(timeout).is_ok();
                    let me = std::thread::current().id();
                    let others = AtomicUsize::new(0);
                    for_each(64, |_| {
                        if std::thread::current().id() != me {
                            others.fetch_add(1, Ordering::Relaxed);
                        }
                    });
                    b_go_tx.send(()).unwrap();
                    assert!(b_done, "a pass waited for the one holding the team");
                    assert!(b_inside, "the second pass did not start");
                    assert_eq!(others.load(Ordering::Relaxed), 0);
                })
            });
            // B: starts while A is in flight and must finish without waiting for it.
            sc.spawn(move || {
                inside_rx.recv_timeout(timeout).unwrap();
                let n = AtomicUsize::new(0);
                pass(|| {
                    for_each(16, |_| {
                        n.fetch_add(1, Ordering::Relaxed);
                    })
                });
                assert_eq!(n.load(Ordering::Relaxed), 16);
                done_tx.send(()).unwrap();
                pass(|| {
                    b_in_tx.send(()).unwrap();
                    let _ = b_go_rx.recv_timeout(timeout);
                });
            });
        });
    }

    #[test]
    fn the_line_gives_places_first_come_first_served() {
        let line = Line::new(1);
        let order = Mutex::new(Vec::new());
        let first = line.enter();
        std::thread::scope(|sc| {
            for i in 0..5 {
                let (line, order) = (&line, &order);
                sc.spawn(move || {
                    let _place = line.enter();
                    order.lock().unwrap().push(i);
                });
                // The next thread asks only once this one waits in line.
                let queued = |n| line.state.lock().unwrap().waiting.len() == n;
                let start = Instant::now();
                while !queued(i + 1) {
                    assert!(start.elapsed() < Duration::from_secs(30), "never queued");
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            drop(first);
        });
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
        // Everyone left: the place is free again.
        let st = line.state.lock().unwrap();
        assert_eq!((st.free, st.waiting.len()), (1, 0));
    }

    #[test]
    fn a_panicking_pass_gives_its_place_back() {
        let line = Line::new(1);
        let r = catch_unwind(AssertUnwindSafe(|| {
            let _place = line.enter();
            panic!("in the pass");
        }));
        assert!(r.is_err());
        drop(line.enter());
        assert_eq!(line.state.lock().unwrap().free, 1);
    }

    /// The cores thread `tid` may run on.
    #[cfg(target_os = "linux")]
    fn mask_of(tid: libc::pid_t) -> libc::cpu_set_t {
        affinity::mask(tid).expect("a thread's cores are readable")
    }

    #[cfg(target_os = "linux")]
    fn cores(set: &libc::cpu_set_t) -> Vec<usize> {
        // SAFETY: every index checked is below the set's size.
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| unsafe { libc::CPU_ISSET(c, set) })
            .collect()
    }

    /// A loop offered from a core takes that core, and that core only, out of the helpers'
    /// masks; offered from another core, the helper may go back to the first. Without a
    /// second core the masks are left alone.
    #[cfg(target_os = "linux")]
    #[test]
    fn loops_keep_the_helpers_off_the_callers_core() {
        let team = Team::start(1);
        let p = &team.shared.placement;
        let started = Instant::now();
        while p.tids[0].load(Ordering::SeqCst) == 0 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the helper never started"
            );
            std::thread::yield_now();
        }
        let tid = p.tids[0].load(Ordering::SeqCst);
        let allowed = cores(&p.allowed.expect("the process's cores are readable"));
        assert_eq!(
            cores(&mask_of(tid)),
            allowed,
            "a new helper may run anywhere"
        );
        let run_on = |core: Option<usize>| {
            if let Some(core) = core {
                // Pin this (test) thread to `core`: the loop is then offered from there.
                // SAFETY: a zeroed bit set is valid; `core` is below its size.
                unsafe {
                    let mut one: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(core, &mut one);
                    assert_eq!(
                        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one),
                        0
                    );
                }
            }
            team.shared.active.store(true, Ordering::SeqCst);
            team.run(4, &|_| {});
            team.shared.active.store(false, Ordering::SeqCst);
            p.kept_off[0].load(Ordering::Relaxed)
        };
        if allowed.len() < 2 {
            assert_eq!(run_on(None), Placement::NONE);
            assert_eq!(cores(&mask_of(tid)), allowed);
            return;
        }
        let (a, b) = (allowed[0], allowed[1]);
        for core in [a, b, a] {
            assert_eq!(run_on(Some(core)), core);
            let rest: Vec<usize> = allowed.iter().copied().filter(|&c| c != core).collect();
            assert_eq!(cores(&mask_of(tid)), rest, "offered from core {core}");
        }
    }

    #[test]
    fn passes_on_many_threads_all_finish() {
        let total = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..4 {
                sc.spawn(|| {
                    for _ in 0..20 {
                        pass(|| {
                            for_each(16, |c| {
                                total.fetch_add(c + 1, Ordering::Relaxed);
                            })
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 20 * (16 * 17 / 2));
    }
}
