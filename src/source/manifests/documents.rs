//! Splitting a YAML stream into its documents, line by line, so that a stream
//! of any length is read one document at a time.
//!
//! A line that begins with `---` or `...` followed by a space, a tab or the end
//! of the line always marks a document boundary: YAML forbids such a line
//! inside any scalar, so no parsing is needed to find it.

use std::io::{BufRead, Read};

use anyhow::bail;

/// Where a document stands in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 1-based position in the stream; empty documents count too.
    pub number: usize,
    /// The line of the stream that the document's text begins with.
    pub first_line: usize,
    /// The line of the document's first content (its root node).
    pub content_line: usize,
}

/// A YAML stream, read one document at a time: [`Documents::next_document`]
/// finds where the next one begins, and [`Documents::body`] reads it, so that
/// no document is ever held whole. Documents without content are left out but
/// counted.
pub struct Documents<R> {
    reader: R,
    name: String,
    /// The longest line read.
    max_line: usize,
    /// Lines taken from the reader so far.
    line: usize,
    /// Bytes taken from the reader so far.
    offset: u64,
    /// Documents begun so far.
    number: usize,
    /// A line read ahead: the marker that begins the next document.
    pending: Option<String>,
    /// Whether the current document's body may still have lines to read.
    in_body: bool,
    done: bool,
    /// Why the last body read failed, in full; the parser sees only an
    /// I/O error.
    pub failed: Option<anyhow::Error>,
}

impl<R: BufRead> Documents<R> {
    /// `max_line` bounds a single line; the stream itself is unbounded.
    pub fn new(reader: R, name: &str, max_line: usize) -> Self {
        Documents {
            reader,
            name: name.to_string(),
            max_line,
            line: 0,
            offset: 0,
            number: 0,
            pending: None,
            in_body: false,
            done: false,
            failed: None,
        }
    }

