//! Compressed cores: zstd, xz, lz4 (frame format) and gzip files, recognized by their magic
//! bytes, decompressed once into a sparse temporary file that is then mapped like any core.
//!
//! systemd-coredump stores cores compressed (`/var/lib/systemd/coredump/core.*.zst`, `.xz`,
//! `.lz4` with older settings), and people gzip cores to move them. A core is mostly zeros
//! (untouched heap, stacks, `.bss`), so runs of zero pages become holes in the temporary file:
//! a 30 GB core holding 2 GB of data costs 2 GB of disk, and nothing of it is held in memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{Diagnostic, Error, Progress};

/// A compression format, as its magic bytes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Zstd,
    Xz,
    Lz4,
    Gzip,
}

impl Compression {
    /// The magic bytes at the start of a file of each format: zstd RFC 8878 §3.1.1
    /// (0xFD2FB528, little-endian), the .xz file format 1.1.0 §2.1.1.1, the LZ4 frame format
    /// 1.6.x (0x184D2204, little-endian), and gzip RFC 1952 §2.3.1 (ID1 ID2).
    const MAGICS: [(&'static [u8], Compression); 4] = [
        (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
        (&[0x04, 0x22, 0x4d, 0x18], Compression::Lz4),
        (&[0x1f, 0x8b], Compression::Gzip),
    ];

    /// The format whose magic `head` starts with, if any.
    pub(crate) fn of_magic(head: &[u8]) -> Option<Compression> {
        Self::MAGICS
            .iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map(|&(_, c)| c)
    }

    /// The format of the file `file`, read from its first bytes; the file is left at its
    /// start.
    pub(crate) fn of_file(mut file: &File) -> io::Result<Option<Compression>> {
        let mut head = Vec::with_capacity(6);
        file.take(6).read_to_end(&mut head)?;
        file.rewind()?;
        Ok(Self::of_magic(&head))
    }

    /// The name people know the format by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
        }
    }

    /// A reader of the decompressed bytes. Files holding several streams one after the
    /// other (what `cat a.zst b.zst` or parallel compressors make) are read to their end.
    pub(crate) fn decoder<'a, R: BufRead + 'a>(self, input: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(input)?),
            Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(input)),
            Compression::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(input)),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        })
    }
}

/// The first `n` decompressed bytes of a compressed file (fewer if it holds fewer or its
/// stream is damaged early): enough to tell a compressed core from a compressed profile
/// without decompressing either. Reads from the file's start.
pub(crate) fn head(mut file: &File, compression: Compression, n: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    file.rewind()?;
    let decoder = compression.decoder(BufReader::new(file))?;
    // A damaged stream just gives a shorter head: the caller asks whether it is a core.
    let _ = decoder.take(n).read_to_end(&mut out);
    Ok(out)
}

/// A core decompressed into a temporary file.
pub(crate) struct Decompressed {
    /// The temporary file, already unlinked: it disappears when it is closed and unmapped,
    /// even if heapmortem is killed.
    pub file: File,
    /// What went wrong in the compressed stream, if anything; the bytes before it are in
    /// `file`.
    pub diagnostic: Option<Diagnostic>,
}

/// Decompressed bytes are handled in blocks this large; a block is written page by page,
/// skipping pages of zeros.
const BLOCK: usize = 1 << 20;
/// The unit of holes: a run of zeros this long (at an offset that is a multiple of it) is
/// not written. 4 KiB is the page size of x86_64 and the smallest of aarch64 Linux, and the
/// block size of common file systems (smaller holes would be written as zeros anyway).
const PAGE: usize = 4096;

