//! Leader election: three contenders, a resignation and a failover.
//!
//! `alpha`, `bravo` and `charlie` contend for `/elections/scheduler`. alpha is elected, then
//! resigns: bravo, next in line, is elected at once. bravo's "process" then dies without a
//! word (its runtime is shut down, so its lease is neither renewed nor revoked): after about
//! one TTL its lease expires and charlie is elected.
//!
//! ```sh
//! cargo run --example election
//! cargo run --example election --features etcd -- --store "etcd://127.0.0.1:2379?namespace=/kvstore-example"
//! ```

#![allow(clippy::print_stdout)] // an example talks to its reader

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use kvstore::{Election, ElectionEvent};
use tokio::sync::{mpsc, oneshot};

const ELECTION: &str = "/elections/scheduler";
const TTL: Duration = Duration::from_secs(2);

/// A line of the log: who saw what, when.
type Line = (&'static str, String);

/// Logs a contender's events until its stream ends; resigns when `resign` fires.
fn report(
    name: &'static str,
    mut contest: Election,
    log: mpsc::UnboundedSender<Line>,
    mut resign: Option<oneshot::Receiver<()>>,
) {
    tokio::spawn(async move {
        loop {
            let resigning = async {
                match resign.as_mut() {
                    Some(signal) => signal.await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let line = tokio::select! {
                asked = resigning => {
                    resign = None;
                    if !asked {
                        continue;
                    }
                    let _ = log.send((name, "resigns".to_owned()));
                    match contest.resign().await {
                        Ok(()) => continue,
                        Err(err) => format!("could not resign: {err}"),
                    }
                }
                event = contest.next() => match event {
                    Some(Ok(ElectionEvent::Elected { fencing_token })) => {
                        format!("elected (fencing token {fencing_token})")
                    }
                    Some(Ok(ElectionEvent::Lost { reason })) => format!("lost the lead: {reason}"),
                    Some(Ok(ElectionEvent::Changed { leader })) => format!("sees {leader} lead"),
                    Some(Err(err)) => format!("error: {err}"),
                    None => break,
                },
            };
            if log.send((name, line)).is_err() {
                break;
            }
        }
    });
}

/// How long one step may wait for the lines it expects.
const STEP_LIMIT: Duration = Duration::from_secs(20);

/// Waits until every `(name, text)` in `expected` has been logged (a line of `name` containing
/// `text`), in whatever order the contenders report, printing every line on the way.
async fn until(
    log: &mut mpsc::UnboundedReceiver<Line>,
    start: Instant,
    expected: &[(&str, &str)],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut waiting: Vec<(&str, &str)> = expected.to_vec();
    let deadline = tokio::time::Instant::now() + STEP_LIMIT;
    while !waiting.is_empty() {
        let Ok(Some((who, line))) = tokio::time::timeout_at(deadline, log.recv()).await else {
            return Err(format!("still waiting after {STEP_LIMIT:?} for {waiting:?}").into());
        };
        println!("{:>6.2}s  {who:<8} {line}", start.elapsed().as_secs_f64());
        waiting.retain(|(name, text)| !(who == *name && line.contains(text)));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::within_time_limit(run()).await
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (store, description) = common::store("election").await?;
    println!("store: {description}; election {ELECTION}, ttl {TTL:?}\n");
    let start = Instant::now();
    let (log_tx, mut log) = mpsc::unbounded_channel();

    let (alpha_resign, resign) = oneshot::channel();
    let alpha = store.contest(ELECTION, "alpha", TTL).await?;
    report("alpha", alpha, log_tx.clone(), Some(resign));
    until(&mut log, start, &[("alpha", "elected")]).await?;

    // bravo runs on a runtime of its own, standing for another process.
    let (bravo_dies, bravo_died) = {
        let (die_tx, die_rx) = oneshot::channel::<()>();
        let (died_tx, died_rx) = oneshot::channel::<()>();
        let (store, log) = (store.clone(), log_tx.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for bravo");
            runtime.block_on(async move {
                match store.contest(ELECTION, "bravo", TTL).await {
                    Ok(bravo) => report("bravo", bravo, log, None),
                    Err(err) => {
                        let _ = log.send(("bravo", format!("could not join: {err}")));
                    }
                }
                let _ = die_rx.await;
            });
            // Shutting the runtime down drops bravo's tasks unpolled: no renewal, no revoke.
            runtime.shutdown_background();
            let _ = died_tx.send(());
        });
        (die_tx, died_rx)
    };
    until(&mut log, start, &[("bravo", "alpha lead")]).await?;
    let charlie = store.contest(ELECTION, "charlie", TTL).await?;
    report("charlie", charlie, log_tx.clone(), None);
    until(&mut log, start, &[("charlie", "alpha lead")]).await?;

    println!("-- alpha resigns");
    let _ = alpha_resign.send(());
    until(
        &mut log,
        start,
        &[("bravo", "elected"), ("charlie", "bravo lead")],
    )
    .await?;

    println!("-- bravo's process dies");
    let _ = bravo_dies.send(());
    let _ = bravo_died.await;
    let died = Instant::now();
    until(&mut log, start, &[("charlie", "elected")]).await?;
    println!(
        "-- failover took {:.2}s (ttl {TTL:?})",
        died.elapsed().as_secs_f64()
    );
    // Let the others report the new leader too.
    while let Ok(Some((who, line))) =
        tokio::time::timeout(Duration::from_millis(200), log.recv()).await
    {
        println!("{:>6.2}s  {who:<8} {line}", start.elapsed().as_secs_f64());
    }
    Ok(())
}
