//! Every optimizer follows the reference trajectories of `optimizers/reference.py`
//! (Keras 3's update rules, computed independently in Python) to within f64 rounding.

use cnn_runtime::layers::Param;
use cnn_runtime::optim::{Optimizer, OptimizerConfig, Rule};
use ndarray::ArrayD;
use serde_json::Value;

fn config(name: &str, args: &Value) -> OptimizerConfig {
    let f = |key: &str| {
        args[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{name}: {key}"))
    };
    let b = |key: &str| args[key].as_bool().unwrap();
    let rule = match name {
        "sgd" => Rule::Sgd {
            momentum: f("momentum"),
            nesterov: b("nesterov"),
        },
        "adagrad" => Rule::Adagrad {
            initial_accumulator_value: f("initial_accumulator_value"),
            epsilon: f("epsilon"),
        },
        "adadelta" => Rule::Adadelta {
            rho: f("rho"),
            epsilon: f("epsilon"),
        },
        "rmsprop" => Rule::RmsProp {
            rho: f("rho"),
            momentum: f("momentum"),
            epsilon: f("epsilon"),
            centered: b("centered"),
        },
        "adam" | "adamw" => Rule::Adam {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
            amsgrad: b("amsgrad"),
        },
        "adamax" => Rule::Adamax {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
        },
        "nadam" => Rule::Nadam {
            beta_1: f("beta_1"),
            beta_2: f("beta_2"),
            epsilon: f("epsilon"),
        },
        other => panic!("unknown optimizer {other}"),
    };
    OptimizerConfig {
        rule,
        learning_rate: f("learning_rate"),
        weight_decay: f("weight_decay"),
        clipnorm: args["clipnorm"].as_f64(),
        clipvalue: args["clipvalue"].as_f64(),
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
fn optimizers_follow_reference_trajectories() {
    let fixture: Value =
        serde_json::from_str(include_str!("optimizers/trajectories.json")).unwrap();
    let (w0, c, t) = (
        floats(&fixture["w0"]),
        floats(&fixture["c"]),
        floats(&fixture["t"]),
    );
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case["optimizer"].as_str().unwrap();
        let args = &case["args"];
        let mut optimizer = Optimizer::<f64>::new(config(name, args));
        let mut w = ArrayD::from_shape_vec(vec![w0.len()], w0.clone()).unwrap();
        let mut grad = ArrayD::zeros(w.raw_dim());
        for (step, expected) in case["trajectory"].as_array().unwrap().iter().enumerate() {
            for i in 0..w.len() {
                grad[i] = c[i] * (w[i] - t[i]) + 0.3 * w[i].cos();
            }
            let mut params = [Param {
                name: "kernel",
                value: &mut w,
                grad: &mut grad,
                trainable: true,
            }];
            optimizer.step(&mut params);
            for (i, e) in floats(expected).into_iter().enumerate() {
                let got = w[i];
                assert!(
                    (got - e).abs() <= 1e-12 * e.abs().max(1.0),
                    "{name} {args}: step {} weight {i}: {got} vs {e}",
                    step + 1
                );
            }
        }
    }
}

/// A non-trainable tensor (a moving statistic) is never touched.
#[test]
fn non_trainable_parameters_are_left_alone() {
    let mut optimizer = Optimizer::<f32>::new(OptimizerConfig {
        rule: Rule::Adam {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        },
        learning_rate: 0.1,
        weight_decay: 0.1,
        clipnorm: None,
        clipvalue: None,
    });
    let mut moving = ArrayD::from_elem(vec![3], 2.0f32);
    let mut grad = ArrayD::from_elem(vec![3], 1.0f32);
    optimizer.step(&mut [Param {
        name: "moving_mean",
        value: &mut moving,
        grad: &mut grad,
        trainable: false,
    }]);
    assert!(moving.iter().all(|&x| x == 2.0));
}
