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
#[cfg(feature = "gzip")]
use std::io::Read;

/// The default of [`crate::ConnectOptions::max_frame_bytes`]: 32 MiB.
///
/// One server frame may take at most this many bytes once inflated — the frame itself and
/// every query update compressed inside it, together (one budget per frame). Sized for a
/// browser tab, whose memory never shrinks: an initial subscription of 100 000 rows of this app
/// is about 20 MB. A frame beyond it is refused with a [`FrameError::Limit`] as soon as it
/// passes the budget (not after inflating it all), and the connection goes on.
///
/// # Memory a frame may use
///
/// Nothing is preallocated from a size the server states (neither from the compressed size nor
/// from a length prefix). Handling a frame that inflates to `n` bytes allocates at most about
/// `6 n` bytes at once, plus 64 KiB: an inflate buffer grows by doubling (up to `2 n`, never past
/// the budget); the decoded message copies byte strings and row offsets (`2 n`, offsets being
/// converted once); and its table and query updates, far larger decoded than encoded, are
/// weighed first and refused beyond another `2 n` (plus 64 KiB, about 400 of them). Row lists
/// are checked against the registered row type (a size hint that cannot hold one of its rows is
/// refused) and sliced without a per-row allocation, and a row repeated in a frame costs the
/// memory of one row (into a table holding rows it is decoded once; into an empty table each
/// copy is decoded and dropped at once). The client cache's maps hash keys and rows with a
/// secret per table, so a server cannot choose keys that collide. A transport that reads
/// frames where they lie ([`crate::ClientCore::handle_far_frame`], the browser's) holds a
/// subscription's initial rows without the frame: about the frame's row offsets (8 bytes a
/// row) and 64 KiB beside what the new rows are charged.
///
/// Only rows new to the cache cost memory that stays (the decoded row and its map entry; no
/// bytes, no key copy): each is charged an estimate as it is decoded ([`crate::ROW_OVERHEAD`]),
/// and the cache as a whole at most [`crate::ConnectOptions::max_cache_bytes`]; an update beyond
/// it is refused as a whole, and its rows stop being decoded as soon as their charge passes what
/// the cache could have left. Rows already cached, or stale ones delivered again after a
/// reconnect, are not charged. Deleting a row or delivering a cached row again decodes it once
/// more (for its key; it is then compared byte for byte with the cached row encoded again), one
/// row at a time, each dropped before the next: at most the charge of the longest row its table
/// has held since it was last empty, on top. So a frame takes at most about `6 n + 64 KiB`, plus
/// the maps an update builds over the rows it lists (about 100 bytes per distinct row inserted
/// or cached row deleted; a delete of a row not cached takes none: 600 000 cached 8-byte rows
/// deleted and inserted again, a 9.6 MB frame, peaked at 80 MB), plus what its new rows are
/// charged, which is at most what is left of `max_cache_bytes`, plus that one row decoded again.
/// An update of several tables that applies is checked, then applied: its new rows are decoded
/// twice, one table at a time.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 32 << 20;

/// The most memory one array element of a server message takes once decoded (a table update is
/// 144 bytes natively, a compressed query update 104, a one-off table 64); see
/// [`ELEMENT_ALLOWANCE`].
pub(crate) const ELEMENT_BYTES: usize = 160;

/// How many bytes of decoded array elements (at [`ELEMENT_BYTES`] each) a message may hold per
/// byte of its own, plus [`ELEMENT_SLACK`]. A table update takes at least 20 encoded bytes and a
/// compressed query update as few as 5, so without this weighing a frame of nothing but empty
/// updates would take twenty times its size in memory.
pub(crate) const ELEMENT_ALLOWANCE: usize = 2;

/// Decoded array elements any message may hold regardless of its size: 64 KiB, about 400 of them.
pub(crate) const ELEMENT_SLACK: usize = 64 << 10;

/// How much larger than `max_frame_bytes` a WebSocket message may be before a transport refuses
/// it unread (gzip's header and incompressible data's overhead fit well within it): 64 KiB.
/// Smaller messages over the limit are refused by the core, as a [`FrameError::Limit`] event.
#[cfg_attr(
    not(any(feature = "native", all(feature = "browser", target_arch = "wasm32"))),
    allow(dead_code)
)]
pub(crate) const MESSAGE_SLACK: usize = 1 << 16;

