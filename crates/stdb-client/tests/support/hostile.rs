//! Hostile server frames, built the way a malicious server (or anyone in the middle) would:
//! decompression bombs, size hints that turn every byte into a row, nested compressed updates,
//! huge counts. Shared by `tests/hostile_frames.rs` and `examples/hostile_server.rs`
//! (`#[path]`-included, so not every helper is used by both).
#![allow(dead_code)]

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use spacetimedb_client_api_messages::energy::EnergyQuanta;
use spacetimedb_client_api_messages::websocket::{
    BsatnFormat, BsatnRowList, CompressableQueryUpdate, DatabaseUpdate, IdentityToken, QueryUpdate,
    ReducerCallInfo, RowSizeHint, ServerMessage, TableUpdate, TransactionUpdate, UpdateStatus,
};
use spacetimedb_lib::{ConnectionId, Identity, TimeDuration, Timestamp};
use spacetimedb_primitives::TableId;
use spacetimedb_sats::bsatn;

/// A gzip stream built in pieces; runs of zeros cost almost nothing to produce, however long.
///
/// Every piece ends with a full flush (the compressor forgets what came before), so a run of
/// zeros is the same precompressed mebibyte repeated, and the CRC of the run is combined rather
/// than computed byte by byte.
pub struct Gzip {
    out: Vec<u8>,
    crc: Crc,
    compress: Compress,
    zero_chunk: Vec<u8>,
    zero_crc: Crc,
}

const ZERO_CHUNK: usize = 1 << 20;

impl Default for Gzip {
    fn default() -> Self {
        Self::new()
    }
}

impl Gzip {
    pub fn new() -> Self {
        let mut zero_crc = Crc::new();
        zero_crc.update(&vec![0; ZERO_CHUNK]);
        let zero_chunk = deflate_piece(
            &mut Compress::new(Compression::best(), false),
            &vec![0; ZERO_CHUNK],
        );
        Self {
            // Magic, deflate, no flags, no time, no extra flags, unknown OS.
            out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
            crc: Crc::new(),
            compress: Compress::new(Compression::fast(), false),
            zero_chunk,
            zero_crc,
        }
    }

    /// Appends `data`.
    pub fn bytes(&mut self, data: &[u8]) -> &mut Self {
        self.crc.update(data);
        let piece = deflate_piece(&mut self.compress, data);
        self.out.extend(piece);
        self
    }

    /// Appends `n` zero bytes.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        for _ in 0..n / ZERO_CHUNK {
            self.out.extend_from_slice(&self.zero_chunk);
            self.crc.combine(&self.zero_crc);
        }
        self.bytes(&vec![0; n % ZERO_CHUNK])
    }

    /// The finished stream.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut last = Vec::with_capacity(64);
        loop {
            match self
                .compress
                .compress_vec(&[], &mut last, FlushCompress::Finish)
            {
                Ok(Status::StreamEnd) => break,
                Ok(_) => last.reserve(64),
                Err(e) => panic!("deflate: {e}"),
            }
        }
        self.out.extend(last);
        self.out.extend(self.crc.sum().to_le_bytes());
        self.out.extend(self.crc.amount().to_le_bytes());
        std::mem::take(&mut self.out)
    }
}

/// `data` deflated and fully flushed (byte-aligned, no reference to earlier data).
fn deflate_piece(compress: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 64 + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        let before = out.len();
        compress
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Full)
            .expect("deflate");
        let done = (compress.total_in() - start) as usize == data.len();
        // Flushed when the output did not fill the space it had.
        if done && out.len() < out.capacity() {
            break;
        }
        if out.len() == before && out.len() < out.capacity() && done {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    out
}

/// The table hostile rows are sent for (the tests register a row type for it).
pub const TABLE: &str = "hostile";
/// A table whose row type's primary key panics on [`POISON_ID`] (registered by the tests).
pub const POISON_TABLE: &str = "poison";
/// The id that makes a poison row's primary key panic.
pub const POISON_ID: u64 = 0xDEAD;

/// A row of the table the hostile frames write to: at least 20 bytes (8 + 4 + 8).
#[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct HostileRow {
    pub id: u64,
    pub name: String,
    pub score: i64,
}

