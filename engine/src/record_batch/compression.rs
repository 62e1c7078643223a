//! Kafka's four codecs, framed as Kafka frames them, inflated as a bounded
//! stream.
//!
//! The engine stores compressed batches as sent; it inflates them only to
//! validate them before an append ([`super::validate`]), to list record
//! timestamps for ListOffsets, and to convert between message formats
//! ([`super::legacy`]). Each of those reads the inflated bytes through an
//! [`Inflater`], a pull stream that refuses to produce more than the bound
//! its caller gives (`limits::batch_inflated_bytes_max`): a batch that
//! would pass it fails with [`BatchError::InflatedTooLarge`] after at most
//! that many bytes were produced, and a decompression bomb is never
//! inflated into memory.
//!
//! ```text
//! codec   attributes  framing (what Kafka's clients write)            memory while inflating
//! gzip    1           RFC 1952 members, one or more (GZIPInputStream) 32 KiB window
//! snappy  2           xerial: "\x82SNAPPY\0" v1 | (u32 BE len, raw    one block (32 KiB from
//!                     snappy block)*; or raw snappy (librdkafka)      Java; raw: the whole
//!                                                                     payload, <= the bound)
//! lz4     3           LZ4 frame (magic 0x184D2204); Kafka writes      one block (64 KiB from
//!                     64 KiB independent blocks, no checksums         Kafka; <= 4 MiB)
//! zstd    4           zstd frames                                     window (<= 2^27 bytes,
//!                                                                     committed as written)
//! ```
//!
//! The LZ4 frame descriptor ends with a one-byte header checksum (HC) of
//! the descriptor. Kafka before 0.10 computed it over the frame's magic
//! number as well; KIP-57 kept that broken checksum for messages of magic 0
//! and the correct one from magic 1 on (Kafka's `KafkaLZ4BlockInputStream`
//! ignores HC for magic 0). [`Lz4Checksum::Legacy`] reproduces both sides:
//! on input the HC byte is ignored (it is replaced by the correct one before
//! liblz4 sees the frame), on output the broken HC is written.
//!
//! Trade-off: raw snappy carries no block structure, so a raw-snappy payload
//! is inflated in one step into a buffer of its declared length (checked
//! against the bound first). Its consumers still walk the result in pieces.

use std::io::{Read, Write};

use super::header::Compression;
use crate::error::BatchError;

/// The xerial snappy-java stream header: magic, version 1, compatible 1.
pub const XERIAL_SNAPPY_HEADER: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";

/// Block size of snappy-java's `SnappyOutputStream`, which Kafka uses.
pub const XERIAL_SNAPPY_BLOCK_BYTES: usize = 32 * 1024;

/// The LZ4 frame magic number, little-endian on the wire.
pub const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;

/// zstd's own default for decoders; Java producers at level 22 declare it.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 27;

/// gzip level of Kafka's `GzipCompression` default (`Deflater.DEFAULT_COMPRESSION`).
const GZIP_LEVEL: u32 = 6;
/// zstd level of Kafka's default (`ZstdCompression.DEFAULT_LEVEL`).
const ZSTD_LEVEL: i32 = 3;

/// Which LZ4 frame header checksum a message format uses (KIP-57).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lz4Checksum {
    /// Magic 1 and 2: the checksum of the LZ4 frame format.
    Standard,
    /// Magic 0: computed over the magic number too; ignored on input.
    Legacy,
}

impl Lz4Checksum {
    /// The checksum convention of message format `magic`.
    pub fn for_magic(magic: i8) -> Lz4Checksum {
        if magic == 0 {
            Lz4Checksum::Legacy
        } else {
            Lz4Checksum::Standard
        }
    }
}

/// A bounded pull stream of the bytes a compressed payload inflates to.
///
/// Not `Send` across a shard boundary by contract: one inflater belongs to
/// the task that validates one batch, and holds only that task's memory.
pub struct Inflater<'a> {
    compression: Compression,
    source: Source<'a>,
    produced: usize,
    max: usize,
    done: bool,
}

/// liblz4's frame decoder over the (possibly corrected) frame header and
/// the rest of the payload.
type Lz4Decoder<'a> = lz4::Decoder<std::io::Chain<std::io::Cursor<Vec<u8>>, &'a [u8]>>;

