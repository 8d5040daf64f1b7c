//! Pictures: the loss and accuracy curves of a run (`train --plot`) and the test images a
//! model got most confidently wrong (`eval --errors`). Both draw with plotters, to PNG or
//! SVG by the file's extension, with the DejaVu Sans font shipped in `assets/` (its licence
//! beside it) so that text renders the same on every machine.

use anyhow::{anyhow, bail, Result};
use cnn_runtime::train::EpochRecord;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is compiled in, so this cannot fail unless the file is damaged.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Draws onto a PNG or SVG canvas of `size` chosen by `path`'s extension.
fn with_canvas(
    path: &Path,
    size: (u32, u32),
    draw: impl Fn(&DrawingArea<BitMapBackend, Shift>) -> Result<()>,
    draw_svg: impl Fn(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<()> {
    register_font();
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("png") => {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            draw(&root)?;
            root.present()
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
        }
        Some(e) if e.eq_ignore_ascii_case("svg") => {
            let root = SVGBackend::new(path, size).into_drawing_area();
            draw_svg(&root)?;
            root.present()
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
        }
        _ => bail!(
            "cannot tell the picture format of {}: use a .png or .svg name",
            path.display()
        ),
    }
}

/// Loss (left) and accuracy (right) per epoch, for training and validation.
pub fn curves(history: &[EpochRecord], path: &Path) -> Result<()> {
    if history.is_empty() {
        bail!("no epoch finished, so there are no curves to draw");
    }
    with_canvas(
        path,
        (1000, 420),
        |root| draw_curves(root, history),
        |root| draw_curves(root, history),
    )
}

fn draw_curves<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    history: &[EpochRecord],
) -> Result<()> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the curves: {e}");
    root.fill(&WHITE).map_err(e)?;
    let (left, right) = root.split_horizontally(500);
    let last = history.len() as f64;
    type Pick = fn(&EpochRecord) -> Option<f64>;
    let panels: [(&DrawingArea<DB, Shift>, &str, Pick, Pick); 2] = [
        (&left, "loss", |r| Some(r.loss), |r| r.val_loss),
        (&right, "accuracy", |r| Some(r.accuracy), |r| r.val_accuracy),
    ];
    for (area, name, train, validation) in panels {
        let values: Vec<f64> = history
            .iter()
            .flat_map(|r| [train(r), validation(r)])
            .flatten()
            .filter(|v| v.is_finite())
            .collect();
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if lo.partial_cmp(&hi) != Some(std::cmp::Ordering::Less) {
            lo -= 0.5;
            hi += 0.5;
        }
        let pad = (hi - lo) * 0.05;
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(1f64..last.max(2.0), (lo - pad)..(hi + pad))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            // Epochs are whole numbers: no "2.0" on the axis, and no ticks between epochs.
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_labels((last as usize).clamp(2, 10))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(e)?;
        for (label, pick, color) in [("training", train, BLUE), ("validation", validation, RED)] {
            let points: Vec<(f64, f64)> = history
                .iter()
                .filter_map(|r| pick(r).map(|v| (r.epoch as f64, v)))
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// One wrongly classified image: its pixels (`h × w`, any range), true and predicted
/// class, and the predicted class's probability.
pub struct Mistake {
    pub pixels: Vec<f32>,
    pub height: usize,
    pub width: usize,
    pub truth: usize,
    pub predicted: usize,
    pub confidence: f32,
}

/// A grid of mistakes, most confident first, each captioned `true 4 → 9 (98%)`.
pub fn error_grid(mistakes: &[Mistake], path: &Path) -> Result<()> {
    if mistakes.is_empty() {
        bail!("the model got every test image right; there is no error to draw");
    }
    let columns = 5usize;
    let rows = mistakes.len().div_ceil(columns);
    let cell = (150u32, 175u32);
    let size = (cell.0 * columns as u32, cell.1 * rows as u32);
    with_canvas(
        path,
        size,
        |root| draw_grid(root, mistakes, columns, cell),
        |root| draw_grid(root, mistakes, columns, cell),
    )
}

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    mistakes: &[Mistake],
    columns: usize,
    cell: (u32, u32),
) -> Result<()> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the errors: {e}");
    root.fill(&WHITE).map_err(e)?;
    for (i, m) in mistakes.iter().enumerate() {
        let x0 = (i % columns) as i32 * cell.0 as i32 + 11;
        let y0 = (i / columns) as i32 * cell.1 as i32 + 8;
        let scale = (128 / m.height.max(m.width).max(1)).max(1) as i32;
        let (lo, hi) = m
            .pixels
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        for y in 0..m.height {
            for x in 0..m.width {
                let v = (m.pixels[y * m.width + x] - lo) / span;
                // Ink is dark on a light ground, as digits are printed.
                let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                let (px, py) = (x0 + x as i32 * scale, y0 + y as i32 * scale);
                root.draw(&Rectangle::new(
                    [(px, py), (px + scale, py + scale)],
                    RGBColor(shade, shade, shade).filled(),
                ))
                .map_err(e)?;
            }
        }
        let caption = format!(
            "true {} → {} ({:.0}%)",
            m.truth,
            m.predicted,
            100.0 * m.confidence
        );
        root.draw(&Text::new(
            caption,
            (x0, y0 + m.height as i32 * scale + 6),
            ("sans-serif", 15).into_font().color(&RED),
        ))
        .map_err(e)?;
    }
    Ok(())
}
