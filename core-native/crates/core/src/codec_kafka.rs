//! Decompression of Kafka record batches for the codecs other than gzip: snappy (raw, or the xerial framing the
//! Java client writes), LZ4 (the frame format) and zstd, on pure-Rust crates (snap, lz4_flex, ruzstd). The framing
//! rules are written out here, the same as in the TypeScript twin (`@pep/kafka-wire/compression`), so that both cores
//! take and refuse the same inputs: every error is CORRUPT ("the <codec> data is corrupt") or TOO_LARGE (more output
//! than `max`). Output never grows past `max` plus one LZ4 block.

use crate::records::{CORRUPT, TOO_LARGE};

type Failure = (&'static str, String);

fn corrupt(codec: &str) -> Failure {
    (CORRUPT, format!("the {codec} data is corrupt"))
}
fn too_large(max: usize) -> Failure {
    (TOO_LARGE, format!("records exceed {max} bytes"))
}
fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn xxh32(b: &[u8]) -> u32 {
    twox_hash::XxHash32::oneshot(0, b)
}

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];

/// Snappy: xerial framing (16-byte header, then big-endian length + raw block, repeated) or one raw block.
pub fn unsnappy(data: &[u8], max: usize) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    let raw = |chunk: &[u8], out: &mut Vec<u8>| -> Result<(), Failure> {
        let n = snap::raw::decompress_len(chunk).map_err(|_| corrupt("snappy"))?;
        if out.len() + n > max {
            return Err(too_large(max));
        }
        let at = out.len();
        out.resize(at + n, 0);
        let written = snap::raw::Decoder::new()
            .decompress(chunk, &mut out[at..])
            .map_err(|_| corrupt("snappy"))?;
        if written != n {
            return Err(corrupt("snappy"));
        }
        Ok(())
    };
    if data.len() >= 16 && data[..8] == XERIAL_MAGIC {
        let mut i = 16;
        while i < data.len() {
            if i + 4 > data.len() {
                return Err(corrupt("snappy"));
            }
            let n = i32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            i += 4;
            if n < 0 || i + n as usize > data.len() {
                return Err(corrupt("snappy"));
            }
            raw(&data[i..i + n as usize], &mut out)?;
            i += n as usize;
        }
    } else {
        raw(data, &mut out)?;
    }
    Ok(out)
}

const LZ4_MAGIC: u32 = 0x184d_2204;
const LZ4_BLOCK_SIZES: [usize; 8] = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];

/// The LZ4 frame format, one or more frames back to back; blocks decoded by lz4_flex.
pub fn unlz4(data: &[u8], max: usize) -> Result<Vec<u8>, Failure> {
    let bad = || corrupt("lz4");
    if data.is_empty() {
        return Err(bad());
    }
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if i + 7 > data.len() || le32(data, i) != LZ4_MAGIC {
            return Err(bad());
        }
        let desc = i + 4;
        let (flg, bd) = (data[i + 4], data[i + 5]);
        if flg >> 6 != 1 || flg & 2 != 0 || flg & 1 != 0 || bd & 0x8f != 0 {
            return Err(bad());
        }
        let block_max = LZ4_BLOCK_SIZES[((bd >> 4) & 7) as usize];
        if block_max == 0 {
            return Err(bad());
        }
        let independent = flg & 0x20 != 0;
        let block_checksum = flg & 0x10 != 0;
        let content_checksum = flg & 0x04 != 0;
        i += 6;
        if flg & 0x08 != 0 {
            i += 8;
        }
        if i + 1 > data.len() || ((xxh32(&data[desc..i]) >> 8) & 0xff) as u8 != data[i] {
            return Err(bad());
        }
        i += 1;
        let frame_start = out.len();
        loop {
            if i + 4 > data.len() {
                return Err(bad());
            }
            let word = le32(data, i);
            i += 4;
            if word == 0 {
                break;
            }
            let size = (word & 0x7fff_ffff) as usize;
            let extra = if block_checksum { 4 } else { 0 };
            if size > block_max || i + size + extra > data.len() {
                return Err(bad());
            }
            let block = &data[i..i + size];
            if block_checksum && xxh32(block) != le32(data, i + size) {
                return Err(bad());
            }
            if word & 0x8000_0000 != 0 {
                out.extend_from_slice(block);
            } else {
                let at = out.len();
                let window = if independent {
                    at
                } else {
                    frame_start.max(at.saturating_sub(64 << 10))
                };
                let mut dst = vec![0u8; block_max];
                let n =
                    lz4_flex::block::decompress_into_with_dict(block, &mut dst, &out[window..at])
                        .map_err(|_| bad())?;
                out.extend_from_slice(&dst[..n]);
            }
            if out.len() > max {
                return Err(too_large(max));
            }
            i += size + extra;
        }
        if content_checksum {
            if i + 4 > data.len() || xxh32(&out[frame_start..]) != le32(data, i) {
                return Err(bad());
            }
            i += 4;
        }
    }
    Ok(out)
}