impl stdb_client::Row for HostileRow {
    const TABLE: &'static str = TABLE;
    type Key = u64;
    fn primary_key(&self) -> &u64 {
        &self.id
    }
}

/// A row type with a bug: its primary key panics for [`POISON_ID`].
#[derive(stdb_client::SpacetimeType, Debug, Clone, PartialEq)]
#[sats(crate = stdb_client::spacetimedb_lib)]
pub struct PoisonRow {
    pub id: u64,
}

impl stdb_client::Row for PoisonRow {
    const TABLE: &'static str = POISON_TABLE;
    type Key = u64;
    fn primary_key(&self) -> &u64 {
        assert_ne!(self.id, POISON_ID, "a poisoned row");
        &self.id
    }
}

/// Stands for a row list's data of any length: replaced by zeros when the frame is built.
const MARKER: [u8; 16] = [0xA5; 16];

fn row_list(hint: RowSizeHint, data: Bytes) -> BsatnRowList {
    BsatnRowList::new(hint, data)
}

fn marker_list(hint: u16) -> BsatnRowList {
    row_list(RowSizeHint::FixedSize(hint), Bytes::from_static(&MARKER))
}

fn empty_list() -> BsatnRowList {
    row_list(RowSizeHint::RowOffsets([].into()), Bytes::new())
}

/// `bytes` (which hold the marker row list once) around the marker: what comes before the
/// marker's length prefix, and what comes after the marker.
fn split_at_marker(bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut needle = (MARKER.len() as u32).to_le_bytes().to_vec();
    needle.extend(MARKER);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the marker is in the message");
    (bytes[..at].to_vec(), bytes[at + needle.len()..].to_vec())
}

/// The BSATN of `bytes` with the marker replaced by `zeros` zero bytes, gzipped.
fn gzip_with_zeros(bytes: &[u8], zeros: usize) -> Vec<u8> {
    let (before, after) = split_at_marker(bytes);
    Gzip::new()
        .bytes(&before)
        .bytes(&(zeros as u32).to_le_bytes())
        .zeros(zeros)
        .bytes(&after)
        .finish()
}

/// A plain (uncompressed) frame.
pub fn plain(message: &ServerMessage<BsatnFormat>) -> Vec<u8> {
    let mut frame = vec![0];
    frame.extend(bsatn::to_vec(message).expect("encodable"));
    frame
}

/// A gzip frame.
pub fn gzipped(message: &ServerMessage<BsatnFormat>) -> Vec<u8> {
    let mut frame = vec![2];
    frame.extend(
        Gzip::new()
            .bytes(&bsatn::to_vec(message).expect("encodable"))
            .finish(),
    );
    frame
}

/// The first frame of every connection.
pub fn identity(connection_id: u128) -> Vec<u8> {
    let mut identity = [0; 32];
    identity[..16].copy_from_slice(&connection_id.to_le_bytes());
    plain(&ServerMessage::IdentityToken(IdentityToken {
        identity: Identity::from_byte_array(identity),
        token: "hostile-token".into(),
        connection_id: ConnectionId::from_u128(connection_id),
    }))
}

/// Another connection's committed transaction with these updates of `table`.
pub fn transaction(
    table: &str,
    updates: Vec<CompressableQueryUpdate<BsatnFormat>>,
) -> ServerMessage<BsatnFormat> {
    ServerMessage::TransactionUpdate(TransactionUpdate {
        status: UpdateStatus::Committed(DatabaseUpdate {
            tables: vec![TableUpdate {
                table_id: TableId(4096),
                table_name: table.into(),
                num_rows: 0,
                updates: updates.into(),
            }],
        }),
        timestamp: Timestamp::from_micros_since_unix_epoch(1_000_000),
        caller_identity: Identity::ZERO,
        // Not the connection the frames go to.
        caller_connection_id: ConnectionId::from_u128(u128::MAX),
        reducer_call: ReducerCallInfo {
            reducer_name: "hostile".into(),
            reducer_id: 0,
            args: Box::new([]),
            request_id: 0,
        },
        energy_quanta_used: EnergyQuanta::ZERO,
        total_host_execution_duration: TimeDuration::ZERO,
    })
}

