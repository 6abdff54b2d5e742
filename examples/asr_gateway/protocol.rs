//! The gateway's wire protocol: length-prefixed frames over TCP.
//!
//! A frame is one kind byte, a big-endian `u32` payload length, then the
//! payload. Client to server: `OPEN` (payload: the session name), `AUDIO`
//! (payload: samples), `END`. Server to client: `PARTIAL` and `FINAL`
//! (payload: transcript text), `BUSY`, `TIMEOUT` and `ERROR` (payload: the
//! reason in plain words). Anything else is malformed.

use std::io;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest payload either side accepts.
pub const MAX_PAYLOAD: u32 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Open = 1,
    Audio = 2,
    End = 3,
    Partial = 0x81,
    Final = 0x82,
    Busy = 0x90,
    Timeout = 0x91,
    Error = 0x92,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Open,
            2 => Kind::Audio,
            3 => Kind::End,
            0x81 => Kind::Partial,
            0x82 => Kind::Final,
            0x90 => Kind::Busy,
            0x91 => Kind::Timeout,
            0x92 => Kind::Error,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: Kind,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(kind: Kind, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            kind,
            payload: payload.into(),
        }
    }

    #[allow(dead_code)] // the tests read answers as text
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// Why a frame could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between frames.
    Eof,
    /// The peer closed the connection in the middle of a frame.
    Truncated,
    /// Unknown kind byte.
    UnknownKind(u8),
    /// Payload length over [`MAX_PAYLOAD`].
    TooLarge(u32),
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Eof => write!(f, "connection closed"),
            ReadError::Truncated => write!(f, "connection closed in the middle of a frame"),
            ReadError::UnknownKind(k) => write!(f, "malformed frame: unknown kind 0x{k:02x}"),
            ReadError::TooLarge(n) => {
                write!(f, "frame too large: {n} bytes, the limit is {MAX_PAYLOAD}")
            }
            ReadError::Io(e) => write!(f, "i/o error: {e}"),
        }
    }
}

fn io_or_truncated(e: io::Error) -> ReadError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        ReadError::Truncated
    } else {
        ReadError::Io(e)
    }
}

/// Reads one frame. Cancel-safe only between frames: a caller that drops it
/// mid-frame must close the connection (the gateway always does).
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Frame, ReadError> {
    let mut header = [0u8; 5];
    // The first byte tells a clean close apart from a truncated frame.
    match r.read(&mut header[..1]).await {
        Ok(0) => return Err(ReadError::Eof),
        Ok(_) => {}
        Err(e) => return Err(ReadError::Io(e)),
    }
    r.read_exact(&mut header[1..])
        .await
        .map_err(io_or_truncated)?;
    let kind = Kind::from_byte(header[0]).ok_or(ReadError::UnknownKind(header[0]))?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if len > MAX_PAYLOAD {
        return Err(ReadError::TooLarge(len));
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await.map_err(io_or_truncated)?;
    Ok(Frame { kind, payload })
}

pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, frame: &Frame) -> io::Result<()> {
    let len = u32::try_from(frame.payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload too large"))?;
    let mut buf = Vec::with_capacity(5 + frame.payload.len());
    buf.push(frame.kind as u8);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&frame.payload);
    w.write_all(&buf).await?;
    w.flush().await
}
