//! Frames read a piece at a time from memory the client does not own (in the browser, the
//! WebSocket's `ArrayBuffer` in the JS heap), so a large initial subscription never sits in
//! the client's own memory beside the rows decoded from it.
//!
//! Only the frame that makes a difference is read this way: an uncompressed
//! `SubscribeMultiApplied` (a subscription's initial rows). Its envelope is read field by field,
//! strictly (every tag, length and name checked, nothing past its end); its row lists stay where
//! they are, as [`FarRows`], and are read in windows of [`WINDOW`] bytes while the rows are
//! decoded into an empty table. Anything else — another message, a compressed frame or query
//! update, a frame this reading refuses — is copied in whole and handled as any frame is, so the
//! outcome (its errors included) is the same.

use crate::row_list::Boundaries;
use spacetimedb_client_api_messages::websocket::{RowSizeHint, SERVER_MSG_COMPRESSION_TAG_NONE};
use std::sync::Arc;

/// A frame in memory the client does not own, read a piece at a time.
pub trait FrameSource {
    /// The frame's length in bytes.
    fn len(&self) -> usize;

    /// Whether the frame is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the frame's bytes from `at` into all of `into`. Callers stay within the frame.
    fn read(&self, at: usize, into: &mut [u8]);
}

/// Bytes in the client's own memory (tests, and transports that have them anyway).
impl<T: AsRef<[u8]>> FrameSource for T {
    fn len(&self) -> usize {
        self.as_ref().len()
    }

    fn read(&self, at: usize, into: &mut [u8]) {
        if let Some(part) = self.as_ref().get(at..at.saturating_add(into.len())) {
            into.copy_from_slice(part);
        }
    }
}

/// Frames shorter than this are copied in whole: reading them where they lie saves little.
pub const FAR_FRAME_MIN: usize = 1 << 20;

/// How many bytes of a row list are read at a time (a longer row is read whole).
pub(crate) const WINDOW: usize = 64 << 10;

/// The index of `SubscribeMultiApplied` among the v1 `ServerMessage` variants.
const SUBSCRIBE_MULTI_APPLIED: u8 = 8;

/// A row list left in the frame: its size hint, where its data starts and how long it is.
#[derive(Debug, Clone)]
pub(crate) struct FarList {
    pub hint: RowSizeHint,
    pub at: usize,
    pub len: usize,
}

/// A row list left in the frame, its boundaries checked against its data.
#[derive(Debug, Clone)]
pub(crate) struct FarRows {
    pub boundaries: Boundaries,
    pub at: usize,
}

