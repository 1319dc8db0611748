//! Which vector instructions the hand-written loops may use, and the macro that compiles a loop
//! once per instruction set and picks the widest at run time.
//!
//! The build targets the baseline x86-64, where the compiler may not assume AVX: a loop written
//! with [`multiversion!`] is compiled for AVX-512, for AVX2 with FMA, and for the baseline, and
//! runs the widest this processor has, within the cap that benchmarks and tests set with
//! [`cap_simd`] to time or check the narrower paths on a processor that has wider ones. The
//! fused kernels and the conversion of a batch's pixels both use it, so that one cap governs
//! every path.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// The instruction sets the loops are compiled for, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Simd {
    Baseline,
    Avx2,
    Avx512,
}

/// The widest instruction set this processor has.
pub fn detected() -> Simd {
    static DETECTED: OnceLock<Simd> = OnceLock::new();
    *DETECTED.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Simd::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Simd::Avx2;
            }
        }
        Simd::Baseline
    })
}

/// The widest instruction set the loops may use: at most [`cap_simd`]'s.
static CAP: AtomicU8 = AtomicU8::new(Simd::Avx512 as u8);

/// Keeps the loops of this crate to `widest` at most (to time or test the narrower paths on a
/// processor that has wider ones).
pub fn cap_simd(widest: Simd) {
    CAP.store(widest as u8, Ordering::Relaxed);
}

/// The cap itself ([`cap_simd`]'s, or AVX-512), which may be wider than this processor.
pub fn cap() -> Simd {
    match CAP.load(Ordering::Relaxed) {
        0 => Simd::Baseline,
        1 => Simd::Avx2,
        _ => Simd::Avx512,
    }
}

/// The instruction set the loops use: the widest this processor has, within the cap.
pub fn simd() -> Simd {
    detected().min(cap())
}

/// Defines `$vis fn $name($args)` that runs `$body` compiled for the widest instruction set
/// present, within the cap ([`simd`]; the raw [`cap`] is passed on and clamped once, in `$on`).
///
/// Written `fn $name / $on($args)`, it also defines `$vis fn $on(simd: Simd, $args)`, which runs
/// the body compiled for `simd`, or for the widest this processor has if that is narrower (so
/// that it is safe to call with any `simd`): for tests that compare the paths.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $crate::simd::multiversion!(@on fn on($($arg: $ty),*) $(-> $ret)? $body);
            on($crate::simd::cap(), $($arg),*)
        }
    };
    ($(#[$doc:meta])* $vis:vis fn $name:ident / $on:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $crate::simd::multiversion!(@on $vis fn $on($($arg: $ty),*) $(-> $ret)? $body);

        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $on($crate::simd::cap(), $($arg),*)
        }
    };
    (@on $vis:vis fn $on:ident($($arg:ident: $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        #[inline(always)]
        // The instruction set comes on top of the loop's own arguments.
        #[allow(clippy::too_many_arguments)]
        $vis fn $on(simd: $crate::simd::Simd, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) $(-> $ret)? {
                body($($arg),*)
            }

            match simd.min($crate::simd::detected()) {
                // SAFETY: `detected()` found these instruction sets on this processor.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Simd::Avx512 => unsafe { avx512($($arg),*) },
                // SAFETY: as above.
                #[cfg(target_arch = "x86_64")]
                $crate::simd::Simd::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}
pub(crate) use multiversion;

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap bounds the instruction set the loops use, and the processor bounds the cap.
    /// (No other unit test of this crate depends on the path its loops take; it ends uncapped.)
    #[test]
    fn the_cap_bounds_the_loops_and_the_processor_bounds_the_cap() {
        for widest in [Simd::Baseline, Simd::Avx2, Simd::Avx512] {
            cap_simd(widest);
            assert_eq!(cap(), widest);
            assert_eq!(simd(), detected().min(widest));
        }
    }
}