    /// The next line, with its line break, or `None` at the end. Invalid UTF-8
    /// fails as soon as it is read, and so does a line longer than
    /// `max_line`, so that neither is buffered whole.
    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        let mut bytes = Vec::new();
        let mut checked = 0;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => bail!("{}: cannot read: {e}", self.name),
            };
            if chunk.is_empty() {
                break;
            }
            let (take, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let control = chunk[..take]
                .iter()
                .position(|&b| forbidden(b))
                .map(|i| (bytes.len() + i, chunk[i]));
            bytes.extend_from_slice(&chunk[..take]);
            self.reader.consume(take);
            // Check what is new, keeping back a character cut in two.
            let invalid = match std::str::from_utf8(&bytes[checked..]) {
                Ok(_) => {
                    checked = bytes.len();
                    None
                }
                Err(e) if e.error_len().is_some() || end => Some(checked + e.valid_up_to()),
                Err(e) => {
                    checked += e.valid_up_to();
                    None
                }
            };
            match (invalid, control) {
                (Some(at), control) if control.is_none_or(|(c, _)| at < c) => bail!(
                    "{}: not a text file (invalid UTF-8 at byte {})",
                    self.name,
                    self.offset + at as u64
                ),
                (_, Some((at, byte))) => bail!(
                    "{}: not a text file (control character 0x{byte:02x} at byte {})",
                    self.name,
                    self.offset + at as u64
                ),
                _ => {}
            }
            if bytes.len() > self.max_line {
                bail!(
                    "{}: line {} is longer than the {} MiB a line may be",
                    self.name,
                    self.line + 1,
                    self.max_line / (1024 * 1024)
                );
            }
            if end {
                break;
            }
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        if checked < bytes.len() {
            bail!(
                "{}: not a text file (invalid UTF-8 at byte {})",
                self.name,
                self.offset + checked as u64
            );
        }
        self.offset += bytes.len() as u64;
        self.line += 1;
        let mut text = String::from_utf8(bytes).expect("checked above");
        if self.line == 1 && text.starts_with('\u{feff}') {
            text.remove(0);
        }
        Ok(Some(text))
    }

    /// Finds the next document with content: its header, and its text up to
    /// and including its first content line (directives, markers and comments
    /// before it). `None` at the end of the stream.
    pub fn next_document(&mut self) -> anyhow::Result<Option<(Header, String)>> {
        // What a body left unread belongs to the document it was in.
        while self.in_body {
            if self.body_line()?.is_none() {
                break;
            }
        }
        while !self.done || self.pending.is_some() {
            if let Some(found) = self.document_start()? {
                self.in_body = true;
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Reads to the next document's first content line; `None` for a document
    /// without content (its marker, comments and blanks read).
    fn document_start(&mut self) -> anyhow::Result<Option<(Header, String)>> {
        let mut text = String::new();
        let mut first_line = self.line + 1;
        let mut marker = false;
        loop {
            let line = match self.pending.take() {
                Some(line) => {
                    first_line = self.line;
                    line
                }
                None => match self.next_line()? {
                    Some(line) => line,
                    None => {
                        self.done = true;
                        return Ok(None);
                    }
                },
            };
            let bare = line.trim_end_matches(['\n', '\r']);
            let content = if is_marker(bare, "---") {
                if marker {
                    self.pending = Some(line);
                    return Ok(None);
                }
                marker = true;
                self.number += 1;
                has_content(&bare[3..])
            } else if is_marker(bare, "...") {
                return Ok(None);
            } else {
                // A directive before the marker is not content.
                has_content(bare) && (marker || !bare.starts_with('%'))
            };
            text.push_str(&line);
            if text.len() > self.max_line {
                bail!(
                    "{}: the comments before document {} are longer than {} MiB",
                    self.name,
                    self.number + 1,
                    self.max_line / (1024 * 1024)
                );
            }
            if content {
                if !marker {
                    self.number += 1;
                }
                let header = Header {
                    number: self.number,
                    first_line,
                    content_line: self.line,
                };
                return Ok(Some((header, text)));
            }
        }
    }

    /// The current document's next line, or `None` where it ends: before the
    /// next `---`, after a `...`, or at the end of the stream.
    fn body_line(&mut self) -> anyhow::Result<Option<String>> {
        if !self.in_body {
            return Ok(None);
        }
        let Some(line) = self.next_line()? else {
            self.in_body = false;
            self.done = true;
            return Ok(None);
        };
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") {
            self.in_body = false;
            self.pending = Some(line);
            return Ok(None);
        }
        if is_marker(bare, "...") {
            self.in_body = false;
        }
        Ok(Some(line))
    }

    /// A reader of the current document: `start` (what
    /// [`Documents::next_document`] gave), then the rest of its lines.
    pub fn body(&mut self, start: String) -> Body<'_, R> {
        Body {
            documents: self,
            line: start.into_bytes(),
            at: 0,
        }
    }
}

/// The text of one document, line by line, as a reader.
pub struct Body<'d, R> {
    documents: &'d mut Documents<R>,
    line: Vec<u8>,
    at: usize,
}

