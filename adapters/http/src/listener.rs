//! The HTTP listener: poem's TCP acceptor with `TCP_NODELAY` on every connection. poem leaves
//! Nagle's algorithm on, which holds a small write (a live event, a 202) back while an earlier
//! one is unacknowledged, and clients delay their ACKs by up to ~40 ms: live events would then
//! arrive in 40 ms clumps instead of at once.

use std::io;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::{TcpListener, TcpStream};

/// Accepts TCP connections with `TCP_NODELAY` set.
pub struct NoDelayAcceptor(TcpAcceptor);

impl NoDelayAcceptor {
    /// Accepts on an already bound listener (tests bind port 0).
    ///
    /// # Errors
    /// When the listener's address cannot be read.
    pub fn from_tokio(listener: TcpListener) -> io::Result<Self> {
        TcpAcceptor::from_tokio(listener).map(Self)
    }
}

impl Acceptor for NoDelayAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.0.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.0.accept().await?;
        if let Err(error) = stream.set_nodelay(true) {
            // Only slower, not wrong: serve the connection anyway.
            tracing::debug!(error = %error, "Could not set TCP_NODELAY on a connection.");
        }
        Ok((stream, local, remote, scheme))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn accepted_connections_have_nodelay_set() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut acceptor = NoDelayAcceptor::from_tokio(listener).unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, ..) = acceptor.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
