//! A loopback TCP proxy in front of the server, one per client
//! connection, so that the soak can cut a client's connection the way a
//! network does (no STAN close, no NATS goodbye):
//!
//! * [`Proxy::blip`] cuts the current connections but keeps listening:
//!   the client's NATS connection reconnects through it and its STAN
//!   session carries on (messages in flight are lost on the wire and must
//!   come back as redeliveries);
//! * [`Proxy::kill`] cuts them and refuses every later connection (it
//!   accepts and closes at once, keeping its port so that the dead
//!   client's reconnects cannot reach another proxy given the same port):
//!   the client is gone for good as far as the server can tell (it finds
//!   out by heartbeats, or when the client ID connects again and the old
//!   one is probed). Dropping the proxy stops listening.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

/// A proxy to one upstream address.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    refuse: Arc<AtomicBool>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards each connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let tracked = Arc::clone(&conns);
        let refuse = Arc::new(AtomicBool::new(false));
        let refusing = Arc::clone(&refuse);
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if refusing.load(Ordering::Relaxed) {
                    drop(down);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = down.set_nodelay(true);
                        let _ = up.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                let mut c = tracked.lock().unwrap_or_else(|e| e.into_inner());
                c.retain(|h| !h.is_finished());
                c.push(task.abort_handle());
            }
        });
        Ok(Proxy {
            addr,
            accept,
            conns,
            refuse,
        })
    }

    /// The URL a client dials to go through this proxy.
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Cuts every current connection (both sides closed); new ones are
    /// still accepted.
    pub fn blip(&self) {
        for h in self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            h.abort();
        }
    }

    /// Cuts every connection and refuses new ones.
    pub fn kill(&self) {
        self.refuse.store(true, Ordering::Relaxed);
        self.blip();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.blip();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn forwards_blips_and_dies() {
        let echo = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 64];
                    while let Ok(n) = s.read(&mut b).await {
                        if n == 0 || s.write_all(&b[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let p = Proxy::start(upstream).await.unwrap();
        let mut c = TcpStream::connect(p.addr).await.unwrap();
        c.write_all(b"hi").await.unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hi");
        p.blip();
        let mut rest = Vec::new();
        let n = c.read_to_end(&mut rest).await.unwrap_or(0);
        assert_eq!(n, 0, "cut");
        let mut c2 = TcpStream::connect(p.addr).await.unwrap();
        c2.write_all(b"yo").await.unwrap();
        c2.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"yo");
        p.kill();
        let mut rest = Vec::new();
        assert_eq!(c2.read_to_end(&mut rest).await.unwrap_or(0), 0, "cut");
        let mut c3 = TcpStream::connect(p.addr).await.unwrap();
        assert_eq!(c3.read_to_end(&mut rest).await.unwrap_or(0), 0, "refused");
        let addr = p.addr;
        drop(p);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
