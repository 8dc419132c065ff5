//! Reading the text header of a binary format line by line, with line numbers for errors.

use crate::error::ParseError;

/// Headers longer than this are refused: real ones are a few hundred bytes.
pub(crate) const MAX_HEADER_BYTES: usize = 1 << 20;

/// Lines of a header at the start of a file; `offset` is where the next line (or the body) starts.
pub(crate) struct HeaderLines<'a> {
    bytes: &'a [u8],
    pub offset: usize,
    pub line_number: u64,
}

impl<'a> HeaderLines<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line_number: 0,
        }
    }

    /// The next line without its line ending, or `missing` as the error once the file or the size limit
    /// ends first. The last line may end the file without a newline.
    pub fn next_line(&mut self, missing: &str) -> Result<&'a str, ParseError> {
        if self.offset >= self.bytes.len() || self.offset > MAX_HEADER_BYTES {
            return Err(ParseError::line(self.line_number.max(1), missing));
        }
        let end = self.bytes[self.offset..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |p| self.offset + p);
        self.line_number += 1;
        let line = std::str::from_utf8(&self.bytes[self.offset..end])
            .map_err(|_| ParseError::line(self.line_number, "header line is not text"))?
            .trim_end_matches('\r');
        self.offset = (end + 1).min(self.bytes.len());
        Ok(line)
    }
}