/// Rows of `table` inserted by another connection, each the BSATN given.
pub fn insert_rows(table: &str, rows: &[Vec<u8>]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut offsets = Vec::new();
    for row in rows {
        offsets.push(data.len() as u64);
        data.extend(row);
    }
    plain(&transaction(
        table,
        vec![CompressableQueryUpdate::Uncompressed(QueryUpdate {
            deletes: empty_list(),
            inserts: row_list(RowSizeHint::RowOffsets(offsets.into()), data.into()),
        })],
    ))
}

/// A plain frame inserting `count` distinct valid rows into `table`, ids `first_id` onwards (an
/// empty name, score 0: 20 bytes each, size hint `FixedSize(20)`). Unlike zeros, which collapse
/// into one cached row, every row is new to the cache: a million take 20 MB.
pub fn distinct_rows(table: &str, first_id: u64, count: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(count * 20);
    for id in first_id..first_id + count as u64 {
        data.extend(id.to_le_bytes());
        data.extend(0u32.to_le_bytes());
        data.extend(0i64.to_le_bytes());
    }
    plain(&transaction(
        table,
        vec![CompressableQueryUpdate::Uncompressed(QueryUpdate {
            deletes: empty_list(),
            inserts: row_list(RowSizeHint::FixedSize(20), data.into()),
        })],
    ))
}

/// A gzip frame inserting `zeros` zero bytes into `table` with the size hint `FixedSize(hint)`:
/// with `hint` 1 every byte is a row. 128 MiB of zeros take 130 KiB.
pub fn fixed_size_rows(table: &str, hint: u16, zeros: usize) -> Vec<u8> {
    let message = transaction(
        table,
        vec![CompressableQueryUpdate::Uncompressed(QueryUpdate {
            deletes: empty_list(),
            inserts: marker_list(hint),
        })],
    );
    let mut frame = vec![2];
    frame.extend(gzip_with_zeros(
        &bsatn::to_vec(&message).expect("encodable"),
        zeros,
    ));
    frame
}

/// A plain frame with `count` query updates of `table`, each gzip-compressed on its own and
/// inflating to `zeros` zero bytes of rows of `hint` bytes.
pub fn nested_gzip(table: &str, count: usize, hint: u16, zeros: usize) -> Vec<u8> {
    let update = QueryUpdate::<BsatnFormat> {
        deletes: empty_list(),
        inserts: marker_list(hint),
    };
    let zipped = gzip_with_zeros(&bsatn::to_vec(&update).expect("encodable"), zeros);
    plain(&transaction(
        table,
        (0..count)
            .map(|_| CompressableQueryUpdate::Gzip(zipped.clone().into()))
            .collect(),
    ))
}

/// A gzip frame that inflates to `zeros` zero bytes (1 GiB takes about 1 MB).
pub fn inflate_bomb(zeros: usize) -> Vec<u8> {
    let mut frame = vec![2];
    frame.extend(Gzip::new().zeros(zeros).finish());
    frame
}

/// A plain frame with `count` empty query updates of `table` (5 bytes each, over 100 decoded).
pub fn empty_updates(table: &str, count: usize) -> Vec<u8> {
    plain(&transaction(
        table,
        (0..count)
            .map(|_| CompressableQueryUpdate::Gzip(Bytes::new()))
            .collect(),
    ))
}

/// A gzip frame with a row list of `count` rows that all start at 0 and are empty.
pub fn empty_offsets(table: &str, count: usize) -> Vec<u8> {
    gzipped(&transaction(
        table,
        vec![CompressableQueryUpdate::Uncompressed(QueryUpdate {
            deletes: empty_list(),
            inserts: row_list(RowSizeHint::RowOffsets(vec![0; count].into()), Bytes::new()),
        })],
    ))
}

/// A plain frame whose update claims `count` tables but holds none.
pub fn huge_count(count: u32) -> Vec<u8> {
    let mut frame = plain(&transaction(TABLE, Vec::new()));
    // The transaction's status (tag 0, committed) is followed by the table count.
    let at = 3;
    assert_eq!(&frame[at..at + 4], &1u32.to_le_bytes());
    frame[at..at + 4].copy_from_slice(&count.to_le_bytes());
    frame
}
