//! A TCP proxy on loopback between a client and a server, for network faults: it passes
//! bytes, delays them, holds them (a blackhole: nothing gets through either way until it
//! heals, as when packets are dropped and TCP keeps retransmitting), or cuts every connection
//! and refuses new ones.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// What the proxy does with the bytes of its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards them at once.
    Pass,
    /// Forwards each chunk after this delay, in both directions.
    Delay(Duration),
    /// Holds them, in both directions, until another mode is set.
    Blackhole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Control {
    mode: Mode,
    /// Raised by each cut: connections of an older generation close.
    generation: u64,
    /// New connections are closed at once.
    refusing: bool,
}

/// A proxy to one upstream address; stops (closing every connection) on drop.
#[derive(Debug)]
pub struct Proxy {
    endpoint: String,
    control: watch::Sender<Control>,
    accepting: AbortHandle,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: impl Into<String>) -> Proxy {
        let upstream = upstream.into();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the proxy");
        let endpoint = listener
            .local_addr()
            .expect("the proxy's address")
            .to_string();
        let (control, _) = watch::channel(Control {
            mode: Mode::Pass,
            generation: 0,
            refusing: false,
        });
        let watcher = control.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let now = *watcher.borrow();
                if now.refusing {
                    continue; // dropped: the client sees its connection closed
                }
                let _ = client.set_nodelay(true);
                tokio::spawn(connect(client, upstream.clone(), watcher.subscribe()));
            }
        })
        .abort_handle();
        Proxy {
            endpoint,
            control,
            accepting,
        }
    }

    /// `127.0.0.1:port`: where clients connect.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets what is done with the bytes of every connection, open or new.
    pub fn set(&self, mode: Mode) {
        self.control.send_modify(|c| c.mode = mode);
    }

    /// Closes every open connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.control.send_modify(|c| {
            c.generation += 1;
            c.refusing = true;
        });
    }

    /// Accepts connections again and forwards at once.
    pub fn heal(&self) {
        self.control.send_modify(|c| {
            c.refusing = false;
            c.mode = Mode::Pass;
        });
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accepting.abort();
        // Open connections close with the control channel.
    }
}

/// Forwards one client connection until either side closes, or a cut.
async fn connect(client: TcpStream, upstream: String, mut control: watch::Receiver<Control>) {
    let generation = control.borrow().generation;
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        () = pump(client_read, server_write, control.clone()) => {}
        () = pump(server_read, client_write, control.clone()) => {}
        _ = control.wait_for(|c| c.generation != generation) => {}
    }
}

/// Copies one direction, as the mode says.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut control: watch::Receiver<Control>,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        let mode = match control.wait_for(|c| c.mode != Mode::Blackhole).await {
            Ok(control) => control.mode,
            Err(_) => return,
        };
        if let Mode::Delay(delay) = mode {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server; its address.
    async fn echo() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<[u8; 4]> {
        stream.write_all(b"ping").await?;
        let mut answer = [0; 4];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }

    #[tokio::test]
    async fn bytes_pass_are_held_in_a_blackhole_and_connections_are_cut() {
        let proxy = Proxy::start(echo().await).await;
        let mut stream = TcpStream::connect(proxy.endpoint()).await.unwrap();
        assert_eq!(&round_trip(&mut stream).await.unwrap(), b"ping");

        proxy.set(Mode::Blackhole);
        let held = tokio::time::timeout(Duration::from_millis(200), round_trip(&mut stream)).await;
        assert!(held.is_err(), "nothing passes a blackhole");
        proxy.set(Mode::Pass);
        let mut answer = [0; 4];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"ping", "what was held arrives once it heals");

        proxy.cut();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
        assert!(closed.await.is_ok(), "a cut closes open connections");
        let mut refused = TcpStream::connect(proxy.endpoint()).await.unwrap();
        assert!(
            round_trip(&mut refused).await.is_err(),
            "new ones are refused"
        );
        proxy.heal();
        let mut again = TcpStream::connect(proxy.endpoint()).await.unwrap();
        assert_eq!(&round_trip(&mut again).await.unwrap(), b"ping");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delay_holds_each_chunk_that_long() {
        let proxy = Proxy::start(echo().await).await;
        let mut stream = TcpStream::connect(proxy.endpoint()).await.unwrap();
        proxy.set(Mode::Delay(Duration::from_secs(3)));
        let started = tokio::time::Instant::now();
        assert_eq!(&round_trip(&mut stream).await.unwrap(), b"ping");
        assert!(
            started.elapsed() >= Duration::from_secs(6),
            "both directions delayed"
        );
    }
}
