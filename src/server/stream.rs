//! Response bodies produced by blocking code: a query iterator or a report
//! file read on a blocking thread, handed to the async side in chunks
//! through a bounded channel.
//!
//! Owns the back-pressure that keeps memory flat whatever the size of the
//! answer (at most [`CHANNEL_DEPTH`] chunks of about [`CHUNK_BYTES`] wait
//! for a slow client), stopping the producer when the client goes away,
//! and the rule for failures: a failure before the first chunk leaves is
//! returned to the handler, which can still answer with a proper error;
//! a failure after it aborts the body, so the client sees a broken
//! transfer, never a well-formed but truncated answer. It knows nothing of
//! what the bytes mean.

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// About how many bytes one chunk holds.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// How many chunks may wait for the client.
pub const CHANNEL_DEPTH: usize = 4;

/// The producer's end: a buffer that is sent when it fills.
pub struct ChunkSink {
    buf: Vec<u8>,
    tx: mpsc::Sender<Result<Bytes>>,
    closed: bool,
}

impl ChunkSink {
    /// The buffer to append to; call [`ChunkSink::flush_if_full`] after.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Sends the buffer when it holds a chunk. Returns false once the
    /// client has gone: the producer should stop.
    pub fn flush_if_full(&mut self) -> bool {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()
        } else {
            !self.closed
        }
    }

    /// Sends what the buffer holds (if anything). False once the client
    /// has gone.
    pub fn flush(&mut self) -> bool {
        if self.closed {
            return false;
        }
        if self.buf.is_empty() {
            return true;
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES + 4096),
        ));
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            self.closed = true;
        }
        !self.closed
    }
}

/// Runs `produce` on a blocking thread and streams what it writes.
///
/// Resolves once the first chunk is ready (or the producer finished): to
/// the body, or to the producer's error if it failed before sending
/// anything. An error after that aborts the body.
pub async fn blocking_body<F>(produce: F) -> Result<Body>
where
    F: FnOnce(&mut ChunkSink) -> Result<()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Result<Bytes>>(CHANNEL_DEPTH);
    let sink_tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSink {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            tx: sink_tx,
            closed: false,
        };
        let outcome = produce(&mut sink);
        match outcome {
            Ok(()) => {
                sink.flush();
            }
            Err(e) => {
                // Whatever was buffered is dropped with the error: the
                // body must not end as if it were complete.
                let _ = sink.tx.blocking_send(Err(e));
            }
        }
    });
    drop(tx);
    let first = match rx.recv().await {
        None => return Ok(Body::empty()),
        Some(Err(e)) => return Err(e),
        Some(Ok(b)) => b,
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item| (item.map_err(|e| std::io::Error::other(e.to_string())), rx))
    });
    let first = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(first) });
    Ok(Body::from_stream(futures_util::StreamExt::chain(
        first, rest,
    )))
}

/// Streams a reader (a report file) in chunks.
pub async fn reader_body<R: Read + Send + 'static>(mut reader: R) -> Result<Body> {
    blocking_body(move |sink| loop {
        let buf = sink.buf();
        let at = buf.len();
        buf.resize(at + CHUNK_BYTES, 0);
        let n = match reader.read(buf.get_mut(at..).unwrap_or_default()) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => {
                buf.truncate(at);
                return Err(Error::io("read", "report file", e));
            }
        };
        buf.truncate(at + n);
        if n == 0 {
            return Ok(());
        }
        if !sink.flush_if_full() {
            return Ok(());
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn collect(body: Body) -> std::result::Result<Vec<u8>, String> {
        let mut s = body.into_data_stream();
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            out.extend_from_slice(&c.map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn streams_everything_in_order() {
        let body = blocking_body(|sink| {
            for i in 0..100_000u32 {
                sink.buf().extend_from_slice(&i.to_le_bytes());
                if !sink.flush_if_full() {
                    break;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
        let out = collect(body).await.unwrap();
        assert_eq!(out.len(), 400_000);
        assert_eq!(&out[399_996..], &99_999u32.to_le_bytes());
    }

    #[tokio::test]
    async fn early_error_is_returned_late_error_aborts() {
        let e = blocking_body(|sink| {
            sink.buf().extend_from_slice(b"head");
            Err(Error::invalid("x", "early"))
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("early"));
        let body = blocking_body(|sink| {
            sink.buf().resize(CHUNK_BYTES * 3, b'a');
            sink.flush();
            Err(Error::invalid("x", "late"))
        })
        .await
        .unwrap();
        let e = collect(body).await.unwrap_err();
        assert!(e.contains("late"), "{e}");
        let body = reader_body(std::io::Cursor::new(vec![7u8; 200_000]))
            .await
            .unwrap();
        assert_eq!(collect(body).await.unwrap(), vec![7u8; 200_000]);
        let body = blocking_body(|_| Ok(())).await.unwrap();
        assert!(collect(body).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn producer_stops_when_the_client_goes() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let body = blocking_body(move |sink| {
            let mut sent = 0u64;
            loop {
                sink.buf().resize(CHUNK_BYTES, b'x');
                if !sink.flush_if_full() {
                    break;
                }
                sent += 1;
                if sent > 10_000 {
                    break;
                }
            }
            done_tx.send(sent).unwrap();
            Ok(())
        })
        .await
        .unwrap();
        drop(body);
        let sent = tokio::task::spawn_blocking(move || done_rx.recv().unwrap())
            .await
            .unwrap();
        assert!(
            sent < 100,
            "the producer ran on after the client left: {sent}"
        );
    }
}
