//! Splits a byte stream into lines with bounded memory. A JSON string longer than
//! [`MAX_STRING_BYTES`] is shortened as it streams in (its first bytes kept, then a marker
//! saying how much was left out), so a 50 MB line of one huge tool output or image costs about
//! one megabyte, not fifty (issue 12, SPEC §10/§11). A line still longer than the cap after
//! that is skipped (counted, never buffered whole); a last line without its newline is
//! reported as *pending*, because Codex may still be writing it.

use std::io::{BufRead, BufReader, Read};

/// Lines longer than this once their long strings are shortened are skipped as oversized.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A JSON string value is kept up to this many bytes; the rest is left out, and the kept text
/// ends with `…[N bytes left out by nexus]`. Tool outputs keep 2,000 bytes anyway; a message or
/// an image this long is not read by anyone in a terminal.
pub const MAX_STRING_BYTES: usize = 1024 * 1024;

/// The streaming shortener of long JSON strings: where the line's bytes are in the JSON
/// grammar, as far as strings go (carried across reads).
#[derive(Default)]
struct Strings {
    in_string: bool,
    /// The previous byte was the backslash of an escape.
    escape: bool,
    /// Hex digits of a `\uXXXX` escape still to come (never cut through).
    hex_left: u8,
    kept: usize,
    dropped: u64,
}

impl Strings {
    /// Appends `chunk` to `buf`, shortening long strings.
    fn feed(&mut self, chunk: &[u8], buf: &mut Vec<u8>, cap: usize) {
        let mut i = 0;
        while i < chunk.len() {
            if !self.in_string {
                match memchr::memchr(b'"', &chunk[i..]) {
                    Some(j) => {
                        buf.extend_from_slice(&chunk[i..=i + j]);
                        *self = Strings { in_string: true, ..Default::default() };
                        i += j + 1;
                    }
                    None => {
                        buf.extend_from_slice(&chunk[i..]);
                        i = chunk.len();
                    }
                }
                continue;
            }
            if self.escape || self.hex_left > 0 {
                // Escapes are kept whole or dropped whole.
                let b = chunk[i];
                if self.escape {
                    self.escape = false;
                    self.hex_left = if b == b'u' { 4 } else { 0 };
                } else {
                    self.hex_left -= 1;
                }
                self.keep_or_drop(&chunk[i..=i], buf, cap, true);
                i += 1;
                continue;
            }
            match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                Some(j) => {
                    self.keep_or_drop(&chunk[i..i + j], buf, cap, false);
                    if chunk[i + j] == b'"' {
                        if self.dropped > 0 {
                            buf.extend_from_slice(format!("…[{} bytes left out by nexus]", self.dropped).as_bytes());
                        }
                        buf.push(b'"');
                        self.in_string = false;
                    } else {
                        self.escape = true;
                        self.keep_or_drop(b"\\", buf, cap, false);
                    }
                    i += j + 1;
                }
                None => {
                    self.keep_or_drop(&chunk[i..], buf, cap, false);
                    i = chunk.len();
                }
            }
        }
    }

    /// Keeps what fits under the cap (at a character boundary), counts the rest as dropped.
    /// `inside_escape`: the bytes continue an escape whose start was kept, so they are kept too.
    fn keep_or_drop(&mut self, bytes: &[u8], buf: &mut Vec<u8>, cap: usize, inside_escape: bool) {
        if self.dropped > 0 && !inside_escape {
            self.dropped += bytes.len() as u64;
            return;
        }
        if inside_escape && self.dropped > 0 && self.kept >= cap {
            // The escape's start was dropped (the cut came before it).
            self.dropped += bytes.len() as u64;
            return;
        }
        let room = cap.saturating_sub(self.kept);
        if bytes.len() <= room || inside_escape {
            buf.extend_from_slice(bytes);
            self.kept += bytes.len();
            return;
        }
        // Cut at a character boundary (a UTF-8 continuation byte never starts the cut).
        let mut cut = room;
        while cut > 0 && bytes[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        buf.extend_from_slice(&bytes[..cut]);
        self.kept = cap;
        self.dropped += (bytes.len() - cut) as u64;
    }
}

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
    max_string: usize,
    strings: Strings,
}

impl<R: Read> LineSplitter<R> {
    pub fn new(reader: R, start_offset: u64) -> Self {
        LineSplitter {
            reader: BufReader::with_capacity(256 * 1024, reader),
            buf: Vec::new(),
            pos: start_offset,
            pending: None,
            max_line: MAX_LINE_BYTES,
            max_string: MAX_STRING_BYTES,
            strings: Strings::default(),
        }
    }

    #[cfg(test)]
    fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    #[cfg(test)]
    fn with_max_string(mut self, max: usize) -> Self {
        self.max_string = max;
        self
    }

    /// The next line, or None at the end of the data.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.buf.clear();
        self.strings = Strings::default();
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
                self.strings.feed(chunk, &mut self.buf, self.max_string);
                if self.buf.len() > self.max_line {
                    oversized = true;
                    self.buf.clear();
                    self.buf.shrink_to(64 * 1024);
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
    fn long_strings_are_shortened_as_they_stream_in_and_the_json_stays_valid() {
        let long = format!("{}é\\n\\u00e9\\\"{}", "a".repeat(95), "b".repeat(5000));
        let line = format!("{{\"short\":\"kept \\\"quoted\\\"\",\"long\":\"{long}\",\"n\":1}}\nnext\n");
        // Read a few bytes at a time: every state carries across reads.
        let reader = std::io::BufReader::with_capacity(7, line.as_bytes());
        let mut s = LineSplitter::new(reader, 0).with_max_string(100);
        let bytes = match s.next_line().unwrap() {
            Some(Line::Complete { bytes, .. }) => bytes.to_vec(),
            _ => panic!("a complete line"),
        };
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("still JSON");
        assert_eq!(v["short"], "kept \"quoted\"", "a short string is untouched");
        assert_eq!(v["n"], 1);
        let kept = v["long"].as_str().unwrap();
        assert!(kept.starts_with(&"a".repeat(95)), "{kept}");
        assert!(kept.contains("bytes left out by nexus]"), "{kept}");
        assert!(bytes.len() < 300, "the line is about the cap, not 5,000 bytes: {}", bytes.len());
        assert!(matches!(s.next_line().unwrap(), Some(Line::Complete { bytes: b"next", .. })));
        // Every cut point: the result always parses.
        for cap in 90..120 {
            let mut s = LineSplitter::new(line.as_bytes(), 0).with_max_string(cap);
            let Some(Line::Complete { bytes, .. }) = s.next_line().unwrap() else { panic!("line") };
            assert!(
                serde_json::from_slice::<serde_json::Value>(bytes).is_ok(),
                "cap {cap}: {}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn oversized_lines_are_skipped_not_buffered() {
        let (lines, pending, consumed) = collect(b"0123456789\nok\n", 5);
        assert_eq!(lines, vec![(0, "<oversized 10>".into()), (111, "ok".into())]);
        assert_eq!(pending, None);
        assert_eq!(consumed, 114);
    }
}