/// zstd frames back to back (ruzstd), content checksums verified, at most `max` bytes out. As Node's and Bun's zlib
/// (the twin's decoder): after a complete frame, bytes that do not start another frame (zstd or skippable magic) end
/// the data and are ignored.
pub fn unzstd(data: &[u8], max: usize) -> Result<Vec<u8>, Failure> {
    use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
    let bad = || corrupt("zstd");
    if data.is_empty() {
        return Err(bad());
    }
    let mut out = Vec::new();
    let mut input = data;
    let mut frames = 0;
    while !input.is_empty() {
        let magic = if input.len() >= 4 { le32(input, 0) } else { 0 };
        if magic & 0xffff_fff0 == 0x184d_2a50 {
            // A skippable frame: magic, 4-byte length, that many bytes.
            if input.len() < 8 || input.len() - 8 < le32(input, 4) as usize {
                return Err(bad());
            }
            input = &input[8 + le32(input, 4) as usize..];
            continue;
        }
        if magic != 0xfd2f_b528 {
            if frames > 0 {
                break;
            }
            return Err(bad());
        }
        frames += 1;
        let mut fd = FrameDecoder::new();
        fd.reset(&mut input).map_err(|_| bad())?;
        loop {
            fd.decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(256 << 10))
                .map_err(|_| bad())?;
            if let Some(chunk) = fd.collect() {
                out.extend_from_slice(&chunk);
            }
            if out.len() + fd.can_collect() > max {
                return Err(too_large(max));
            }
            if fd.is_finished() {
                if let Some(chunk) = fd.collect() {
                    out.extend_from_slice(&chunk);
                }
                break;
            }
        }
        if let (Some(expected), Some(actual)) =
            (fd.get_checksum_from_data(), fd.get_calculated_checksum())
        {
            if expected != actual {
                return Err(bad());
            }
        }
    }
    if frames == 0 {
        return Err(bad());
    }
    if out.len() > max {
        return Err(too_large(max));
    }
    Ok(out)
}

/// LZ4 frame as Kafka's Java client writes it (independent 64 KiB blocks), for producers and tests.
pub fn lz4_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x04, 0x22, 0x4d, 0x18, 0x60, 0x40];
    out.push(((xxh32(&out[4..6]) >> 8) & 0xff) as u8);
    for chunk in data.chunks(64 << 10) {
        let c = lz4_flex::block::compress(chunk);
        if c.len() < chunk.len() {
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(&c);
        } else {
            out.extend_from_slice(&(chunk.len() as u32 | 0x8000_0000).to_le_bytes());
            out.extend_from_slice(chunk);
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..5000)
            .flat_map(|i| format!("{{\"id\":\"evt_{i}\",\"amount\":{}}}", i * 7).into_bytes())
            .collect()
    }

    #[test]
    fn lz4_round_trip_and_limits() {
        let data = sample();
        let z = lz4_frame(&data);
        assert_eq!(unlz4(&z, 1 << 20).unwrap(), data);
        assert_eq!(unlz4(&z, 1000).unwrap_err().0, TOO_LARGE);
        let mut bad = z.clone();
        bad[6] ^= 1; // header checksum
        assert_eq!(
            unlz4(&bad, 1 << 20).unwrap_err().1,
            "the lz4 data is corrupt"
        );
        assert_eq!(unlz4(&[], 10).unwrap_err().0, CORRUPT);
        let two = [z.clone(), z].concat();
        assert_eq!(unlz4(&two, 1 << 20).unwrap().len(), 2 * data.len());
    }

    #[test]
    fn snappy_raw_and_xerial() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(unsnappy(&raw, 1 << 20).unwrap(), data);
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        for chunk in data.chunks(32 << 10) {
            let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
            framed.extend_from_slice(&(c.len() as i32).to_be_bytes());
            framed.extend_from_slice(&c);
        }
        assert_eq!(unsnappy(&framed, 1 << 20).unwrap(), data);
        assert_eq!(unsnappy(&framed, 100).unwrap_err().0, TOO_LARGE);
        assert_eq!(
            unsnappy(&framed[..framed.len() - 3], 1 << 20)
                .unwrap_err()
                .0,
            CORRUPT
        );
    }

    #[test]
    fn zstd_frames_and_checksum() {
        let data = sample();
        let z = ruzstd::encoding::compress_to_vec(
            &data[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(unzstd(&z, 1 << 20).unwrap(), data);
        assert_eq!(unzstd(&z, 1000).unwrap_err().0, TOO_LARGE);
        assert_eq!(unzstd(&z[..z.len() / 2], 1 << 20).unwrap_err().0, CORRUPT);
    }
}
