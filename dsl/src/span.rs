//! Byte ranges into a model's source text.
//!
//! Every AST node and every diagnostic label carries a [`Span`]. It is a small `Copy` pair of
//! `u32` offsets so that nodes stay cheap to clone; sources larger than 4 GiB are rejected
//! before parsing.

use serde::Serialize;
use std::ops::Range;

/// A half-open byte range `start..end` into one source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span {
            start: start as u32,
            end: end.max(start) as u32,
        }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn until(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn to_range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The 1-based line and column (in characters) where the span starts.
    pub fn location(self, source: &str) -> Location {
        let start = (self.start as usize).min(source.len());
        let before = &source[..floor_char_boundary(source, start)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let source = "model A {\n  ↯x\n}";
        let x = source.find('x').unwrap();
        assert_eq!(
            Span::new(x, x + 1).location(source),
            Location { line: 2, column: 4 }
        );
        assert_eq!(
            Span::new(0, 1).location(source),
            Location { line: 1, column: 1 }
        );
    }

    #[test]
    fn until_covers_both() {
        let a = Span::new(3, 5);
        let b = Span::new(10, 12);
        assert_eq!(a.until(b), Span::new(3, 12));
        assert_eq!(b.until(a), Span::new(3, 12));
    }
}
