//! Splits a chunked body into lines, for NDJSON and plain-text bodies.
//!
//! Only the current incomplete line is buffered. Lines wholly inside a chunk are
//! handed out as slices of the chunk, without copying. Every line carries its
//! byte offset and 1-based number in the whole body, so what a consumer reports
//! does not depend on where the chunks were cut.

use super::ParseError;

/// What the splitter hands its consumer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LineEvent<'a> {
    /// A complete line, without its `\n` and without a `\r` right before it.
    Line {
        bytes: &'a [u8],
        offset: u64,
        number: u64,
    },
    /// A line longer than the limit; its bytes are dropped, not buffered.
    Oversized { offset: u64, number: u64 },
}

#[derive(Debug)]
pub(crate) struct LineSplitter {
    /// Bytes of the current line seen so far (never the `\n`).
    buf: Vec<u8>,
    /// Body offset of the first byte of the current line.
    line_offset: u64,
    /// 1-based number of the current line.
    line_number: u64,
    /// Body offset of the next byte to be pushed.
    next_offset: u64,
    /// The current line was reported oversized: drop bytes until its `\n`.
    discarding: bool,
    max_line_bytes: usize,
}

impl LineSplitter {
    pub(crate) fn new(max_line_bytes: usize) -> Self {
        LineSplitter {
            buf: Vec::new(),
            line_offset: 0,
            line_number: 1,
            next_offset: 0,
            discarding: false,
            max_line_bytes,
        }
    }

    /// Hands `on_line` every line that `chunk` completes, in order; keeps the rest.
    pub(crate) fn push<F>(&mut self, chunk: &[u8], mut on_line: F) -> Result<(), ParseError>
    where
        F: FnMut(LineEvent<'_>) -> Result<(), ParseError>,
    {
        let chunk_offset = self.next_offset;
        self.next_offset += chunk.len() as u64;
        let mut start = 0;
        while let Some(i) = memchr::memchr(b'\n', &chunk[start..]) {
            let end = start + i;
            if self.discarding {
                self.discarding = false;
            } else if self.buf.is_empty() {
                self.complete(&chunk[start..end], &mut on_line)?;
            } else if self.too_long(self.joined_len(&chunk[start..end])) {
                // Checked before copying, so a huge line is never buffered.
                self.buf.clear();
                on_line(self.oversized())?;
            } else {
                let mut line = std::mem::take(&mut self.buf);
                line.extend_from_slice(&chunk[start..end]);
                let result = self.complete(&line, &mut on_line);
                line.clear();
                self.buf = line; // keep the allocation
                result?;
            }
            start = end + 1;
            self.line_offset = chunk_offset + start as u64;
            self.line_number += 1;
        }
        let tail = &chunk[start..];
        if self.discarding || tail.is_empty() {
            return Ok(());
        }
        // A trailing `\r` may be half of a `\r\n`; it does not count towards the limit.
        if self.too_long(self.joined_len(tail)) {
            self.buf.clear();
            self.discarding = true;
            return on_line(self.oversized());
        }
        self.buf.extend_from_slice(tail);
        Ok(())
    }

    /// End of body: hands out a last line that has no `\n`.
    pub(crate) fn finish<F>(&mut self, mut on_line: F) -> Result<(), ParseError>
    where
        F: FnMut(LineEvent<'_>) -> Result<(), ParseError>,
    {
        let line = std::mem::take(&mut self.buf);
        if self.discarding || line.is_empty() {
            return Ok(());
        }
        self.complete(&line, &mut on_line)
    }

    fn complete<F>(&self, line: &[u8], on_line: &mut F) -> Result<(), ParseError>
    where
        F: FnMut(LineEvent<'_>) -> Result<(), ParseError>,
    {
        let bytes = line.strip_suffix(b"\r").unwrap_or(line);
        if self.too_long(bytes.len()) {
            return on_line(self.oversized());
        }
        on_line(LineEvent::Line {
            bytes,
            offset: self.line_offset,
            number: self.line_number,
        })
    }

    /// Length of the buffered part plus `rest`, without a final `\r`.
    fn joined_len(&self, rest: &[u8]) -> usize {
        let last = rest.last().or(self.buf.last());
        self.buf.len() + rest.len() - usize::from(last == Some(&b'\r'))
    }

    fn too_long(&self, len: usize) -> bool {
        len > self.max_line_bytes
    }

    fn oversized(&self) -> LineEvent<'static> {
        LineEvent::Oversized {
            offset: self.line_offset,
            number: self.line_number,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (bytes, offset, number) of every event, `None` bytes for oversized lines.
    type Seen = Vec<(Option<Vec<u8>>, u64, u64)>;

    fn split(chunks: &[&[u8]], max: usize) -> Seen {
        let mut seen = Vec::new();
        let mut record = |ev: LineEvent<'_>| {
            seen.push(match ev {
                LineEvent::Line {
                    bytes,
                    offset,
                    number,
                } => (Some(bytes.to_vec()), offset, number),
                LineEvent::Oversized { offset, number } => (None, offset, number),
            });
            Ok(())
        };
        let mut s = LineSplitter::new(max);
        for chunk in chunks {
            s.push(chunk, &mut record).unwrap();
        }
        s.finish(&mut record).unwrap();
        seen
    }

    fn line(bytes: &[u8], offset: u64, number: u64) -> (Option<Vec<u8>>, u64, u64) {
        (Some(bytes.to_vec()), offset, number)
    }

    #[test]
    fn offsets_and_numbers_across_chunks() {
        let want = vec![
            line(b"ab", 0, 1),
            line(b"", 4, 2),
            line(b"cd", 5, 3),
            line(b"e", 8, 4),
        ];
        assert_eq!(split(&[b"ab\r\n\ncd\ne"], 100), want);
        assert_eq!(split(&[b"ab\r", b"\n\nc", b"d\ne"], 100), want);
        let bytes: Vec<&[u8]> = b"ab\r\n\ncd\ne".chunks(1).collect();
        assert_eq!(split(&bytes, 100), want);
    }

    #[test]
    fn lone_cr_stays_inside_a_line() {
        assert_eq!(split(&[b"a\rb\n"], 100), vec![line(b"a\rb", 0, 1)]);
        assert_eq!(split(&[b"a\r", b"b\n"], 100), vec![line(b"a\rb", 0, 1)]);
        // A final `\r` without `\n` is a line end all the same.
        assert_eq!(split(&[b"a\r"], 100), vec![line(b"a", 0, 1)]);
    }

    #[test]
    fn oversized_lines_are_reported_once_and_dropped() {
        let want = vec![(None, 0, 1), line(b"ok", 7, 2)];
        assert_eq!(split(&[b"123456\nok"], 5), want);
        assert_eq!(split(&[b"123", b"456\nok"], 5), want);
        assert_eq!(split(&[b"123", b"4", b"5", b"6", b"\nok"], 5), want);
        // Exactly at the limit is fine, even with the `\r` of a split `\r\n`.
        let at_limit = vec![line(b"12345", 0, 1), line(b"x", 7, 2)];
        assert_eq!(split(&[b"12345\r", b"\nx"], 5), at_limit);
        assert_eq!(split(&[b"12345\r\nx"], 5), at_limit);
        assert_eq!(split(&[b"123", b"45\r\nx"], 5), at_limit);
        assert_eq!(split(&[b"123", b"45\r", b"\nx"], 5), at_limit);
        // An unterminated oversized last line.
        assert_eq!(
            split(&[b"ok\n1234", b"56"], 5),
            vec![line(b"ok", 0, 1), (None, 3, 2)]
        );
    }
}