enum Source<'a> {
    Plain(&'a [u8]),
    Gzip(flate2::bufread::MultiGzDecoder<&'a [u8]>),
    Zstd(Box<zstd::stream::read::Decoder<'static, &'a [u8]>>),
    /// Inflated bytes held whole (raw snappy) or one block at a time
    /// (xerial snappy: `rest` holds the blocks not yet inflated).
    Snappy {
        block: Vec<u8>,
        at: usize,
        rest: Option<&'a [u8]>,
    },
    Lz4(Option<Lz4Decoder<'a>>),
}

impl<'a> Inflater<'a> {
    /// An inflater of `payload` (the bytes after a v2 batch header, or a
    /// v0/v1 wrapper's value) that fails once it would produce more than
    /// `inflated_bytes_max` bytes. `Compression::None` passes the bytes
    /// through, bounded the same way.
    pub fn new(
        compression: Compression,
        payload: &'a [u8],
        inflated_bytes_max: usize,
        lz4_checksum: Lz4Checksum,
    ) -> Result<Inflater<'a>, BatchError> {
        let source = match compression {
            Compression::None => Source::Plain(payload),
            Compression::Gzip => Source::Gzip(flate2::bufread::MultiGzDecoder::new(payload)),
            Compression::Zstd => {
                let mut decoder = zstd::stream::read::Decoder::with_buffer(payload)
                    .map_err(|error| failed(compression, &error))?;
                decoder
                    .window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|error| failed(compression, &error))?;
                Source::Zstd(Box::new(decoder))
            }
            Compression::Snappy => snappy_source(payload, inflated_bytes_max)?,
            Compression::Lz4 => lz4_source(payload, lz4_checksum)?,
        };
        Ok(Inflater {
            compression,
            source,
            produced: 0,
            max: inflated_bytes_max,
            done: false,
        })
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Bytes produced so far.
    pub fn inflated_bytes(&self) -> usize {
        self.produced
    }

    /// Fills the front of `out` with the next inflated bytes and returns how
    /// many; 0 means the payload ended (and nothing of it is left over).
    pub fn read(&mut self, out: &mut [u8]) -> Result<usize, BatchError> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        // Ask for one byte past the bound, so passing it is seen.
        if self.produced > self.max {
            // Called again after reporting the bound: report it again.
            return Err(BatchError::InflatedTooLarge {
                compression: self.compression,
                max: self.max,
            });
        }
        let allowed = (self.max - self.produced).saturating_add(1).min(out.len());
        let read = self.read_source(&mut out[..allowed])?;
        if read == 0 {
            self.done = true;
            return Ok(0);
        }
        self.produced += read;
        if self.produced > self.max {
            return Err(BatchError::InflatedTooLarge {
                compression: self.compression,
                max: self.max,
            });
        }
        Ok(read)
    }

    fn read_source(&mut self, out: &mut [u8]) -> Result<usize, BatchError> {
        let compression = self.compression;
        match &mut self.source {
            Source::Plain(rest) => {
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                *rest = &rest[n..];
                Ok(n)
            }
            Source::Gzip(decoder) => read_retrying(decoder, out, compression),
            Source::Zstd(decoder) => read_retrying(decoder.as_mut(), out, compression),
            Source::Snappy { block, at, rest } => loop {
                if *at < block.len() {
                    let n = (block.len() - *at).min(out.len());
                    out[..n].copy_from_slice(&block[*at..*at + n]);
                    *at += n;
                    return Ok(n);
                }
                let Some(blocks) = rest else { return Ok(0) };
                if blocks.is_empty() {
                    return Ok(0);
                }
                let budget = self.max - self.produced;
                *at = 0;
                *rest = Some(next_xerial_block(blocks, block, budget, self.max)?);
            },
            Source::Lz4(decoder) => {
                let Some(active) = decoder else { return Ok(0) };
                let n = read_retrying(active, out, compression)?;
                if n == 0 {
                    // The frame ended, or its input did: liblz4 tells which.
                    let (_, finished) = decoder.take().expect("checked above").finish();
                    finished.map_err(|_| BatchError::DecompressionFailed {
                        compression,
                        reason: "LZ4 frame ends before its end mark".into(),
                    })?;
                }
                Ok(n)
            }
        }
    }
}

