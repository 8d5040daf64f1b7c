//! Loops compiled for the widest vector instructions the CPU has.
//!
//! The crate is built for the baseline of its target (SSE2 on x86-64, four `f32` lanes), so
//! that one binary runs on every CPU. [`vectorized`] runs a closure through `pulp`'s
//! dispatch, which compiles it once per instruction set (AVX-512, AVX2 with FMA, baseline)
//! and picks the best the CPU has when the program runs; a loop the compiler vectorises
//! then uses 8 or 16 lanes where the CPU has them. The closure, and what it calls, must be
//! inlined into it (`#[inline(always)]`) to be compiled that way.
//!
//! Results do not depend on the choice: without fast-math the compiler keeps every
//! floating-point operation and its order (it does not fuse a multiply and an add unless
//! asked to), so wider vectors only do the same element-wise work several lanes at a time.

/// Runs `f` compiled for this CPU's best vector instructions (see the module's doc).
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}
