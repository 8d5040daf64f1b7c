//! `network! { … }`: the `.cnn` language inside Rust.
//!
//! This crate will turn the macro's tokens into DSL text with a span map, run `cnn-dsl`'s
//! checker on it, and expand to a statically shaped model struct (or `compile_error!` at the
//! offending tokens). Code generation needs the runtime's kernels (issue 3), so no macro is
//! exported yet: nothing here pretends to work before it does.