fn failed(compression: Compression, error: &dyn std::fmt::Display) -> BatchError {
    BatchError::DecompressionFailed {
        compression,
        reason: error.to_string(),
    }
}

fn read_retrying(
    reader: &mut dyn Read,
    out: &mut [u8],
    compression: Compression,
) -> Result<usize, BatchError> {
    loop {
        match reader.read(out) {
            Ok(n) => return Ok(n),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(failed(compression, &error)),
        }
    }
}

fn snappy_failed(reason: &str) -> BatchError {
    BatchError::DecompressionFailed {
        compression: Compression::Snappy,
        reason: reason.into(),
    }
}

/// xerial framing if the header is there (as snappy-java's
/// `SnappyInputStream` decides), raw snappy otherwise.
fn snappy_source(payload: &[u8], budget: usize) -> Result<Source<'_>, BatchError> {
    if payload.starts_with(&XERIAL_SNAPPY_HEADER[..8]) {
        let rest = xerial_header(payload)?;
        return Ok(Source::Snappy {
            block: Vec::new(),
            at: 0,
            rest: Some(rest),
        });
    }
    let block = inflate_snappy_block(payload, budget, budget)?;
    Ok(Source::Snappy {
        block,
        at: 0,
        rest: None,
    })
}

/// Checks a xerial header at the front of `bytes` and returns what follows.
fn xerial_header(bytes: &[u8]) -> Result<&[u8], BatchError> {
    let header = bytes
        .get(..XERIAL_SNAPPY_HEADER.len())
        .ok_or_else(|| snappy_failed("xerial header cut short"))?;
    // Version (bytes 8..12) is informational; the compatible version must be 1.
    let compatible = i32::from_be_bytes(header[12..16].try_into().expect("4 bytes"));
    if compatible != 1 {
        return Err(snappy_failed("xerial compatible version is not 1"));
    }
    Ok(&bytes[XERIAL_SNAPPY_HEADER.len()..])
}

/// Inflates the next xerial block of `blocks` into `block` and returns the
/// blocks after it. A second stream header between blocks (concatenated
/// streams, which snappy-java reads) is skipped.
fn next_xerial_block<'a>(
    mut blocks: &'a [u8],
    block: &mut Vec<u8>,
    budget: usize,
    max: usize,
) -> Result<&'a [u8], BatchError> {
    if blocks.starts_with(&XERIAL_SNAPPY_HEADER[..8]) {
        blocks = xerial_header(blocks)?;
        if blocks.is_empty() {
            block.clear();
            return Ok(blocks);
        }
    }
    let length_field = blocks
        .get(..4)
        .ok_or_else(|| snappy_failed("xerial block length cut short"))?;
    let length = u32::from_be_bytes(length_field.try_into().expect("4 bytes")) as usize;
    let compressed = blocks
        .get(4..4 + length)
        .ok_or_else(|| snappy_failed("xerial block longer than the payload"))?;
    *block = inflate_snappy_block(compressed, budget, max)?;
    Ok(&blocks[4 + length..])
}

/// One raw snappy block, its declared length checked against `budget`
/// (what is left of the stream's bound `max`) before the buffer is allocated.
fn inflate_snappy_block(
    compressed: &[u8],
    budget: usize,
    max: usize,
) -> Result<Vec<u8>, BatchError> {
    let length = snap::raw::decompress_len(compressed)
        .map_err(|error| failed(Compression::Snappy, &error))?;
    if length > budget {
        return Err(BatchError::InflatedTooLarge {
            compression: Compression::Snappy,
            max,
        });
    }
    let mut out = vec![0u8; length];
    let written = snap::raw::Decoder::new()
        .decompress(compressed, &mut out)
        .map_err(|error| failed(Compression::Snappy, &error))?;
    out.truncate(written);
    Ok(out)
}

/// Length of the LZ4 frame descriptor (FLG, BD, optional content size and
/// dictionary id), without the HC byte.
fn lz4_descriptor_bytes(flg: u8) -> usize {
    let content_size = if flg & 0x08 != 0 { 8 } else { 0 };
    let dictionary_id = if flg & 0x01 != 0 { 4 } else { 0 };
    2 + content_size + dictionary_id
}

