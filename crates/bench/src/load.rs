//! P5: the simulated tenant under load: many sessions, each signed in as its own user with its
//! own subscription, each polling once a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lookout_keeper::snapshot::Plan;
use lookout_statsapi::PollOutcome;

use crate::tenant::{client, sim};
use crate::{Figure, quantile};

struct Round {
    sessions: usize,
    polls_per_sec: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

async fn round(sessions: usize, length: Duration) -> anyhow::Result<Round> {
    // The tenant on threads of its own, so that its work and the load's are told apart.
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sim = sim_rt.spawn(sim(40, sessions)).await??;
    let mut clients = Vec::with_capacity(sessions);
    for i in 0..sessions {
        let mut c = client(&sim, i)?;
        c.authenticate().await?;
        c.create_subscription(&Plan::overview().request()).await?;
        clients.push(c);
    }
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(500);
    let mut tasks = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            // Spread evenly over the second.
            let first = start + Duration::from_secs_f64(i as f64 / sessions as f64);
            let mut tick = tokio::time::interval_at(first.into(), Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut took = Vec::new();
            loop {
                tick.tick().await;
                let t = Instant::now();
                if t >= start + length {
                    break;
                }
                match c.poll_data().await {
                    Ok(PollOutcome::Data(_)) | Ok(PollOutcome::NotReady) => {
                        took.push(t.elapsed().as_secs_f64() * 1e3)
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let _ = c.delete_subscription().await;
            took
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    sim_rt.spawn(sim.stop()).await?;
    sim_rt.shutdown_background();
    let polls = all.len() as f64;
    Ok(Round {
        sessions,
        polls_per_sec: polls / length.as_secs_f64(),
        p50: quantile(&mut all, 0.5),
        p99: quantile(&mut all, 0.99),
        errors: errors.load(Ordering::Relaxed),
    })
}

/// P5: rounds of growing session counts; the figure is the largest that keeps p99 < 50 ms with
/// every poll answered, and the 1,000-session round is reported as measured.
pub async fn sessions(quick: bool) -> anyhow::Result<Vec<Figure>> {
    let (counts, length): (&[usize], _) = if quick {
        (&[100], Duration::from_secs(3))
    } else {
        (&[250, 500, 1000, 2000], Duration::from_secs(20))
    };
    let mut rounds = Vec::new();
    for &n in counts {
        eprintln!("  {n} sessions…");
        let r = round(n, length).await?;
        eprintln!(
            "  {n} sessions: {:.0} polls/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            r.polls_per_sec, r.p50, r.p99, r.errors
        );
        rounds.push(r);
    }
    let ok = |r: &Round| r.p99 < 50.0 && r.errors == 0;
    let best = rounds.iter().filter(|r| ok(r)).map(|r| r.sessions).max();
    let table: Vec<String> = rounds
        .iter()
        .map(|r| {
            format!(
                "{} sessions → {:.0} polls/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
                r.sessions, r.polls_per_sec, r.p50, r.p99, r.errors
            )
        })
        .collect();
    let at_1000 = rounds.iter().find(|r| r.sessions == 1000);
    let mut figures = vec![Figure {
        id: "P5".into(),
        what: "simulated tenant: most sessions at 1 poll/s each with p99 < 50 ms".into(),
        value: best.unwrap_or(0) as f64,
        unit: "".into(),
        baseline: None,
        target: "1,000 sessions".into(),
        met: if quick {
            None
        } else {
            Some(best.unwrap_or(0) >= 1000)
        },
        note: format!(
            "{}; rounds of {:.0} s, the overview's subscription over 40 agents, measured at the \
             client (answer parsed) on the same two cores as the tenant",
            table.join("; "),
            length.as_secs_f64()
        ),
    }];
    if let Some(r) = at_1000 {
        figures.push(Figure {
            id: "P5".into(),
            what: format!("1,000 sessions: p99 (p50 {:.1} ms)", r.p50),
            value: r.p99,
            unit: "ms".into(),
            baseline: None,
            target: "< 50 ms".into(),
            met: Some(ok(r)),
            note: format!(
                "{:.0} polls/s sustained, {} errors",
                r.polls_per_sec, r.errors
            ),
        });
    }
    Ok(figures)
}
