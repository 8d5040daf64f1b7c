//! The IDX format of MNIST (and Fashion-MNIST), gzipped or raw.
//!
//! A file is a 4-byte magic (`0 0 type rank`), `rank` big-endian `u32` dimensions, then the
//! values. Only unsigned bytes (type `0x08`) are accepted, which is what every MNIST-style
//! set uses. Nothing is trusted: the magic, the rank and every dimension are checked, the
//! payload must be exactly as long as the dimensions say, and no buffer grows beyond what
//! the header justifies and the file actually holds, so a truncated file, trailing bytes or a
//! gzip bomb are errors rather than panics or runaway allocations.

use super::DataError;
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// The largest payload accepted (1 GiB): far more than any IDX image set needs.
pub const MAX_PAYLOAD: u64 = 1 << 30;

/// The element type code of unsigned bytes.
const UNSIGNED_BYTE: u8 = 0x08;

/// An IDX array of bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file; a name ending in `.gz` (or data starting with gzip's magic) is
/// decompressed on the way.
pub fn read_idx(path: &Path) -> Result<IdxArray, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let peeked = read_full(&mut reader, &mut magic).map_err(io)?;
    let head = std::io::Cursor::new(magic[..peeked].to_vec()).chain(reader);
    if peeked == 2 && magic == [0x1f, 0x8b] {
        parse(GzDecoder::new(head), None, path)
    } else {
        parse(head, Some(file_len), path)
    }
}

/// Parses IDX bytes from `reader`; `raw_len` is the file's size when it is not compressed.
pub fn parse(
    mut reader: impl Read,
    raw_len: Option<u64>,
    path: &Path,
) -> Result<IdxArray, DataError> {
    let bad = |message: String| DataError::Format {
        path: path.to_path_buf(),
        message,
    };
    let read_err = |e: std::io::Error| bad(format!("cannot read: {e}"));
    let mut magic = [0u8; 4];
    if read_full(&mut reader, &mut magic).map_err(read_err)? < 4 {
        return Err(bad(
            "the file is shorter than an IDX header (4 bytes)".into()
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: it starts with {:02x} {:02x}, not 00 00",
            magic[0], magic[1]
        )));
    }
    if magic[2] != UNSIGNED_BYTE {
        return Err(bad(format!(
            "IDX element type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
            magic[2]
        )));
    }
    let rank = magic[3] as usize;
    if !(1..=4).contains(&rank) {
        return Err(bad(format!("IDX rank {rank} is not between 1 and 4")));
    }
    let mut dims_bytes = vec![0u8; 4 * rank];
    if read_full(&mut reader, &mut dims_bytes).map_err(read_err)? < dims_bytes.len() {
        return Err(bad(format!(
            "the header is cut short: {rank} dimensions need {} bytes",
            4 * rank
        )));
    }
    let dims: Vec<usize> = dims_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let payload = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&p| p <= MAX_PAYLOAD)
        .ok_or_else(|| {
            bad(format!(
                "dimensions {dims:?} describe more than 1 GiB of data"
            ))
        })?;
    let header = 4 + 4 * rank as u64;
    if let Some(len) = raw_len {
        if len != header + payload {
            return Err(bad(format!(
                "dimensions {dims:?} need {} bytes, but the file has {len}{}",
                header + payload,
                if len < header + payload {
                    " (truncated?)"
                } else {
                    ""
                }
            )));
        }
    }
    // `take` bounds what a lying gzip stream can make us hold; the buffer grows only as
    // data arrives.
    let mut data = Vec::new();
    (&mut reader)
        .take(payload)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if (data.len() as u64) < payload {
        return Err(bad(format!(
            "truncated: dimensions {dims:?} need {payload} bytes of data, the file has {}",
            data.len()
        )));
    }
    let mut extra = [0u8; 1];
    if read_full(&mut reader, &mut extra).map_err(read_err)? > 0 {
        return Err(bad(format!(
            "the file has data after the {payload} bytes its dimensions {dims:?} describe"
        )));
    }
    Ok(IdxArray { dims, data })
}

/// Reads until `buf` is full or the stream ends; returns how many bytes were read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0, 0, 8, rank];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    fn parse_bytes(bytes: &[u8]) -> Result<IdxArray, DataError> {
        parse(bytes, Some(bytes.len() as u64), Path::new("x.idx"))
    }

    #[test]
    fn reads_a_small_array() {
        let a = parse_bytes(&idx(2, &[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_bad_headers_and_lengths() {
        let cases: &[(&[u8], &str)] = &[
            (&[0, 0], "shorter than an IDX header"),
            (&[1, 2, 8, 1, 0, 0, 0, 0], "not an IDX file"),
            (&[0, 0, 0x0d, 1, 0, 0, 0, 0], "element type 0x0d"),
            (&[0, 0, 8, 9], "rank 9"),
            (&[0, 0, 8, 3, 0, 0], "header is cut short"),
        ];
        for (bytes, expected) in cases {
            let e = parse_bytes(bytes).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
        }
        let truncated = idx(1, &[5], &[1, 2]);
        assert!(parse_bytes(&truncated)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        let long = idx(1, &[1], &[1, 2]);
        assert!(parse_bytes(&long)
            .unwrap_err()
            .to_string()
            .contains("need 9 bytes"));
        let huge = idx(3, &[60_000, 60_000, 60_000], &[]);
        assert!(parse_bytes(&huge)
            .unwrap_err()
            .to_string()
            .contains("1 GiB"));
    }

    #[test]
    fn streams_are_checked_without_a_known_length() {
        let truncated = idx(1, &[5], &[1, 2]);
        let e = parse(&truncated[..], None, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let long = idx(1, &[1], &[1, 2]);
        let e = parse(&long[..], None, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("data after"), "{e}");
    }
}
