//! Spreads one listener's connections evenly over the proxy workers.
//!
//! Every worker accepts on the same socket, and whichever wakes first takes a burst of new
//! connections: under `wrk -c64` one worker was measured serving twice the other's share (239
//! against 115 ticks of CPU in one run, even in the next), its queue long while the other
//! idled, which cost 10–15 % of requests/s and showed in p99. Now a worker that accepts a
//! connection while another serves fewer hands it to the least loaded one, as HAProxy's
//! per-thread accept queues do. It costs a channel send per handed connection and nothing per
//! request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The live connection count of every worker of one listener, and a way to reach each.
pub struct Spread {
    live: Box<[AtomicUsize]>,
    inboxes: Box<[mpsc::UnboundedSender<Arrival>]>,
}

/// A connection handed over by another worker, with the seat it was given.
pub struct Arrival {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    seat: Seat,
}

/// One connection's place in a worker's count; the connection holds it until it ends.
pub struct Seat {
    spread: Arc<Spread>,
    worker: usize,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.spread.live[self.worker].fetch_sub(1, Ordering::Relaxed);
    }
}

/// One worker's side of a [`Spread`]: where it places what it accepts and what it is handed.
pub struct Station {
    spread: Arc<Spread>,
    me: usize,
    inbox: mpsc::UnboundedReceiver<Arrival>,
}

impl Spread {
    /// A spread over `workers` workers, with each worker's station in order.
    pub fn stations(workers: usize) -> Vec<Station> {
        let workers = workers.max(1);
        let (senders, inboxes): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let spread = Arc::new(Spread {
            live: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
            inboxes: senders.into(),
        });
        inboxes
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| Station {
                spread: spread.clone(),
                me,
                inbox,
            })
            .collect()
    }

    /// The least loaded worker, `me` on a tie (so an even split hands nothing over), with a
    /// seat taken there at once: a burst of accepts sees each placement it made.
    fn seat(self: &Arc<Self>, me: usize) -> Seat {
        let mut best = me;
        let mut least = self.live[me].load(Ordering::Relaxed);
        for (w, live) in self.live.iter().enumerate() {
            let n = live.load(Ordering::Relaxed);
            if n < least {
                best = w;
                least = n;
            }
        }
        self.live[best].fetch_add(1, Ordering::Relaxed);
        Seat {
            spread: self.clone(),
            worker: best,
        }
    }
}

impl Station {
    /// A station for a worker that serves a listener alone.
    pub fn alone() -> Station {
        Spread::stations(1).remove(0)
    }

    /// Places a connection this worker accepted: `Some` when it should serve it itself,
    /// `None` when another worker took it.
    pub fn place(&self, stream: TcpStream, peer: SocketAddr) -> Option<(TcpStream, Seat)> {
        let seat = self.spread.seat(self.me);
        if seat.worker == self.me {
            return Some((stream, seat));
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "a connection could not be handed to another worker");
                return None;
            }
        };
        let worker = seat.worker;
        match self.spread.inboxes[worker].send(Arrival { stream, peer, seat }) {
            Ok(()) => None,
            // That worker has stopped (shutting down): serve it here after all.
            Err(mpsc::error::SendError(back)) => {
                drop(back.seat);
                let stream = TcpStream::from_std(back.stream).ok()?;
                self.spread.live[self.me].fetch_add(1, Ordering::Relaxed);
                Some((
                    stream,
                    Seat {
                        spread: self.spread.clone(),
                        worker: self.me,
                    },
                ))
            }
        }
    }

    /// The next connection another worker handed over, registered with this worker's runtime.
    pub async fn arrival(&mut self) -> (TcpStream, SocketAddr, Seat) {
        loop {
            // Never `None`: this station's own spread holds a sender to it.
            let Some(a) = self.inbox.recv().await else {
                std::future::pending::<()>().await;
                continue;
            };
            match TcpStream::from_std(a.stream) {
                Ok(stream) => return (stream, a.peer, a.seat),
                Err(e) => {
                    tracing::debug!(error = %e, "a handed-over connection could not be registered")
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn held(station: &Station) -> Seat {
        station.spread.seat(station.me)
    }

    #[test]
    fn placements_keep_every_worker_within_one_connection_of_the_others() {
        let stations = Spread::stations(3);
        let mut seats = Vec::new();
        // Worker 0 wins every accept, as the first to wake does in a burst.
        for _ in 0..10 {
            seats.push(held(&stations[0]));
        }
        let per_worker = |seats: &[Seat]| {
            (0..3)
                .map(|w| seats.iter().filter(|s| s.worker == w).count())
                .collect::<Vec<_>>()
        };
        assert_eq!(per_worker(&seats), vec![4, 3, 3]);
        // Worker 1's connections close; the next ones go there.
        seats.retain(|s| s.worker != 1);
        for _ in 0..3 {
            seats.push(held(&stations[2]));
        }
        assert_eq!(per_worker(&seats), vec![4, 3, 3]);
        let live: Vec<usize> = stations[0]
            .spread
            .live
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .collect();
        assert_eq!(live, vec![4, 3, 3], "the counts follow the seats");
        drop(seats);
        assert!(stations[0]
            .spread
            .live
            .iter()
            .all(|l| l.load(Ordering::Relaxed) == 0));
    }

    #[tokio::test]
    async fn a_handed_connection_arrives_at_the_least_loaded_worker_and_still_works() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut stations = Spread::stations(2);
        let busy = held(&stations[0]);
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (stream, peer) = listener.accept().await.unwrap();
        assert!(
            stations[0].place(stream, peer).is_none(),
            "worker 1 serves fewer"
        );
        let (mut served, got_peer, seat) = stations[1].arrival().await;
        assert_eq!((got_peer, seat.worker), (peer, 1));
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        served.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        drop(busy);
    }
}