impl FarRows {
    /// Hands `row` each row's bytes in order, read from `source` in windows; stops at the first
    /// error `row` returns.
    pub fn for_each<E>(
        &self,
        source: &dyn FrameSource,
        row: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut reader = Reader::new(source);
        for i in 0..self.boundaries.len() {
            let range = self.boundaries.range(i);
            reader.at = self.at + range.start;
            // Within the frame: the boundaries were checked against the list's data.
            row(reader.take(range.len()).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// One table's part of the subscription's rows.
#[derive(Debug)]
pub(crate) struct FarTable {
    pub name: String,
    /// Each query update's deletes and inserts.
    pub updates: Vec<(FarList, FarList)>,
}

/// An uncompressed `SubscribeMultiApplied`, its row lists left in the frame.
#[derive(Debug)]
pub(crate) struct FarApplied {
    pub query_id: u32,
    pub tables: Vec<FarTable>,
}

/// Reads `source` as an uncompressed `SubscribeMultiApplied` whose query updates are all
/// uncompressed; `None` for anything else or anything malformed (the caller then handles the
/// frame as a whole, which says what is wrong).
pub(crate) fn subscribe_applied(source: &dyn FrameSource) -> Option<FarApplied> {
    let mut reader = Reader::new(source);
    if reader.u8()? != SERVER_MSG_COMPRESSION_TAG_NONE || reader.u8()? != SUBSCRIBE_MULTI_APPLIED {
        return None;
    }
    let _request_id = reader.u32()?;
    let _duration_micros = reader.u64()?;
    let query_id = reader.u32()?;
    // Table and query updates are weighed as they are read, as the whole-frame decoder weighs
    // them (far larger decoded than encoded): nothing is reserved from a count the server claims.
    let mut weight = Weight {
        elements: 0,
        body: reader.len.saturating_sub(1),
    };
    let table_count = reader.count()?;
    let mut tables = Vec::new();
    for _ in 0..table_count {
        weight.add()?;
        let _table_id = reader.u32()?;
        let name = reader.string()?;
        let _num_rows = reader.u64()?;
        let update_count = reader.count()?;
        let mut updates = Vec::new();
        for _ in 0..update_count {
            weight.add()?;
            // 0: uncompressed; brotli and gzip are handled as a whole frame.
            if reader.u8()? != 0 {
                return None;
            }
            let deletes = reader.list()?;
            let inserts = reader.list()?;
            updates.push((deletes, inserts));
        }
        tables.push(FarTable { name, updates });
    }
    (reader.at == reader.len).then_some(FarApplied { query_id, tables })
}

/// The table and query updates read so far, against what the whole-frame decoder allows a
/// message of `body` bytes.
struct Weight {
    elements: usize,
    body: usize,
}

impl Weight {
    /// One more; `None` once past what is allowed.
    fn add(&mut self) -> Option<()> {
        self.elements += 1;
        crate::frame::weigh_elements(self.elements, self.body, "server message").ok()
    }
}

/// Reads BSATN fields from a [`FrameSource`], each within its bounds, through a buffer of
/// [`WINDOW`] bytes (in the browser every read of the source crosses into JS).
struct Reader<'a> {
    source: &'a dyn FrameSource,
    len: usize,
    at: usize,
    /// Bytes of the source from `buffer_at` on.
    buffer: Vec<u8>,
    buffer_at: usize,
}

impl<'a> Reader<'a> {
    fn new(source: &'a dyn FrameSource) -> Self {
        Self {
            source,
            len: source.len(),
            at: 0,
            buffer: Vec::new(),
            buffer_at: 0,
        }
    }

    fn left(&self) -> usize {
        self.len.saturating_sub(self.at)
    }

    /// The next `n` bytes (`n` at most what is left), read from the source when the buffer
    /// does not hold them.
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if n > self.left() {
            return None;
        }
        let end = self.at + n;
        if self.at < self.buffer_at || end > self.buffer_at + self.buffer.len() {
            let want = n.max(WINDOW).min(self.left());
            self.buffer.clear();
            self.buffer.resize(want, 0);
            self.source.read(self.at, &mut self.buffer);
            self.buffer_at = self.at;
        }
        let start = self.at - self.buffer_at;
        self.at = end;
        self.buffer.get(start..start + n)
    }

    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.bytes().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.bytes().map(u64::from_le_bytes)
    }

    /// An array's element count, at most the bytes left.
    fn count(&mut self) -> Option<usize> {
        let count = usize::try_from(self.u32()?).ok()?;
        (count <= self.left()).then_some(count)
    }

    /// A length-prefixed byte string, skipped unread: where it starts and how long it is.
    fn skip_bytes(&mut self) -> Option<(usize, usize)> {
        let len = usize::try_from(self.u32()?).ok()?;
        if len > self.left() {
            return None;
        }
        let at = self.at;
        self.at += len;
        Some((at, len))
    }

    /// A length-prefixed UTF-8 string (a table name).
    fn string(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    /// A row list: its size hint read, its data left where it is.
    fn list(&mut self) -> Option<FarList> {
        let hint = match self.u8()? {
            0 => RowSizeHint::FixedSize(self.u16()?),
            1 => {
                let count = self.count()?;
                if count.checked_mul(8)? > self.left() {
                    return None;
                }
                let offsets: Option<Vec<u64>> = (0..count).map(|_| self.u64()).collect();
                RowSizeHint::RowOffsets(Arc::from(offsets?))
            }
            _ => return None,
        };
        let (at, len) = self.skip_bytes()?;
        Some(FarList { hint, at, len })
    }
}
