//! Rules on their own thread: snapshots go in, evaluations come out. A snapshot that arrives
//! while the rules are still busy replaces the one waiting (the older is dropped, never
//! queued). Between snapshots the worker looks at the rules folder and reloads what changed.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Change, Evaluation, Evaluator, Rule, RuleEngine, RuleSet};
use lookout_keeper::snapshot::{Plan, Snapshot};

/// How often the rules folder is looked at. A change is applied once the file has held still
/// for one look, so an edit shows within about twice this.
pub const LOOK_EVERY: Duration = Duration::from_millis(200);

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum Event {
    /// The rules ran over a snapshot.
    Evaluated(Evaluation),
    /// Rule files changed; `rules` are the ones that run now (each file's last good version)
    /// and `plan` the subscription they need.
    Reloaded {
        changes: Vec<Change>,
        plan: Plan,
        rules: Vec<Arc<Rule>>,
    },
}

#[derive(Default)]
struct Slot {
    next: Option<(Arc<Snapshot>, i64)>,
    /// Read every rule file at the next chance ([`RuleWorker::reload`]).
    reload: bool,
    stop: bool,
    dropped: u64,
}

/// The handle of a running rule thread.
pub struct RuleWorker {
    slot: Arc<(Mutex<Slot>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<Slot>) -> std::sync::MutexGuard<'_, Slot> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RuleWorker {
    /// Start the thread with `rules` (already loaded from their folder); `report` gets every
    /// event, on the rule thread.
    pub fn start(
        engine: RuleEngine,
        rules: RuleSet,
        report: impl FnMut(Event) + Send + 'static,
    ) -> std::io::Result<RuleWorker> {
        RuleWorker::start_with(engine, rules, Evaluator::default(), report)
    }

    /// [`RuleWorker::start`] with an evaluator of the caller's ([`Evaluator::with_schedules`]).
    pub fn start_with(
        engine: RuleEngine,
        rules: RuleSet,
        evaluator: Evaluator,
        mut report: impl FnMut(Event) + Send + 'static,
    ) -> std::io::Result<RuleWorker> {
        let slot: Arc<(Mutex<Slot>, Condvar)> = Arc::default();
        let theirs = slot.clone();
        let thread = super::rule_thread().spawn(move || {
            let mut rules = rules;
            let mut evaluator = evaluator;
            let mut last_look = Instant::now();
            let (m, cv) = &*theirs;
            loop {
                let job = {
                    let mut s = lock(m);
                    if s.next.is_none() && !s.stop && !s.reload {
                        let wait = LOOK_EVERY.saturating_sub(last_look.elapsed());
                        s = cv
                            .wait_timeout(s, wait)
                            .map(|(g, _)| g)
                            .unwrap_or_else(|p| p.into_inner().0);
                    }
                    if s.stop {
                        return;
                    }
                    (s.next.take(), std::mem::take(&mut s.reload))
                };
                let (job, reload) = job;
                // Look at the folder on its own cadence, busy or not; a reload is reported
                // even when nothing changed, so whoever asked hears back.
                if reload || last_look.elapsed() >= LOOK_EVERY {
                    last_look = Instant::now();
                    let looked = if reload {
                        rules.reload(&engine)
                    } else {
                        rules.refresh(&engine)
                    };
                    match looked {
                        Ok(changes) if reload || !changes.is_empty() => {
                            for c in &changes {
                                match c {
                                    Change::Broken(_, d) => tracing::warn!("{d}"),
                                    other => tracing::info!("rules: {other:?}"),
                                }
                            }
                            let plan = rules.plan();
                            let running = rules.rules().cloned().collect();
                            report(Event::Reloaded {
                                changes,
                                plan,
                                rules: running,
                            });
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(
                            "cannot read the rules folder {}: {e}",
                            rules.dir.display()
                        ),
                    }
                }
                if let Some((snap, now)) = job {
                    let e = evaluator.evaluate(&engine, &rules, snap, now);
                    report(Event::Evaluated(e));
                }
            }
        })?;
        Ok(RuleWorker {
            slot,
            thread: Some(thread),
        })
    }

    /// Evaluate `snap` (taken at `now`) as soon as the thread is free. A snapshot still waiting
    /// is replaced.
    pub fn submit(&self, snap: Arc<Snapshot>, now: i64) {
        let (m, cv) = &*self.slot;
        let mut s = lock(m);
        if s.next.replace((snap, now)).is_some() {
            s.dropped += 1;
        }
        cv.notify_one();
    }

    /// Read every rule file now instead of at the next look, without waiting for an edit to
    /// hold still; a `Reloaded` event follows even when nothing changed.
    pub fn reload(&self) {
        let (m, cv) = &*self.slot;
        lock(m).reload = true;
        cv.notify_one();
    }

    /// Snapshots replaced before the rules got to them.
    pub fn dropped(&self) -> u64 {
        lock(&self.slot.0).dropped
    }

    /// Stop after the current evaluation.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        {
            let (m, cv) = &*self.slot;
            lock(m).stop = true;
            cv.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RuleWorker {
    fn drop(&mut self) {
        self.stop_inner();
    }
}
