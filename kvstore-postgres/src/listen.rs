//! Learning the heads other clients write: one connection per storage listens on the schema's
//! channel, which every append notifies on commit. A notification only wakes: the head is
//! then read from the table (and the engine reads the log from the last revision it
//! delivered), after every notification, after every reconnection (notifications sent while
//! disconnected are lost), and every poll interval as a safety net. So a lost notification
//! delays a watch by at most the poll interval, and loses nothing.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::stream::{self, BoxStream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use crate::connection::Shared;

/// Drives `connection`, telling `woken` of every notification; ends with the connection.
fn pump<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    woken: mpsc::UnboundedSender<()>,
) -> tokio::task::JoinHandle<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if woken.send(()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(%err, "the PostgreSQL listener's connection failed");
                    return;
                }
            }
        }
    })
}

/// How long to wait before connecting again after the listening connection failed.
const RECONNECT: Duration = Duration::from_millis(200);

/// The heads other clients write, as a stream that ends with the storage.
pub(crate) fn head_changes(shared: &Arc<Shared>) -> BoxStream<'static, u64> {
    let (heads, received) = mpsc::channel(16);
    tokio::spawn(listen(Arc::downgrade(shared), heads));
    stream::unfold(received, |mut received| async move {
        let head = received.recv().await?;
        Some((head, received))
    })
    .boxed()
}

/// Why listening stopped.
enum Stopped {
    /// The storage or the stream's reader is gone.
    Done,
    /// The connection failed: connect again.
    Lost,
}

async fn listen(shared: Weak<Shared>, heads: mpsc::Sender<u64>) {
    loop {
        match listen_once(&shared, &heads).await {
            Stopped::Done => return,
            Stopped::Lost => tokio::time::sleep(RECONNECT).await,
        }
    }
}

/// Reads the head and sends it if the reader still listens.
async fn report(shared: &Weak<Shared>, heads: &mpsc::Sender<u64>) -> Result<(), Stopped> {
    let shared = shared.upgrade().ok_or(Stopped::Done)?;
    match shared.head().await {
        Ok(head) => heads.send(head.revision).await.map_err(|_| Stopped::Done),
        Err(err) => {
            tracing::debug!(%err, "reading the PostgreSQL head failed");
            Ok(())
        }
    }
}

async fn listen_once(shared: &Weak<Shared>, heads: &mpsc::Sender<u64>) -> Stopped {
    let Some(strong) = shared.upgrade() else {
        return Stopped::Done;
    };
    let driver = strong.config.driver();
    let tls = strong.tls.clone();
    let channel = strong.channel.clone();
    let poll = strong.config.poll_interval;
    drop(strong);
    // The connection's notifications, and its end (the sender dropped).
    let (woken, mut wake_ups) = mpsc::unbounded_channel();
    let connected = match tls {
        Some(tls) => driver
            .connect(tls)
            .await
            .map(|(client, connection)| (client, pump(connection, woken))),
        None => driver
            .connect(tokio_postgres::NoTls)
            .await
            .map(|(client, connection)| (client, pump(connection, woken))),
    };
    let (client, messages) = match connected {
        Ok(connected) => connected,
        Err(err) => {
            tracing::debug!(%err, "the PostgreSQL listener cannot connect");
            return Stopped::Lost;
        }
    };
    let stopped = async {
        if let Err(err) = client.batch_execute(&format!("LISTEN \"{channel}\"")).await {
            tracing::debug!(%err, "LISTEN failed");
            return Stopped::Lost;
        }
        // Whatever was written while this connection was not listening.
        if let Err(stopped) = report(shared, heads).await {
            return stopped;
        }
        loop {
            tokio::select! {
                woke = wake_ups.recv() => {
                    if woke.is_none() {
                        return Stopped::Lost;
                    }
                    while wake_ups.try_recv().is_ok() {} // one read covers them all
                }
                _ = tokio::time::sleep(poll) => {}
                _ = heads.closed() => return Stopped::Done,
            }
            if let Err(stopped) = report(shared, heads).await {
                return stopped;
            }
        }
    }
    .await;
    messages.abort();
    stopped
}
