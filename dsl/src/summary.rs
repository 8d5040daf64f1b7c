//! `cnnc summary`: a Keras-style table of a checked model, and its JSON form.

use crate::check::group_digits;
use crate::graph::Graph;
use serde::Serialize;

/// Bytes per parameter and activation: the runtime computes in f32.
const BYTES_PER_VALUE: u64 = 4;

/// The table `model.summary()` prints in Keras, with a MACs column, then the parameter
/// totals exactly as Keras words them, then memory for one image.
pub fn table(graph: &Graph) -> String {
    let header = ["Layer (type)", "Output Shape", "Param #", "MACs"];
    let rows: Vec<[String; 4]> = graph
        .nodes
        .iter()
        .map(|node| {
            [
                format!("{} ({})", node.name, node.op.keras_class()),
                node.shape.keras(),
                group_digits(node.trainable + node.non_trainable),
                group_digits(node.macs),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let gap = 3;
    let total_width: usize = widths.iter().sum::<usize>() + gap * (widths.len() - 1) + 1;
    let line = |c: char| c.to_string().repeat(total_width);
    let format_row = |cells: [&str; 4]| {
        let mut out = String::from(" ");
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width - cell.chars().count();
            if i >= 2 {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            }
            if i + 1 < cells.len() {
                out.push_str(&" ".repeat(gap));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = format!("Model: \"{}\"\n", graph.name);
    out.push_str(&line('_'));
    out.push('\n');
    out.push_str(&format_row(header));
    out.push('\n');
    out.push_str(&line('='));
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&format_row([&row[0], &row[1], &row[2], &row[3]]));
        out.push('\n');
        if i + 1 < rows.len() {
            out.push('\n');
        }
    }
    out.push_str(&line('='));
    out.push('\n');
    let totals = Totals::of(graph);
    out.push_str(&format!(
        "Total params: {}\n",
        group_digits(totals.total_params)
    ));
    out.push_str(&format!(
        "Trainable params: {}\n",
        group_digits(totals.trainable_params)
    ));
    out.push_str(&format!(
        "Non-trainable params: {}\n",
        group_digits(totals.non_trainable_params)
    ));
    out.push_str(&line('_'));
    out.push('\n');
    out.push_str(&format!(
        "Multiply-accumulates per image: {}\n",
        group_digits(totals.macs)
    ));
    out.push_str(&format!(
        "Parameter memory (f32): {}\n",
        bytes(totals.parameter_bytes)
    ));
    out.push_str(&format!(
        "Activation memory per image (f32, forward): {}\n",
        bytes(totals.activation_bytes)
    ));
    out
}

/// The totals of a model, as `cnnc summary --format json` reports them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Totals {
    pub total_params: u64,
    pub trainable_params: u64,
    pub non_trainable_params: u64,
    pub macs: u64,
    pub parameter_bytes: u64,
    pub activation_bytes: u64,
}

impl Totals {
    pub fn of(graph: &Graph) -> Self {
        let total = graph.total_params();
        Totals {
            total_params: total,
            trainable_params: graph.trainable_params(),
            non_trainable_params: graph.non_trainable_params(),
            macs: graph.total_macs(),
            parameter_bytes: total.saturating_mul(BYTES_PER_VALUE),
            activation_bytes: graph.activation_elements().saturating_mul(BYTES_PER_VALUE),
        }
    }
}

/// One layer of the JSON summary.
#[derive(Serialize)]
pub struct LayerSummary<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub class: &'static str,
    pub output_shape: &'a [u64],
    pub params: u64,
    pub trainable_params: u64,
    pub non_trainable_params: u64,
    pub macs: u64,
    pub inputs: Vec<&'a str>,
}

/// The JSON summary of one model.
#[derive(Serialize)]
pub struct ModelSummary<'a> {
    pub model: &'a str,
    pub input_shape: &'a [u64],
    pub output_shape: &'a [u64],
    pub layers: Vec<LayerSummary<'a>>,
    pub totals: Totals,
}

impl<'a> ModelSummary<'a> {
    pub fn of(graph: &'a Graph) -> Self {
        ModelSummary {
            model: &graph.name,
            input_shape: &graph.input_shape().0,
            output_shape: &graph.output_shape().0,
            layers: graph
                .nodes
                .iter()
                .map(|node| LayerSummary {
                    name: &node.name,
                    class: node.op.keras_class(),
                    output_shape: &node.shape.0,
                    params: node.trainable + node.non_trainable,
                    trainable_params: node.trainable,
                    non_trainable_params: node.non_trainable,
                    macs: node.macs,
                    inputs: node
                        .inputs
                        .iter()
                        .map(|id| graph.node(*id).name.as_str())
                        .collect(),
                })
                .collect(),
            totals: Totals::of(graph),
        }
    }
}

/// `246824` as `241.04 KiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn bytes_are_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(246_824), "241.04 KiB");
        assert_eq!(bytes(553_430_176), "527.79 MiB");
    }
}
