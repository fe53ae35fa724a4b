//! Splitting a YAML stream into its documents, line by line, so that a stream
//! of any length is read one document at a time.
//!
//! A line that begins with `---` or `...` followed by a space, a tab or the end
//! of the line always marks a document boundary: YAML forbids such a line
//! inside any scalar, so no parsing is needed to find it.

use std::io::BufRead;

use anyhow::bail;

/// One document's text and where it stands in its stream.
#[derive(Debug)]
pub struct RawDocument {
    /// 1-based position in the stream; empty documents count too.
    pub number: usize,
    /// The line of the stream that the text begins with.
    pub first_line: usize,
    /// The line of the document's first content (its root node).
    pub content_line: usize,
    pub text: String,
}

/// The documents of a stream, in order; documents without content are left out
/// but counted.
pub struct Documents<R> {
    reader: R,
    name: String,
    max_bytes: usize,
    /// Lines taken from the reader so far.
    line: usize,
    /// Bytes taken from the reader so far.
    offset: u64,
    /// Documents begun so far.
    number: usize,
    /// A line read ahead: the marker that begins the next document.
    pending: Option<String>,
    done: bool,
}

impl<R: BufRead> Documents<R> {
    /// `max_bytes` bounds a single document; the stream itself is unbounded.
    pub fn new(reader: R, name: &str, max_bytes: usize) -> Self {
        Documents {
            reader,
            name: name.to_string(),
            max_bytes,
            line: 0,
            offset: 0,
            number: 0,
            pending: None,
            done: false,
        }
    }

    /// The next line, with its line break, or `None` at the end. Invalid UTF-8
    /// fails as soon as it is read, and so does a line longer than a document
    /// may be, so that neither is buffered whole.
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
            if bytes.len() > self.max_bytes {
                self.too_large()?;
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

    fn too_large(&self) -> anyhow::Result<()> {
        bail!(
            "{}: document {} is larger than the {} MiB a document may be",
            self.name,
            self.number.max(1),
            self.max_bytes / (1024 * 1024)
        )
    }

    fn read_document(&mut self) -> anyhow::Result<Option<RawDocument>> {
        let mut text = String::new();
        let mut first_line = self.line + 1;
        let mut content_line = None;
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
                        break;
                    }
                },
            };
            let bare = line.trim_end_matches(['\n', '\r']);
            if is_marker(bare, "---") {
                if marker || content_line.is_some() {
                    self.pending = Some(line);
                    break;
                }
                marker = true;
                self.number += 1;
                if has_content(&bare[3..]) {
                    content_line = Some(self.line);
                }
            } else if is_marker(bare, "...") {
                text.push_str(&line);
                break;
            } else if content_line.is_none()
                && has_content(bare)
                // A directive before the marker is not content.
                && (marker || !bare.starts_with('%'))
            {
                if !marker {
                    self.number += 1;
                    marker = true;
                }
                content_line = Some(self.line);
            }
            text.push_str(&line);
            if text.len() > self.max_bytes {
                self.too_large()?;
            }
        }
        Ok(content_line.map(|content_line| RawDocument {
            number: self.number,
            first_line,
            content_line,
            text,
        }))
    }
}

impl<R: BufRead> Iterator for Documents<R> {
    type Item = anyhow::Result<RawDocument>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done || self.pending.is_some() {
            match self.read_document() {
                Ok(Some(document)) => return Some(Ok(document)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    self.pending = None;
                    return Some(Err(e));
                }
            }
        }
        None
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

    fn split(text: &str) -> Vec<(usize, usize, usize, String)> {
        Documents::new(text.as_bytes(), "t.yaml", 1 << 20)
            .map(|d| {
                let d = d.expect("splits");
                (d.number, d.first_line, d.content_line, d.text)
            })
            .collect()
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
    fn invalid_utf8_and_oversized_documents_fail_at_once() {
        let mut bytes = b"a: 1\nb: \xff\xfe\n".to_vec();
        let err = Documents::new(&bytes[..], "t.yaml", 1 << 20)
            .find_map(Result::err)
            .expect("fails");
        assert_eq!(
            err.to_string(),
            "t.yaml: not a text file (invalid UTF-8 at byte 8)"
        );
        let err = Documents::new(&b"a: 1\nb: \x00\x01"[..], "t.yaml", 1 << 20)
            .find_map(Result::err)
            .expect("fails");
        assert_eq!(
            err.to_string(),
            "t.yaml: not a text file (control character 0x00 at byte 8)"
        );
        // A character cut at the end of the input.
        bytes = b"a: \xc3".to_vec();
        let err = Documents::new(&bytes[..], "t.yaml", 1 << 20)
            .find_map(Result::err)
            .expect("fails");
        assert_eq!(
            err.to_string(),
            "t.yaml: not a text file (invalid UTF-8 at byte 3)"
        );
        // One line with no end: it fails before it is read whole.
        let endless = std::io::repeat(b'a');
        let reader = std::io::BufReader::new(endless);
        let err = Documents::new(reader, "<stdin>", 1 << 20)
            .find_map(Result::err)
            .expect("fails");
        assert_eq!(
            err.to_string(),
            "<stdin>: document 1 is larger than the 1 MiB a document may be"
        );
    }

    #[test]
    fn a_character_cut_by_the_read_buffer_is_kept_whole() {
        let text = "name: é\n".repeat(5000);
        let reader = std::io::BufReader::with_capacity(7, text.as_bytes());
        let docs: Vec<_> = Documents::new(reader, "t.yaml", 1 << 20)
            .collect::<anyhow::Result<_>>()
            .expect("splits");
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].text, text);
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
            let split = |reader: Box<dyn BufRead + '_>| -> Result<Vec<(usize, usize, usize, String)>, String> {
                Documents::new(reader, "t.yaml", 1 << 20)
                    .map(|d| d.map(|d| (d.number, d.first_line, d.content_line, d.text)))
                    .collect::<anyhow::Result<_>>()
                    .map_err(|e| e.to_string())
            };
            let whole = split(Box::new(text.as_bytes()));
            let small = split(Box::new(std::io::BufReader::with_capacity(capacity, text.as_bytes())));
            proptest::prop_assert_eq!(whole, small);
        }
    }
}