/// Decompresses `input` (of format `compression`, read from `path`, from its start) into a
/// sparse temporary file in `$TMPDIR`, with a progress bar on a terminal when `progress` is set.
///
/// A stream that ends early (a truncated download, a full disk while compressing) or breaks
/// off in damaged data is not an error: what was decompressed is kept and the diagnostic
/// says where the stream stopped. An error is returned only when the temporary file cannot
/// be written, or when what the file holds is not an ELF file.
pub(crate) fn decompress(
    path: &Path,
    input: &File,
    compression: Compression,
    progress: bool,
) -> Result<Decompressed, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let total = input.metadata().map_err(io)?.len();
    let mut input = input;
    input.rewind().map_err(io)?;
    // Compressed input read a block at a time, not in BufReader's default 8 KiB: fewer
    // system calls for the decoder, the same memory as the output block.
    let mut decoder = compression
        .decoder(BufReader::with_capacity(BLOCK, input))
        .map_err(io)?;
    let tmp_err = |source| Error::TempFile {
        what: "decompress",
        path: path.to_path_buf(),
        source,
    };
    let out = tempfile::tempfile().map_err(tmp_err)?;
    let mut progress = Progress::new("decompressing the core", progress);
    progress.start(total);
    let mut block = vec![0u8; BLOCK];
    let mut len: u64 = 0;
    let failure = loop {
        let (filled, error) = fill(&mut decoder, &mut block);
        if len == 0 && filled > 0 && !block.starts_with(b"\x7fELF") {
            return Err(Error::NotElf(format!(
                "{} is {}-compressed, but what it holds does not start with the ELF magic",
                path.display(),
                compression.name()
            )));
        }
        write_sparse(&out, len, &block[..filled]).map_err(tmp_err)?;
        len += filled as u64;
        // The decoder reads the file through a buffer: its position is how far it got.
        let consumed = input.stream_position().unwrap_or(total);
        progress.set(consumed);
        if error.is_some() || filled < BLOCK {
            break error.map(|e| (e, consumed));
        }
    };
    progress.finish();
    // Trailing zeros were skipped like any others: the length says they are there.
    out.set_len(len).map_err(tmp_err)?;
    let diagnostic =
        failure.map(|(e, consumed)| stream_problem(compression, len, consumed, total, &e));
    Ok(Decompressed {
        file: out,
        diagnostic,
    })
}