/// What is left of one frame's inflate budget ([`crate::ConnectOptions::max_frame_bytes`]),
/// shared by the frame and every compressed query update inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    limit: usize,
    used: usize,
}

impl Budget {
    pub fn new(limit: usize) -> Self {
        Self { limit, used: 0 }
    }

    fn left(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    fn spend(&mut self, bytes: usize, what: &'static str) -> Result<(), FrameError> {
        if bytes > self.left() {
            return Err(self.exceeded(what));
        }
        self.used += bytes;
        Ok(())
    }

    fn exceeded(&self, what: &'static str) -> FrameError {
        FrameError::Limit {
            what,
            message: format!(
                "the frame takes more than {} bytes once inflated (the frame and its query \
                 updates together); raise max_frame_bytes to accept it",
                self.limit
            ),
        }
    }
}

/// Decodes server frames; holds the resolved message types so they are built once. See
/// [`DEFAULT_MAX_FRAME_BYTES`] for the memory a frame may use.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    message: Shape,
    query_update: Shape,
    max_frame_bytes: usize,
    max_cache_bytes: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self {
            message: Shape::of::<ServerMessage<BsatnFormat>>("server message"),
            query_update: Shape::of::<QueryUpdate<BsatnFormat>>("query update"),
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_cache_bytes: crate::DEFAULT_MAX_CACHE_BYTES,
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
    /// Sets the per-frame inflate budget.
    pub fn set_max_frame_bytes(&mut self, bytes: usize) {
        self.max_frame_bytes = bytes;
    }

    /// Sets the most memory the client cache may be charged, all tables together.
    pub fn set_max_cache_bytes(&mut self, bytes: usize) {
        self.max_cache_bytes = bytes;
    }

    /// The per-frame inflate budget.
    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// The most memory the client cache may be charged, all tables together.
    pub fn max_cache_bytes(&self) -> usize {
        self.max_cache_bytes
    }

    /// Decodes one binary frame; the budget returned is what its query updates may still inflate.
    pub fn decode(
        &self,
        frame: &[u8],
    ) -> Result<(ServerMessage<BsatnFormat>, FrameCompression, Budget), FrameError> {
        let mut budget = Budget::new(self.max_frame_bytes);
        let (&tag, body) = frame.split_first().ok_or(FrameError::Empty)?;
        let (bytes, compression) = match tag {
            SERVER_MSG_COMPRESSION_TAG_NONE => {
                budget.spend(body.len(), "frame")?;
                (Cow::Borrowed(body), FrameCompression::None)
            }
            SERVER_MSG_COMPRESSION_TAG_GZIP => (
                Cow::Owned(gunzip(body, "frame", &mut budget)?),
                FrameCompression::Gzip,
            ),
            SERVER_MSG_COMPRESSION_TAG_BROTLI => return Err(FrameError::Brotli("frame")),
            other => return Err(FrameError::UnknownCompression(other)),
        };
        let elements = self.message.check(&bytes)?;
        weigh_elements(elements, bytes.len(), "server message")?;
        let message = bsatn::from_slice(&bytes).map_err(|e| FrameError::Decode {
            what: "server message",
            message: e.to_string(),
        })?;
        Ok((message, compression, budget))
    }

    /// The rows of a query update, inflating it when it was compressed on its own (against the
    /// frame's `budget`).
    pub fn query_update(
        &self,
        update: CompressableQueryUpdate<BsatnFormat>,
        budget: &mut Budget,
    ) -> Result<QueryUpdate<BsatnFormat>, FrameError> {
        match update {
            CompressableQueryUpdate::Uncompressed(update) => Ok(update),
            CompressableQueryUpdate::Gzip(data) => {
                let bytes = gunzip(&data, "query update", budget)?;
                drop(data);
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

/// Refuses a message whose array elements would take far more memory decoded than its size.
pub(crate) fn weigh_elements(
    elements: usize,
    len: usize,
    what: &'static str,
) -> Result<(), FrameError> {
    let allowed = len
        .saturating_mul(ELEMENT_ALLOWANCE)
        .saturating_add(ELEMENT_SLACK);
    if elements.saturating_mul(ELEMENT_BYTES) > allowed {
        return Err(FrameError::Limit {
            what,
            message: format!(
                "{elements} table or query updates in {len} bytes would take about {} bytes \
                 decoded (at most {allowed})",
                elements.saturating_mul(ELEMENT_BYTES)
            ),
        });
    }
    Ok(())
}

/// Encodes a client message.
pub fn encode(message: &ClientMessage<Box<[u8]>>) -> Vec<u8> {
    // Encoding into a Vec only fails for types that cannot be BSATN at all; client messages can.
    bsatn::to_vec(message).unwrap_or_default()
}

/// Inflates `data` within what is left of `budget`, growing the buffer as the output arrives
/// (never from a size the data claims): its capacity stays under twice its length and never
/// passes the budget.
#[cfg(feature = "gzip")]
fn gunzip(data: &[u8], what: &'static str, budget: &mut Budget) -> Result<Vec<u8>, FrameError> {
    const FIRST: usize = 16 << 10;
    let limit = budget.left();
    let mut decoder = flate2::read::GzDecoder::new(data);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8 << 10];
    loop {
        let n = decoder.read(&mut chunk).map_err(|e| FrameError::Gzip {
            what,
            message: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        let len = out.len() + n;
        if len > limit {
            return Err(budget.exceeded(what));
        }
        if len > out.capacity() {
            let grown = out.capacity().saturating_mul(2).max(FIRST).max(len);
            out.reserve_exact(grown.min(limit) - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    budget.spend(out.len(), what)?;
    Ok(out)
}

/// Without the `gzip` feature nothing inflates: gzip-tagged data is refused, naming the feature.
#[cfg(not(feature = "gzip"))]
fn gunzip(_data: &[u8], what: &'static str, _budget: &mut Budget) -> Result<Vec<u8>, FrameError> {
    Err(FrameError::GzipUnsupported(what))
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
        #[cfg(feature = "gzip")]
        assert!(matches!(
            decoder.decode(&[2, 1, 2, 3]).err(),
            Some(FrameError::Gzip { .. })
        ));
        assert!(matches!(
            decoder.decode(&[0, 42]).err(),
            Some(FrameError::Malformed { .. })
        ));
    }

    /// The body of an `IdentityToken` message: tag 3, identity (32 bytes), token "t",
    /// connection id (16 bytes).
    fn identity_token_body() -> Vec<u8> {
        let mut body = vec![3];
        body.extend([7; 32]);
        body.extend(1u32.to_le_bytes());
        body.push(b't');
        body.extend([9; 16]);
        body
    }

    #[cfg(not(feature = "gzip"))]
    #[test]
    fn gzip_is_refused_without_the_feature() {
        let decoder = FrameDecoder::default();
        let mut plain = vec![0];
        plain.extend(identity_token_body());
        assert!(decoder.decode(&plain).is_ok());
        let mut zipped = vec![2];
        zipped.extend(gzip(&identity_token_body()));
        let refused = decoder.decode(&zipped).err();
        assert_eq!(refused, Some(FrameError::GzipUnsupported("frame")));
        let message = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("feature `gzip`"), "{message}");
        let mut budget = Budget::new(DEFAULT_MAX_FRAME_BYTES);
        let update = CompressableQueryUpdate::<BsatnFormat>::Gzip(gzip(&[0; 8]).into());
        assert_eq!(
            decoder.query_update(update, &mut budget).err(),
            Some(FrameError::GzipUnsupported("query update"))
        );
        assert_eq!(crate::Compression::default(), crate::Compression::None);
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_frames_decode_like_plain_ones() {
        let decoder = FrameDecoder::default();
        let body = identity_token_body();
        let mut plain = vec![0];
        plain.extend(&body);
        let mut zipped = vec![2];
        zipped.extend(gzip(&body));
        let Ok((a, ca, _)) = decoder.decode(&plain) else {
            panic!("plain frame")
        };
        let Ok((b, cb, _)) = decoder.decode(&zipped) else {
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
