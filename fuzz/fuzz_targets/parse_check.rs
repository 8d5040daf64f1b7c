//! Parse and check arbitrary text: nothing may panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data) {
        let compiled = cnn_dsl::compile(source);
        // Rendering is part of what users get; it must not panic either.
        for diagnostic in compiled.diagnostics.iter() {
            let _ = cnn_dsl::render::render(diagnostic, source, "fuzz.cnn", false);
        }
    }
});