/// Reads into `block` until it is full, the stream ends, or it fails.
fn fill(decoder: &mut dyn Read, block: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < block.len() {
        match decoder.read(&mut block[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

/// Writes `bytes` at offset `at` of `out`, except the pages that are all zeros: they are
/// left as holes. `at` is a multiple of [`PAGE`].
pub(crate) fn write_sparse(out: &File, at: u64, bytes: &[u8]) -> io::Result<()> {
    let mut run_start: Option<usize> = None;
    let mut offset = 0;
    for page in bytes.chunks(PAGE) {
        // An or over the page rather than an early-exit search: the compiler vectorizes it,
        // and a page that is not zero usually shows it only somewhere in the middle.
        let zero = page.iter().fold(0u8, |acc, &b| acc | b) == 0;
        match (zero, run_start) {
            (false, None) => run_start = Some(offset),
            (true, Some(start)) => {
                out.write_all_at(&bytes[start..offset], at + start as u64)?;
                run_start = None;
            }
            _ => {}
        }
        offset += page.len();
    }
    if let Some(start) = run_start {
        out.write_all_at(&bytes[start..], at + start as u64)?;
    }
    Ok(())
}

/// The diagnostic for a compressed stream that stopped before its end.
///
/// Decoders report a stream cut short as an error once they have used up their input (zstd
/// "incomplete frame", xz "premature eof", gzip "unexpected end of file"); an error raised
/// before the input was used up is damage inside the stream. An lz4 frame cut exactly
/// between two blocks reads as a complete stream (lz4_flex 0.14 returns end of data there):
/// the core's own headers then say what is missing.
fn stream_problem(
    compression: Compression,
    decompressed: u64,
    consumed: u64,
    total: u64,
    error: &io::Error,
) -> Diagnostic {
    let name = compression.name();
    if consumed >= total || error.kind() == io::ErrorKind::UnexpectedEof {
        Diagnostic::new(
            "truncated_compressed_stream",
            format!(
                "the {name} stream ended early (file truncated?): {decompressed} bytes were \
                 decompressed from its {total} bytes ({error})"
            ),
        )
    } else {
        Diagnostic::new(
            "corrupt_compressed_stream",
            format!(
                "the {name} stream is damaged near compressed byte {consumed} of {total}: \
                 {decompressed} bytes were decompressed before it ({error})"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn magic_names_the_format() {
        assert_eq!(
            Compression::of_magic(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::of_magic(b"\xfd7zXZ\0\0"),
            Some(Compression::Xz)
        );
        assert_eq!(
            Compression::of_magic(&[0x04, 0x22, 0x4d, 0x18]),
            Some(Compression::Lz4)
        );
        assert_eq!(
            Compression::of_magic(&[0x1f, 0x8b, 8]),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::of_magic(b"\x7fELF"), None);
        assert_eq!(Compression::of_magic(&[0x1f]), None);
        assert_eq!(Compression::of_magic(b""), None);
    }

    /// Zero pages become holes, data pages are written, and the length counts trailing
    /// zeros: the file reads back as the bytes given, and occupies less than them.
    #[test]
    fn zero_pages_become_holes() {
        use std::os::unix::fs::MetadataExt;
        let out = tempfile::tempfile().unwrap();
        let mut bytes = vec![0u8; 64 * PAGE];
        bytes[5 * PAGE + 7] = 1;
        bytes[6 * PAGE] = 2;
        bytes[63 * PAGE - 1] = 3;
        write_sparse(&out, 0, &bytes).unwrap();
        write_sparse(&out, bytes.len() as u64, &bytes[..10 * PAGE]).unwrap();
        out.set_len(74 * PAGE as u64).unwrap();
        let mut back = Vec::new();
        (&out).rewind().unwrap();
        (&out).read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 74 * PAGE);
        assert_eq!(&back[..64 * PAGE], &bytes[..]);
        assert_eq!(&back[64 * PAGE..], &bytes[..10 * PAGE]);
        // st_blocks counts 512-byte units actually allocated; file systems without holes
        // (none that $TMPDIR is likely on) would allocate all 74 pages.
        let allocated = out.metadata().unwrap().blocks() * 512;
        assert!(
            allocated < 20 * PAGE as u64,
            "{allocated} bytes allocated for 5 data pages"
        );
    }

    /// Every format decompresses to the bytes compressed, and a stream cut short keeps what
    /// came before the cut and says it ended early.
    #[test]
    fn round_trip_and_truncation() {
        let mut core = b"\x7fELF".to_vec();
        core.resize(3 * BLOCK + 123, 0);
        for (i, b) in core.iter_mut().enumerate().skip(4).step_by(4093) {
            *b = (i % 251) as u8;
        }
        let encoded: Vec<(Compression, Vec<u8>)> = vec![
            (Compression::Zstd, zstd::encode_all(&core[..], 3).unwrap()),
            (Compression::Xz, {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
                e.write_all(&core).unwrap();
                e.finish().unwrap()
            }),
            (Compression::Lz4, {
                // Small blocks, so that a cut keeps some: a block is decoded whole or not at
                // all (the lz4 tool's default block is 4 MiB).
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB);
                let mut e = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
                e.write_all(&core).unwrap();
                e.finish().unwrap()
            }),
            (Compression::Gzip, {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), Default::default());
                e.write_all(&core).unwrap();
                e.finish().unwrap()
            }),
        ];
        for (kind, bytes) in encoded {
            let mut input = tempfile::tempfile().unwrap();
            input.write_all(&bytes).unwrap();
            input.rewind().unwrap();
            assert_eq!(Compression::of_file(&input).unwrap(), Some(kind));
            assert_eq!(head(&input, kind, 4).unwrap(), b"\x7fELF");
            let d = decompress(Path::new("x"), &input, kind, false).unwrap();
            assert!(d.diagnostic.is_none(), "{kind:?}: {:?}", d.diagnostic);
            let mut back = Vec::new();
            (&d.file).read_to_end(&mut back).unwrap();
            assert!(back == core, "{kind:?}: decompressed bytes differ");

            let mut cut = tempfile::tempfile().unwrap();
            cut.write_all(&bytes[..bytes.len() * 2 / 3]).unwrap();
            cut.rewind().unwrap();
            let d = decompress(Path::new("x"), &cut, kind, false).unwrap();
            let diag = d
                .diagnostic
                .unwrap_or_else(|| panic!("{kind:?}: no diagnostic"));
            assert_eq!(diag.kind, "truncated_compressed_stream", "{kind:?}: {diag}");
            let mut back = Vec::new();
            (&d.file).read_to_end(&mut back).unwrap();
            assert!(
                !back.is_empty() && back.len() < core.len(),
                "{kind:?}: {diag}"
            );
            assert!(
                back == core[..back.len()],
                "{kind:?}: the kept bytes differ"
            );
        }
    }

    #[test]
    fn not_elf_inside_is_an_error() {
        let mut input = tempfile::tempfile().unwrap();
        input
            .write_all(&zstd::encode_all(&b"not a core"[..], 3).unwrap())
            .unwrap();
        input.rewind().unwrap();
        let e = decompress(Path::new("p.zst"), &input, Compression::Zstd, false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("zstd-compressed"), "{e}");
    }
}