impl<R: BufRead> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.line.len() {
            match self.documents.body_line() {
                Ok(Some(line)) => {
                    self.line = line.into_bytes();
                    self.at = 0;
                }
                Ok(None) => return Ok(0),
                Err(e) => {
                    let message = e.to_string();
                    self.documents.failed = Some(e);
                    return Err(std::io::Error::other(message));
                }
            }
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A byte YAML allows in no stream: a control character other than tab and
/// line breaks. Binary input is refused at its first such byte.
fn forbidden(byte: u8) -> bool {
    (byte < 0x20 && !matches!(byte, b'\t' | b'\n' | b'\r')) || byte == 0x7f
}

/// Whether a line is the marker `marker`, alone or followed by blanks, content
/// or a comment.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether text holds more than blanks and a comment.
fn has_content(text: &str) -> bool {
    let text = text.trim_start_matches([' ', '\t']);
    !(text.is_empty() || text.starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Split = Vec<(usize, usize, usize, String)>;

    /// Each document's header and whole text.
    fn split_from(reader: impl BufRead, max_line: usize) -> anyhow::Result<Split> {
        let mut documents = Documents::new(reader, "t.yaml", max_line);
        let mut out = Vec::new();
        while let Some((header, start)) = documents.next_document()? {
            let mut text = String::new();
            let read = documents.body(start).read_to_string(&mut text);
            if let Some(e) = documents.failed.take() {
                return Err(e);
            }
            read?;
            out.push((header.number, header.first_line, header.content_line, text));
        }
        Ok(out)
    }

    fn split(text: &str) -> Split {
        split_from(text.as_bytes(), 1 << 20).expect("splits")
    }

    fn failure(bytes: &[u8]) -> String {
        split_from(bytes, 1 << 20).expect_err("fails").to_string()
    }

    #[test]
    fn documents_are_numbered_in_stream_order_with_their_lines() {
        let docs = split("# head\na: 1\n---\n\n---\n# c\nb: 2\n--- {c: 3}\n...\n# tail\n");
        assert_eq!(
            docs,
            [
                (1, 1, 2, "# head\na: 1\n".to_string()),
                (3, 5, 7, "---\n# c\nb: 2\n".to_string()),
                (4, 8, 8, "--- {c: 3}\n...\n".to_string()),
            ]
        );
    }

    #[test]
    fn markers_need_a_blank_after_them_and_directives_belong_to_the_next_document() {
        let docs = split("%YAML 1.2\n---\nkey: |\n  ---not a marker\n----\n");
        assert_eq!(docs.len(), 1, "{docs:?}");
        assert_eq!(docs[0].0, 1);
        assert_eq!(docs[0].2, 3);
        let docs = split("a: 1\n---\t# two\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[1].0, docs[1].1, docs[1].2), (2, 2, 3));
    }

    #[test]
    fn a_body_left_unread_is_skipped() {
        let mut documents = Documents::new(&b"a: 1\nb: 2\n---\nc: 3\n"[..], "t.yaml", 1 << 20);
        let (first, _) = documents
            .next_document()
            .expect("reads")
            .expect("a document");
        let (second, start) = documents
            .next_document()
            .expect("reads")
            .expect("a document");
        assert_eq!(
            (first.number, second.number, second.content_line),
            (1, 2, 4)
        );
        assert_eq!(start, "---\nc: 3\n");
    }

    #[test]
    fn invalid_utf8_and_overlong_lines_fail_at_once() {
        assert_eq!(
            failure(b"a: 1\nb: \xff\xfe\n"),
            "t.yaml: not a text file (invalid UTF-8 at byte 8)"
        );
        assert_eq!(
            failure(b"a: 1\nb: \x00\x01"),
            "t.yaml: not a text file (control character 0x00 at byte 8)"
        );
        // A character cut at the end of the input.
        assert_eq!(
            failure(b"a: \xc3"),
            "t.yaml: not a text file (invalid UTF-8 at byte 3)"
        );
        // One line with no end: it fails before it is read whole.
        let endless = std::io::BufReader::new(std::io::repeat(b'a'));
        assert_eq!(
            split_from(endless, 1 << 20).expect_err("fails").to_string(),
            "t.yaml: line 1 is longer than the 1 MiB a line may be"
        );
        let endless = std::io::BufReader::new(b"a: 1\n".chain(std::io::repeat(b'a')));
        assert_eq!(
            split_from(endless, 1 << 20).expect_err("fails").to_string(),
            "t.yaml: line 2 is longer than the 1 MiB a line may be"
        );
    }

    #[test]
    fn a_character_cut_by_the_read_buffer_is_kept_whole() {
        let text = "name: é\n".repeat(5000);
        let reader = std::io::BufReader::with_capacity(7, text.as_bytes());
        let docs = split_from(reader, 1 << 20).expect("splits");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].3, text);
    }

    proptest::proptest! {
        /// How the reader buffers the input never changes the documents, their
        /// numbers or their lines, nor whether the input is refused.
        #[test]
        fn splitting_does_not_depend_on_the_read_buffer(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("---".to_string()),
                    proptest::strategy::Just("--- {a: 1}".to_string()),
                    proptest::strategy::Just("...".to_string()),
                    proptest::strategy::Just("# comment".to_string()),
                    proptest::strategy::Just("%YAML 1.2".to_string()),
                    proptest::strategy::Just(String::new()),
                    "[a-zé: \\-]{0,12}",
                    "[\\x00-\\x7f]{0,4}",
                ],
                0..24,
            ),
            capacity in 1usize..16,
        ) {
            let text = lines.join("\n");
            let whole = split_from(text.as_bytes(), 1 << 20).map_err(|e| e.to_string());
            let small = split_from(std::io::BufReader::with_capacity(capacity, text.as_bytes()), 1 << 20)
                .map_err(|e| e.to_string());
            proptest::prop_assert_eq!(whole, small);
        }
    }
}
