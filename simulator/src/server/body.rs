//! Response bodies: small ones in one piece, everything else produced on a
//! blocking thread and handed to hyper through a channel, which is where
//! the body faults (malformed lines, slow streaming, cut connections) live.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use crate::faults::{FaultRng, MALFORMED_LINE};

type Chunk = Result<Bytes, io::Error>;

/// The body type of every response.
pub(crate) enum SimBody {
    Full(Option<Bytes>),
    Channel {
        rx: mpsc::Receiver<Chunk>,
        /// `Some` = Content-Length, `None` = chunked.
        len: Option<u64>,
    },
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            SimBody::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            SimBody::Channel { rx, .. } => rx
                .poll_recv(cx)
                .map(|c| c.map(|chunk| chunk.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SimBody::Full(d) if d.as_ref().is_none_or(Bytes::is_empty))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(d) => SizeHint::with_exact(d.as_ref().map_or(0, |b| b.len() as u64)),
            SimBody::Channel { len: Some(n), .. } => SizeHint::with_exact(*n),
            SimBody::Channel { len: None, .. } => SizeHint::default(),
        }
    }
}

/// Body faults applied by a [`Pipeline`].
pub(crate) struct BodyFaults {
    /// Insert malformed lines after NDJSON lines with this rng/probability.
    pub malformed: Option<(FaultRng, f64)>,
    pub cut_after: Option<u64>,
    pub bytes_per_sec: Option<u64>,
}

/// Produces a body on a blocking thread. `on_done(bytes_sent)` runs before
/// the last piece is handed over, so a client that has read the whole body
/// always finds the request in the log.
pub(crate) fn spawn_pipeline(
    chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    faults: BodyFaults,
    len: Option<u64>,
    on_done: Box<dyn FnOnce(u64) + Send>,
) -> SimBody {
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || run(chunks, faults, tx, on_done));
    SimBody::Channel { rx, len }
}

fn run(
    chunks: Box<dyn Iterator<Item = Vec<u8>> + Send>,
    mut faults: BodyFaults,
    tx: mpsc::Sender<Chunk>,
    on_done: Box<dyn FnOnce(u64) + Send>,
) {
    let piece_size = faults
        .bytes_per_sec
        .map_or(usize::MAX, |bps| (bps as usize / 20).max(1));
    let mut sink = Sink {
        tx,
        // Unpaced bodies go out in pieces of about this size: one channel
        // hand-off and one socket write per line made the simulator, not
        // the client, the limit of every throughput benchmark.
        coalesce: if faults.bytes_per_sec.is_some() {
            0
        } else {
            64 * 1024
        },
        gathered: Vec::new(),
        pending: None,
        sent: 0,
        queued: 0,
        started: Instant::now(),
        bytes_per_sec: faults.bytes_per_sec,
        alive: true,
    };
    let mut cut = false;
    'outer: for chunk in chunks {
        for piece in with_malformed_lines(chunk, &mut faults.malformed) {
            let mut piece = piece;
            if let Some(limit) = faults.cut_after {
                let room = limit.saturating_sub(sink.queued) as usize;
                if piece.len() > room {
                    piece.truncate(room);
                    cut = true;
                }
            }
            for part in piece.chunks(piece_size) {
                sink.push(part);
            }
            if cut || !sink.alive {
                break 'outer;
            }
        }
    }
    on_done(sink.queued);
    sink.flush();
    if cut && sink.alive {
        abort(&sink.tx);
    }
}

/// Ends the response abnormally: hyper closes the connection without the
/// chunked terminator (or short of Content-Length). The pause first lets
/// hyper take and flush the prefix; an error frame would otherwise discard
/// bytes still in hyper's write buffer.
fn abort(tx: &mpsc::Sender<Chunk>) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !tx.is_closed() && tx.capacity() < tx.max_capacity() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    let _ = tx.blocking_send(Err(io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "cut-after-bytes fault",
    )));
}

/// Splits a chunk after each newline and, when the malformed fault is on,
/// draws after every complete line whether to add a malformed line.
fn with_malformed_lines(chunk: Vec<u8>, malformed: &mut Option<(FaultRng, f64)>) -> Vec<Vec<u8>> {
    let Some((rng, p)) = malformed else {
        return vec![chunk];
    };
    let mut out = Vec::new();
    let mut rest = &chunk[..];
    while let Some(i) = rest.iter().position(|b| *b == b'\n') {
        out.push(rest[..=i].to_vec());
        if rng.chance(*p) {
            out.push(MALFORMED_LINE.to_vec());
        }
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        out.push(rest.to_vec());
    }
    out
}

