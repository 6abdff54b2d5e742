//! The load generator: clients with a mix of good and bad behaviours.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use async_guard::time::timeout;
use async_io::{Async, Timer};
use futures_lite::AsyncWriteExt;

use crate::protocol::{Frame, Kind, read_frame, write_frame};
use crate::recognizer::audio_chunk;

/// Chunks a session sends, and their size.
pub const CHUNKS: u32 = 6;
pub const CHUNK_BYTES: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Behaviour {
    /// Streams its audio briskly and waits for the final transcript.
    Normal,
    /// Streams with long pauses: the whole session takes too long.
    Slow,
    /// Sends two chunks, then goes silent while keeping the connection.
    Stalling,
    /// Streams normally, sends END, then hangs up without waiting for the
    /// final transcript (while the server is persisting it).
    Disconnecting,
    /// Sends bytes that are not a valid frame.
    Garbage,
}

impl Behaviour {
    /// Picks a behaviour from a random number: mostly normal clients.
    pub fn pick(r: u64) -> Behaviour {
        match r % 20 {
            0..=13 => Behaviour::Normal,
            14 => Behaviour::Slow,
            15 => Behaviour::Stalling,
            16 | 17 => Behaviour::Disconnecting,
            _ => Behaviour::Garbage,
        }
    }
}

/// What the client experienced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Answer {
    /// Got the final transcript.
    Final,
    Busy,
    Timeout,
    Error,
    /// Hung up on purpose (the disconnecting behaviour).
    HungUp,
    /// The server closed the connection without a word.
    Closed,
    /// Nothing came back within the client's patience.
    Nothing,
    /// Could not connect.
    ConnectFailed,
}

pub struct Session {
    pub behaviour: Behaviour,
    pub answer: Answer,
    pub latency: Duration,
    /// When the session ended (for per-phase figures).
    pub ended: Instant,
}

/// How long any client waits for any answer before giving up.
pub const PATIENCE: Duration = Duration::from_secs(4);

/// Runs one client session against `addr`.
pub async fn run(addr: SocketAddr, behaviour: Behaviour, seed: u64) -> Session {
    let start = Instant::now();
    let answer = match Async::<TcpStream>::connect(addr).await {
        Ok(conn) => talk(conn, behaviour, seed).await,
        Err(_) => Answer::ConnectFailed,
    };
    Session {
        behaviour,
        answer,
        latency: start.elapsed(),
        ended: Instant::now(),
    }
}

/// Reads the next frame the server sends; `None` if it closed, `Err` if
/// the client's patience ran out.
async fn next(conn: &Async<TcpStream>) -> Result<Option<Frame>, ()> {
    match timeout(PATIENCE, read_frame(&mut &*conn)).await {
        Ok(Ok(frame)) => Ok(Some(frame)),
        Ok(Err(_)) => Ok(None),
        Err(_) => Err(()),
    }
}

fn terminal(frame: Option<Frame>) -> Option<Answer> {
    match frame.map(|f| f.kind) {
        None => Some(Answer::Closed),
        Some(Kind::Partial) => None,
        Some(Kind::Final) => Some(Answer::Final),
        Some(Kind::Busy) => Some(Answer::Busy),
        Some(Kind::Timeout) => Some(Answer::Timeout),
        Some(_) => Some(Answer::Error),
    }
}

async fn talk(conn: Async<TcpStream>, behaviour: Behaviour, seed: u64) -> Answer {
    let mut w = &conn;
    if behaviour == Behaviour::Garbage {
        // Half of them send an unknown frame kind, half an absurd length.
        let junk: &[u8] = if seed % 2 == 0 {
            b"GET / HTTP/1.1\r\n\r\n"
        } else {
            &[2, 0xff, 0xff, 0xff, 0xff]
        };
        let _ = w.write_all(junk).await;
        return match next(&conn).await {
            Ok(frame) => terminal(frame).unwrap_or(Answer::Error),
            Err(()) => Answer::Nothing,
        };
    }
    let name = format!("session-{seed}");
    if write_frame(&mut w, &Frame::new(Kind::Open, name))
        .await
        .is_err()
    {
        return Answer::Closed;
    }
    for i in 0..CHUNKS {
        match behaviour {
            Behaviour::Slow => Timer::after(Duration::from_millis(450)).await,
            Behaviour::Stalling if i == 2 => {
                // Silent, connection open, until the server says something
                // or our patience runs out.
                return match next(&conn).await {
                    Ok(frame) => terminal(frame).unwrap_or(Answer::Nothing),
                    Err(()) => Answer::Nothing,
                };
            }
            _ => Timer::after(Duration::from_millis(5)).await,
        };
        let audio = Frame::new(Kind::Audio, audio_chunk(seed, i, CHUNK_BYTES));
        if write_frame(&mut w, &audio).await.is_err() {
            return Answer::Closed;
        }
        match next(&conn).await {
            Ok(frame) => {
                if let Some(answer) = terminal(frame) {
                    return answer;
                }
            }
            Err(()) => return Answer::Nothing,
        }
    }
    if write_frame(&mut w, &Frame::new(Kind::End, ""))
        .await
        .is_err()
    {
        return Answer::Closed;
    }
    if behaviour == Behaviour::Disconnecting {
        // Give the server a moment to start persisting, then hang up.
        Timer::after(Duration::from_millis(3)).await;
        return Answer::HungUp;
    }
    loop {
        match next(&conn).await {
            Ok(frame) => {
                if let Some(answer) = terminal(frame) {
                    return answer;
                }
            }
            Err(()) => return Answer::Nothing,
        }
    }
}
