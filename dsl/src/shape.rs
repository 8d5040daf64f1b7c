//! Tensor shapes and the padding arithmetic of sliding windows.
//!
//! All padding arithmetic lives in [`Padding::apply`]: convolutions and pooling, 1-D and
//! 2-D, ask it for their output length and the padding they really use.

use serde::Serialize;
use std::fmt;

/// The shape of one example's tensor, without the batch axis: `(h, w, c)` for images,
/// `(length, c)` for sequences, `(n)` for flat vectors, as Keras prints them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Shape(pub Vec<u64>);

impl Shape {
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements, or `None` if it overflows.
    pub fn elements(&self) -> Option<u64> {
        self.0.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// The last axis: channels for images and sequences, units for vectors.
    pub fn channels(&self) -> u64 {
        self.0.last().copied().unwrap_or(1)
    }

    /// The axes before the channels.
    pub fn spatial(&self) -> &[u64] {
        &self.0[..self.0.len().saturating_sub(1)]
    }

    /// Keras' notation with the batch axis: `(None, 28, 28, 6)`.
    pub fn keras(&self) -> String {
        let dims: Vec<String> = self.0.iter().map(u64::to_string).collect();
        format!("(None, {})", dims.join(", "))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.0.iter().map(u64::to_string).collect();
        write!(f, "({})", dims.join(", "))
    }
}

/// How a window layer pads its input along each spatial axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding; windows that would overhang are dropped.
    Valid,
    /// TensorFlow's `same`: output length `ceil(n / stride)`, padding split with the odd
    /// element after.
    Same,
    /// Explicit `(before, after)` zeros per spatial axis, as PyTorch models write them.
    Explicit(Vec<(u64, u64)>),
}

/// One axis of a sliding window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub size: u64,
    pub stride: u64,
    pub dilation: u64,
}

impl Window {
    /// The span of input the window covers: `(size - 1) * dilation + 1`.
    pub fn extent(self) -> Option<u64> {
        self.size
            .checked_sub(1)?
            .checked_mul(self.dilation)?
            .checked_add(1)
    }
}

/// What a window along one axis gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AxisOutput {
    pub length: u64,
    pub pad_before: u64,
    pub pad_after: u64,
}

/// Why a window does not fit its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowError {
    /// The (padded) input is shorter than the window.
    TooLarge { padded: u64, extent: u64 },
    /// The arithmetic overflowed.
    Overflow,
}

impl Padding {
    /// The output length and the padding used along `axis` for an input of `length`.
    pub fn apply(
        &self,
        axis: usize,
        length: u64,
        window: Window,
    ) -> Result<AxisOutput, WindowError> {
        let extent = window.extent().ok_or(WindowError::Overflow)?;
        let stride = window.stride.max(1);
        let (pad_before, pad_after) = match self {
            Padding::Valid => (0, 0),
            Padding::Same => {
                let out = length.div_ceil(stride);
                let needed = out
                    .saturating_sub(1)
                    .checked_mul(stride)
                    .and_then(|v| v.checked_add(extent))
                    .ok_or(WindowError::Overflow)?;
                let total = needed.saturating_sub(length);
                (total / 2, total - total / 2)
            }
            Padding::Explicit(pads) => pads.get(axis).copied().unwrap_or((0, 0)),
        };
        let padded = length
            .checked_add(pad_before)
            .and_then(|v| v.checked_add(pad_after))
            .ok_or(WindowError::Overflow)?;
        if padded < extent || (length == 0 && *self == Padding::Same) {
            return Err(WindowError::TooLarge { padded, extent });
        }
        Ok(AxisOutput {
            length: (padded - extent) / stride + 1,
            pad_before,
            pad_after,
        })
    }
}

impl fmt::Display for Padding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Padding::Valid => f.write_str("valid"),
            Padding::Same => f.write_str("same"),
            Padding::Explicit(pads) => {
                let parts: Vec<String> = pads
                    .iter()
                    .map(|(b, a)| {
                        if b == a {
                            b.to_string()
                        } else {
                            format!("({b}, {a})")
                        }
                    })
                    .collect();
                write!(f, "({})", parts.join(", "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(
        padding: Padding,
        length: u64,
        size: u64,
        stride: u64,
        dilation: u64,
    ) -> (u64, u64, u64) {
        let o = padding
            .apply(
                0,
                length,
                Window {
                    size,
                    stride,
                    dilation,
                },
            )
            .unwrap();
        (o.length, o.pad_before, o.pad_after)
    }

    #[test]
    fn valid_padding_table() {
        // (input, kernel, stride, dilation) -> output, checked against TensorFlow's formula.
        let cases = [
            (28, 3, 1, 1, 26),
            (32, 5, 1, 1, 28),
            (224, 11, 4, 1, 54),
            (7, 3, 2, 1, 3),
            (8, 3, 2, 1, 3),
            (10, 3, 1, 2, 6),
            (5, 5, 1, 1, 1),
        ];
        for (n, k, s, d, expected) in cases {
            assert_eq!(
                out(Padding::Valid, n, k, s, d),
                (expected, 0, 0),
                "{n} {k} {s} {d}"
            );
        }
    }

    #[test]
    fn same_padding_stride_2_odd_input() {
        // TensorFlow puts the odd padding element after.
        assert_eq!(out(Padding::Same, 7, 3, 2, 1), (4, 1, 1));
        assert_eq!(out(Padding::Same, 8, 3, 2, 1), (4, 0, 1));
        assert_eq!(out(Padding::Same, 224, 7, 2, 1), (112, 2, 3));
        assert_eq!(out(Padding::Same, 112, 3, 2, 1), (56, 0, 1));
        assert_eq!(out(Padding::Same, 5, 1, 1, 1), (5, 0, 0));
        assert_eq!(out(Padding::Same, 10, 3, 1, 2), (10, 2, 2));
        assert_eq!(out(Padding::Same, 4, 6, 1, 1), (4, 2, 3));
    }

    #[test]
    fn explicit_padding_as_pytorch() {
        let p = Padding::Explicit(vec![(2, 2), (1, 1)]);
        let w = Window {
            size: 11,
            stride: 4,
            dilation: 1,
        };
        assert_eq!(p.apply(0, 224, w).unwrap().length, 55);
        let w = Window {
            size: 3,
            stride: 2,
            dilation: 1,
        };
        assert_eq!(p.apply(1, 112, w).unwrap().length, 56);
    }

    #[test]
    fn window_larger_than_input_is_an_error() {
        let w = Window {
            size: 5,
            stride: 1,
            dilation: 1,
        };
        assert_eq!(
            Padding::Valid.apply(0, 3, w),
            Err(WindowError::TooLarge {
                padded: 3,
                extent: 5
            })
        );
        assert!(Padding::Same.apply(0, 3, w).is_ok());
    }

    #[test]
    fn huge_dilation_overflows_cleanly() {
        let w = Window {
            size: u64::MAX,
            stride: 1,
            dilation: u64::MAX,
        };
        assert_eq!(Padding::Valid.apply(0, 3, w), Err(WindowError::Overflow));
    }

    #[test]
    fn shape_display() {
        assert_eq!(Shape(vec![5, 5, 16]).to_string(), "(5, 5, 16)");
        assert_eq!(Shape(vec![120]).keras(), "(None, 120)");
        assert_eq!(Shape(vec![u64::MAX, 2]).elements(), None);
    }
}