/// Sends pieces one behind (see [`spawn_pipeline`]) and paces them.
struct Sink {
    tx: mpsc::Sender<Chunk>,
    /// Gather pieces until this many bytes (0 = hand each piece over as is).
    coalesce: usize,
    gathered: Vec<u8>,
    pending: Option<Bytes>,
    /// Bytes handed to hyper.
    sent: u64,
    /// Bytes handed over or pending.
    queued: u64,
    started: Instant,
    bytes_per_sec: Option<u64>,
    alive: bool,
}

impl Sink {
    fn push(&mut self, piece: &[u8]) {
        if piece.is_empty() {
            return;
        }
        self.queued += piece.len() as u64;
        if self.coalesce == 0 {
            self.hand_over(Bytes::copy_from_slice(piece));
            return;
        }
        self.gathered.extend_from_slice(piece);
        if self.gathered.len() >= self.coalesce {
            let full = std::mem::take(&mut self.gathered);
            self.hand_over(Bytes::from(full));
        }
    }

    /// Sends the previous piece and keeps `piece` back (see [`spawn_pipeline`]).
    fn hand_over(&mut self, piece: Bytes) {
        if let Some(prev) = self.pending.replace(piece) {
            self.send(prev);
        }
    }

    fn flush(&mut self) {
        if !self.gathered.is_empty() {
            let rest = std::mem::take(&mut self.gathered);
            self.hand_over(Bytes::from(rest));
        }
        if let Some(last) = self.pending.take() {
            self.send(last);
        }
    }

    fn send(&mut self, piece: Bytes) {
        if !self.alive {
            return;
        }
        if let Some(bps) = self.bytes_per_sec.filter(|b| *b > 0) {
            let due = self.started + Duration::from_secs_f64(self.sent as f64 / bps as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        self.sent += piece.len() as u64;
        // The receiver is gone when the client disconnected.
        self.alive = self.tx.blocking_send(Ok(piece)).is_ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands `lines` to the pipeline without faults and returns the pieces
    /// hyper would get.
    fn pieces_of(lines: Vec<Vec<u8>>, bytes_per_sec: Option<u64>) -> Vec<Bytes> {
        let (tx, mut rx) = mpsc::channel(8);
        let faults = BodyFaults {
            malformed: None,
            cut_after: None,
            bytes_per_sec,
        };
        let producer = std::thread::spawn(move || {
            run(Box::new(lines.into_iter()), faults, tx, Box::new(|_| {}));
        });
        let mut pieces = Vec::new();
        while let Some(piece) = rx.blocking_recv() {
            pieces.push(piece.expect("no fault"));
        }
        producer.join().expect("the producer ends");
        pieces
    }

    #[test]
    fn unpaced_bodies_go_out_in_large_pieces() {
        let lines: Vec<Vec<u8>> = (0..5_000)
            .map(|i| format!("{{\"row\":{i}}}\n").into_bytes())
            .collect();
        let whole = lines.concat();
        let pieces = pieces_of(lines, None);
        assert_eq!(pieces.concat(), whole);
        // 5,000 lines, about 70 KB: two pieces, not one per line.
        assert_eq!(pieces.len(), whole.len().div_ceil(64 * 1024));
    }

    #[test]
    fn paced_bodies_keep_their_piece_size() {
        let lines = vec![b"0123456789".repeat(10)];
        // 400 bytes a second: 20-byte pieces, one twentieth of a second each.
        let pieces = pieces_of(lines, Some(400));
        assert_eq!(pieces.len(), 5);
        assert!(pieces.iter().all(|p| p.len() == 20));
    }

    #[test]
    fn malformed_lines_only_add() {
        let mut m = Some((FaultRng::new(3), 1.0));
        let out = with_malformed_lines(b"a\nb\nc".to_vec(), &mut m);
        let joined: Vec<u8> = out.concat();
        assert_eq!(
            String::from_utf8(joined).unwrap(),
            "a\n{\"email\": \"trunc\nb\n{\"email\": \"trunc\nc"
        );
        let mut none = None;
        assert_eq!(with_malformed_lines(b"a\nb\n".to_vec(), &mut none).len(), 1);
    }
}
