//! Server frames in, client frames out.
//!
//! A server frame is one compression byte (0 none, 1 brotli, 2 gzip) followed by the BSATN of a
//! `ServerMessage`. Query updates inside may be compressed again on their own.

use crate::FrameError;
use crate::shape::Shape;
use spacetimedb_client_api_messages::websocket::{
    BsatnFormat, ClientMessage, CompressableQueryUpdate, QueryUpdate,
    SERVER_MSG_COMPRESSION_TAG_BROTLI, SERVER_MSG_COMPRESSION_TAG_GZIP,
    SERVER_MSG_COMPRESSION_TAG_NONE, ServerMessage,
};
use spacetimedb_sats::bsatn;
use std::borrow::Cow;
use std::io::Read;

/// Largest inflated size accepted for one gzip payload, against decompression bombs.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// Decodes server frames; holds the resolved message types so they are built once.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    message: Shape,
    query_update: Shape,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self {
            message: Shape::of::<ServerMessage<BsatnFormat>>("server message"),
            query_update: Shape::of::<QueryUpdate<BsatnFormat>>("query update"),
        }
    }
}

/// How a frame arrived, for statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCompression {
    /// Sent as is.
    None,
    /// Gzip-compressed as a whole.
    Gzip,
}

impl FrameDecoder {
    /// Decodes one binary frame.
    pub fn decode(
        &self,
        frame: &[u8],
    ) -> Result<(ServerMessage<BsatnFormat>, FrameCompression), FrameError> {
        let (&tag, body) = frame.split_first().ok_or(FrameError::Empty)?;
        let (bytes, compression) = match tag {
            SERVER_MSG_COMPRESSION_TAG_NONE => (Cow::Borrowed(body), FrameCompression::None),
            SERVER_MSG_COMPRESSION_TAG_GZIP => {
                (Cow::Owned(gunzip(body, "frame")?), FrameCompression::Gzip)
            }
            SERVER_MSG_COMPRESSION_TAG_BROTLI => return Err(FrameError::Brotli("frame")),
            other => return Err(FrameError::UnknownCompression(other)),
        };
        self.message.check(&bytes)?;
        let message = bsatn::from_slice(&bytes).map_err(|e| FrameError::Decode {
            what: "server message",
            message: e.to_string(),
        })?;
        Ok((message, compression))
    }

    /// The rows of a query update, inflating it when it was compressed on its own.
    pub fn query_update(
        &self,
        update: CompressableQueryUpdate<BsatnFormat>,
    ) -> Result<QueryUpdate<BsatnFormat>, FrameError> {
        match update {
            CompressableQueryUpdate::Uncompressed(update) => Ok(update),
            CompressableQueryUpdate::Gzip(data) => {
                let bytes = gunzip(&data, "query update")?;
                self.query_update.check(&bytes)?;
                bsatn::from_slice(&bytes).map_err(|e| FrameError::Decode {
                    what: "query update",
                    message: e.to_string(),
                })
            }
            CompressableQueryUpdate::Brotli(_) => Err(FrameError::Brotli("query update")),
        }
    }
}

/// Encodes a client message.
pub fn encode(message: &ClientMessage<Box<[u8]>>) -> Vec<u8> {
    // Encoding into a Vec only fails for types that cannot be BSATN at all; client messages can.
    bsatn::to_vec(message).unwrap_or_default()
}

fn gunzip(data: &[u8], what: &'static str) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4));
    let mut reader = flate2::read::GzDecoder::new(data).take(MAX_INFLATED_BYTES + 1);
    reader.read_to_end(&mut out).map_err(|e| FrameError::Gzip {
        what,
        message: e.to_string(),
    })?;
    if out.len() as u64 > MAX_INFLATED_BYTES {
        return Err(FrameError::Gzip {
            what,
            message: format!("inflates to more than {MAX_INFLATED_BYTES} bytes"),
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn unknown_and_brotli_frames_are_errors() {
        let decoder = FrameDecoder::default();
        assert_eq!(decoder.decode(&[]).err(), Some(FrameError::Empty));
        assert_eq!(
            decoder.decode(&[7, 0]).err(),
            Some(FrameError::UnknownCompression(7))
        );
        assert_eq!(
            decoder.decode(&[1, 0]).err(),
            Some(FrameError::Brotli("frame"))
        );
        assert!(matches!(
            decoder.decode(&[2, 1, 2, 3]).err(),
            Some(FrameError::Gzip { .. })
        ));
        assert!(matches!(
            decoder.decode(&[0, 42]).err(),
            Some(FrameError::Malformed { .. })
        ));
    }

    #[test]
    fn gzip_frames_decode_like_plain_ones() {
        let decoder = FrameDecoder::default();
        // IdentityToken: tag 3, identity (32 bytes), token "t", connection id (16 bytes).
        let mut body = vec![3];
        body.extend([7; 32]);
        body.extend(1u32.to_le_bytes());
        body.push(b't');
        body.extend([9; 16]);
        let mut plain = vec![0];
        plain.extend(&body);
        let mut zipped = vec![2];
        zipped.extend(gzip(&body));
        let Ok((a, ca)) = decoder.decode(&plain) else {
            panic!("plain frame")
        };
        let Ok((b, cb)) = decoder.decode(&zipped) else {
            panic!("gzip frame")
        };
        assert_eq!((ca, cb), (FrameCompression::None, FrameCompression::Gzip));
        let (ServerMessage::IdentityToken(a), ServerMessage::IdentityToken(b)) = (a, b) else {
            panic!("not identity tokens");
        };
        assert_eq!(a.identity, b.identity);
        assert_eq!(&*b.token, "t");
    }
}
