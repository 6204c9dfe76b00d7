//! Splits a byte stream into lines with bounded memory. A line longer than the cap is skipped
//! (counted, never buffered whole); a last line without its newline is reported as *pending*,
//! because Codex may still be writing it.

use std::io::{BufRead, BufReader, Read};

/// Lines longer than this are skipped as oversized (a multi-MB base64 image is fine).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

pub enum Line<'a> {
    /// A complete line (without `\n`) starting at `offset`.
    Complete { offset: u64, bytes: &'a [u8] },
    /// A complete line too long to keep (its length).
    Oversized { len: u64 },
}

pub struct LineSplitter<R: Read> {
    reader: BufReader<R>,
    buf: Vec<u8>,
    /// Offset (in the file) of the next byte to read.
    pos: u64,
    /// Set at EOF when the data ended inside a line: (offset of that line, bytes in it).
    pending: Option<(u64, u64)>,
    max_line: usize,
}

impl<R: Read> LineSplitter<R> {
    pub fn new(reader: R, start_offset: u64) -> Self {
        LineSplitter {
            reader: BufReader::with_capacity(256 * 1024, reader),
            buf: Vec::new(),
            pos: start_offset,
            pending: None,
            max_line: MAX_LINE_BYTES,
        }
    }

    #[cfg(test)]
    fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// The next line, or None at the end of the data.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let start = self.pos;
        let mut oversized = false;
        let mut len: u64 = 0;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // The line being read is incomplete: whoever resumes starts at its start.
                    self.pending = Some((start, len));
                    return Err(e);
                }
            };
            if available.is_empty() {
                if len > 0 {
                    self.pending = Some((start, len));
                }
                return Ok(None);
            }
            let (chunk, found) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let chunk_len = chunk.len();
            if !oversized {
                if self.buf.len() + chunk_len > self.max_line {
                    oversized = true;
                    self.buf.clear();
                    self.buf.shrink_to(64 * 1024);
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            len += chunk_len as u64;
            let consumed = chunk_len + usize::from(found);
            self.reader.consume(consumed);
            self.pos += consumed as u64;
            if found {
                return Ok(Some(if oversized {
                    Line::Oversized { len }
                } else {
                    Line::Complete { offset: start, bytes: &self.buf }
                }));
            }
        }
    }

    /// After the last `next_line`: where the torn tail starts and how long it is, if any.
    pub fn pending(&self) -> Option<(u64, u64)> {
        self.pending
    }

    /// The offset just past the last complete line.
    pub fn consumed(&self) -> u64 {
        self.pending.map(|(start, _)| start).unwrap_or(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = (Vec<(u64, String)>, Option<(u64, u64)>, u64);

    fn collect(data: &[u8], max: usize) -> Split {
        let mut s = LineSplitter::new(data, 100).with_max_line(max);
        let mut out = Vec::new();
        while let Some(line) = s.next_line().unwrap() {
            match line {
                Line::Complete { offset, bytes } => out.push((offset, String::from_utf8_lossy(bytes).into_owned())),
                Line::Oversized { len } => out.push((0, format!("<oversized {len}>"))),
            }
        }
        (out, s.pending(), s.consumed())
    }

    #[test]
    fn splits_and_reports_torn_tail() {
        let (lines, pending, consumed) = collect(b"ab\n\ncd\nef", 1000);
        assert_eq!(lines, vec![(100, "ab".into()), (103, "".into()), (104, "cd".into())]);
        assert_eq!(pending, Some((107, 2)));
        assert_eq!(consumed, 107);
    }

    /// Fails after `ok` bytes.
    struct Failing<'a> {
        data: &'a [u8],
        ok: usize,
    }

    impl std::io::Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.ok == 0 {
                return Err(std::io::Error::other("short piece"));
            }
            let n = buf.len().min(self.ok).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_read_error_mid_line_leaves_the_resume_point_at_the_line_start() {
        let mut s = LineSplitter::new(Failing { data: b"one\ntwo-is-cut", ok: 7 }, 50);
        assert!(matches!(s.next_line(), Ok(Some(Line::Complete { offset: 50, .. }))));
        assert!(s.next_line().is_err());
        assert_eq!(s.consumed(), 54, "not mid-line");
    }

    #[test]
    fn oversized_lines_are_skipped_not_buffered() {
        let (lines, pending, consumed) = collect(b"0123456789\nok\n", 5);
        assert_eq!(lines, vec![(0, "<oversized 10>".into()), (111, "ok".into())]);
        assert_eq!(pending, None);
        assert_eq!(consumed, 114);
    }
}
