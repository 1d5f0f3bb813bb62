//! The page's binary audio chunks: a 24-byte little-endian header, then `frames` f32 samples.
//!
//! ```text
//! u8 version (1) ‖ u8 kind (0 mix, 1 speaker) ‖ u16 reserved ‖ u32 uid ‖ u32 seq ‖ u64 frame ‖ u32 frames
//! ```
//! `frame` is the page's timeline position (48 kHz) of the chunk's first sample; `seq` counts the
//! stream's chunks from 0. The page's capture worker (`web/recorder/capture.js`) writes this format.

/// Bytes before the samples.
pub const HEADER_LEN: usize = 24;
/// Largest chunk accepted: one second at 48 kHz.
pub const MAX_FRAMES: usize = 48_000;

/// Which stream of a session a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamId {
    /// Everything the bot hears, summed.
    Mix,
    /// One remote user (per-speaker files).
    Speaker(u32),
}

/// A parsed chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub stream: StreamId,
    pub seq: u32,
    pub frame: u64,
    pub samples: Vec<f32>,
}

/// Why bytes are not a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("chunk shorter than its header")]
    Short,
    #[error("unknown chunk version {0}")]
    Version(u8),
    #[error("unknown stream kind {0}")]
    Kind(u8),
    #[error("chunk length does not match its frame count")]
    Length,
    #[error("chunk of more than one second")]
    TooLong,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses one chunk; never panics on any input.
pub fn parse(bytes: &[u8]) -> Result<Chunk, ChunkError> {
    if bytes.len() < HEADER_LEN {
        return Err(ChunkError::Short);
    }
    if bytes[0] != 1 {
        return Err(ChunkError::Version(bytes[0]));
    }
    let uid = u32_at(bytes, 4);
    let stream = match bytes[1] {
        0 => StreamId::Mix,
        1 => StreamId::Speaker(uid),
        other => return Err(ChunkError::Kind(other)),
    };
    let seq = u32_at(bytes, 8);
    let frame = u64::from(u32_at(bytes, 12)) | (u64::from(u32_at(bytes, 16)) << 32);
    let frames = u32_at(bytes, 20) as usize;
    if frames > MAX_FRAMES {
        return Err(ChunkError::TooLong);
    }
    let body = &bytes[HEADER_LEN..];
    if body.len() != frames * 4 {
        return Err(ChunkError::Length);
    }
    let samples = body
        .chunks_exact(4)
        .map(|s| {
            let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            if v.is_finite() { v } else { 0.0 }
        })
        .collect();
    Ok(Chunk {
        stream,
        seq,
        frame,
        samples,
    })
}

/// Encodes a chunk (the page's format); used by tests and benchmarks that play the page's part.
pub fn encode(chunk: &Chunk) -> Vec<u8> {
    let (kind, uid) = match chunk.stream {
        StreamId::Mix => (0u8, 0u32),
        StreamId::Speaker(uid) => (1, uid),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + chunk.samples.len() * 4);
    out.extend_from_slice(&[1, kind, 0, 0]);
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&chunk.seq.to_le_bytes());
    out.extend_from_slice(&chunk.frame.to_le_bytes());
    out.extend_from_slice(
        &u32::try_from(chunk.samples.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for s in &chunk.samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_malformed_chunks() {
        let chunk = Chunk {
            stream: StreamId::Speaker(4_294_967_295),
            seq: 7,
            frame: (1 << 40) + 3,
            samples: vec![0.5, -1.0, 0.25],
        };
        assert_eq!(parse(&encode(&chunk)), Ok(chunk.clone()));
        let bytes = encode(&chunk);
        assert_eq!(parse(&bytes[..10]), Err(ChunkError::Short));
        assert_eq!(parse(&bytes[..bytes.len() - 1]), Err(ChunkError::Length));
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert_eq!(parse(&bad), Err(ChunkError::Version(2)));
        let mut nan = encode(&Chunk {
            samples: vec![f32::NAN],
            ..chunk
        });
        assert_eq!(parse(&nan).unwrap().samples, vec![0.0]);
        nan[20] = 0xff;
        assert!(parse(&nan).is_err());
    }
}