fn lz4_failed(reason: &str) -> BatchError {
    BatchError::DecompressionFailed {
        compression: Compression::Lz4,
        reason: reason.into(),
    }
}

fn lz4_source(payload: &[u8], checksum: Lz4Checksum) -> Result<Source<'_>, BatchError> {
    let magic = payload
        .get(..4)
        .ok_or_else(|| lz4_failed("LZ4 frame cut short"))?;
    if u32::from_le_bytes(magic.try_into().expect("4 bytes")) != LZ4_FRAME_MAGIC {
        return Err(lz4_failed("not an LZ4 frame (magic number)"));
    }
    let flg = *payload
        .get(4)
        .ok_or_else(|| lz4_failed("LZ4 frame cut short"))?;
    let header_bytes = 4 + lz4_descriptor_bytes(flg) + 1;
    let mut header = payload
        .get(..header_bytes)
        .ok_or_else(|| lz4_failed("LZ4 frame descriptor cut short"))?
        .to_vec();
    if checksum == Lz4Checksum::Legacy {
        // Kafka ignores HC for magic 0: give liblz4 the correct one.
        header[header_bytes - 1] = lz4_header_checksum(&header[4..header_bytes - 1]);
    }
    let reader = std::io::Cursor::new(header).chain(&payload[header_bytes..]);
    let decoder = lz4::Decoder::new(reader).map_err(|error| failed(Compression::Lz4, &error))?;
    Ok(Source::Lz4(Some(decoder)))
}

/// The LZ4 frame format's header checksum of `bytes`.
fn lz4_header_checksum(bytes: &[u8]) -> u8 {
    (xxhash_rust::xxh32::xxh32(bytes, 0) >> 8) as u8
}

/// Inflates all of `payload`, bounded by `inflated_bytes_max`.
pub fn inflate(
    compression: Compression,
    payload: &[u8],
    inflated_bytes_max: usize,
    lz4_checksum: Lz4Checksum,
) -> Result<Vec<u8>, BatchError> {
    let mut inflater = Inflater::new(compression, payload, inflated_bytes_max, lz4_checksum)?;
    let mut out = Vec::new();
    let mut piece = vec![0u8; crate::limits::INFLATE_PIECE_BYTES];
    loop {
        let n = inflater.read(&mut piece)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&piece[..n]);
    }
}

/// Compresses `raw` as Kafka's Java client does: gzip at the default level,
/// snappy in xerial framing with 32 KiB blocks, an LZ4 frame of 64 KiB
/// independent blocks without checksums (HC per `lz4_checksum`), zstd at
/// level 3. `Compression::None` returns a copy.
pub fn compress(
    compression: Compression,
    raw: &[u8],
    lz4_checksum: Lz4Checksum,
) -> Result<Vec<u8>, BatchError> {
    let io_failed = |error: std::io::Error| failed(compression, &error);
    match compression {
        Compression::None => Ok(raw.to_vec()),
        Compression::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
            encoder.write_all(raw).map_err(io_failed)?;
            encoder.finish().map_err(io_failed)
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_SNAPPY_HEADER.len() + raw.len() / 2 + 64);
            out.extend_from_slice(XERIAL_SNAPPY_HEADER);
            let mut encoder = snap::raw::Encoder::new();
            for block in raw.chunks(XERIAL_SNAPPY_BLOCK_BYTES) {
                let compressed = encoder
                    .compress_vec(block)
                    .map_err(|error| failed(compression, &error))?;
                out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                out.extend_from_slice(&compressed);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut encoder = lz4::EncoderBuilder::new()
                .block_size(lz4::BlockSize::Max64KB)
                .block_mode(lz4::BlockMode::Independent)
                .block_checksum(lz4::liblz4::BlockChecksum::NoBlockChecksum)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())
                .map_err(io_failed)?;
            encoder.write_all(raw).map_err(io_failed)?;
            let (mut out, result) = encoder.finish();
            result.map_err(io_failed)?;
            if lz4_checksum == Lz4Checksum::Legacy {
                let header_bytes = 4 + lz4_descriptor_bytes(out[4]);
                out[header_bytes] = lz4_header_checksum(&out[..header_bytes]);
            }
            Ok(out)
        }
        Compression::Zstd => zstd::bulk::compress(raw, ZSTD_LEVEL).map_err(io_failed),
    }
}
