//! Which kernel computes each matrix product of the training step: a plan, chosen by timing the
//! candidates on the machine that runs them (see `cpu::tune`), or forced.
//!
//! Different kernels sum in different orders, so they round differently: a plan is part of a
//! run's arithmetic, recorded with it (`backend.kernels` in its `config.toml`) so that a resume
//! repeats it. The backends without kernels of their own (wgpu) ignore it.

use std::fmt;
use std::str::FromStr;

/// The five matrix products of a step of the autoencoder, by their operands: `x` the images,
/// `h` the code, `dz` the gradient behind a sigmoid, `W1`, `W2` the two weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// `x · W1`: the first layer's forward pass (the images are mostly zeros).
    ImagesWeights,
    /// `h · W2`: the second layer's forward pass.
    CodeWeights,
    /// `hᵀ · dz2`: the second layer's weight gradient.
    CodeGradient,
    /// `dz2 · W2ᵀ`: the gradient of the code.
    GradientWeights,
    /// `xᵀ · dz1`: the first layer's weight gradient.
    ImagesGradient,
}

impl Product {
    pub const ALL: [Product; 5] = [
        Product::ImagesWeights,
        Product::CodeWeights,
        Product::CodeGradient,
        Product::GradientWeights,
        Product::ImagesGradient,
    ];

    /// The name in a plan: `x.W1`, `h.W2`, `hT.dz2`, `dz2.W2T`, `xT.dz1`.
    pub fn name(self) -> &'static str {
        match self {
            Product::ImagesWeights => "x.W1",
            Product::CodeWeights => "h.W2",
            Product::CodeGradient => "hT.dz2",
            Product::GradientWeights => "dz2.W2T",
            Product::ImagesGradient => "xT.dz1",
        }
    }

    /// Whether one operand is the images, whose zeros a kernel may skip.
    pub(crate) fn has_images(self) -> bool {
        matches!(self, Product::ImagesWeights | Product::ImagesGradient)
    }

    fn index(self) -> usize {
        Product::ALL
            .iter()
            .position(|p| *p == self)
            .expect("listed")
    }
}

/// How a product is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// This crate's product over the nonzero pixels only, its columns split over the threads
    /// (for the products with the images; where they are not mostly zeros, `Gemm`).
    SkipZeros,
    /// The same product over the nonzero pixels with AVX2's blocks of 64 columns, an image (or
    /// a pixel) at a time, where the processor has AVX-512 too (elsewhere it is `SkipZeros`):
    /// the same sums in the same order as `SkipZeros`, so the same bits. On an AMD EPYC (Zen 4),
    /// whose AVX-512 runs on 256-bit halves, faster than AVX-512's blocks of 128 columns summed
    /// for two images at once (whose terms are the pixels either image has).
    SkipZerosAvx2,
    /// The `gemm` crate's FMA kernels (the same arithmetic on every x86-64 with AVX2 and FMA),
    /// the output's columns split over the threads.
    Gemm,
    /// The `gemm` crate in one call on one thread.
    GemmOneThread,
    /// The `gemm` crate with its AVX-512 kernels (where the processor has AVX-512; its FMA
    /// kernels elsewhere), the output's columns split over the threads.
    GemmAvx512,
    /// The same in one call on one thread.
    GemmAvx512OneThread,
    /// The `matrixmultiply` crate (its AVX-512 kernels where the processor has them), the
    /// output's columns split over the threads (each call may split its part again over
    /// matrixmultiply's own threads, see [`Kernel::MatrixmultiplyOneThread`]).
    Matrixmultiply,
    /// The `matrixmultiply` crate in one call from one thread, which matrixmultiply itself may
    /// split over threads of its own (its `threading` feature, which burn-ndarray turns on;
    /// `MATMUL_NUM_THREADS` caps them, at the number of cores by default).
    MatrixmultiplyOneThread,
}

impl Kernel {
    pub const ALL: [Kernel; 8] = [
        Kernel::SkipZeros,
        Kernel::SkipZerosAvx2,
        Kernel::Gemm,
        Kernel::GemmOneThread,
        Kernel::GemmAvx512,
        Kernel::GemmAvx512OneThread,
        Kernel::Matrixmultiply,
        Kernel::MatrixmultiplyOneThread,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kernel::SkipZeros => "skip-zeros",
            Kernel::SkipZerosAvx2 => "skip-zeros-avx2",
            Kernel::Gemm => "gemm",
            Kernel::GemmOneThread => "gemm-1",
            Kernel::GemmAvx512 => "gemm-avx512",
            Kernel::GemmAvx512OneThread => "gemm-avx512-1",
            Kernel::Matrixmultiply => "matrixmultiply",
            Kernel::MatrixmultiplyOneThread => "matrixmultiply-1",
        }
    }

    /// Whether it can compute `product`.
    pub fn computes(self, product: Product) -> bool {
        !self.skips_zeros() || product.has_images()
    }

    /// Whether it skips the images' zeros (where they are mostly zeros).
    pub fn skips_zeros(self) -> bool {
        matches!(self, Kernel::SkipZeros | Kernel::SkipZerosAvx2)
    }
}

/// A kernel for each product, and whether subnormal floats are flushed to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Plan {
    kernels: [Kernel; 5],
    /// Subnormal results and inputs taken as zero (x86's FTZ and DAZ), as TensorFlow computes:
    /// a saturated sigmoid's tiny gradients then cost no more than others (with them kept, a
    /// step of the tutorial's N(0, 1) model at 1024 units took five times as long, measured).
    pub flush_subnormals: bool,
}

impl Plan {
    /// The plan every earlier version of this program ran, measured on one AVX-512 machine:
    /// zeros skipped in the products with the images, `gemm`'s FMA kernels for the others, and
    /// IEEE's subnormals. It rounds the same on every x86-64 processor with AVX2 and FMA,
    /// AVX-512 or not.
    pub const REFERENCE: Plan = Plan {
        kernels: [
            Kernel::SkipZeros,
            Kernel::Gemm,
            Kernel::Gemm,
            Kernel::Gemm,
            Kernel::SkipZeros,
        ],
        flush_subnormals: false,
    };

    /// A plan from a kernel per product; `None` when one cannot compute its product.
    pub fn new(kernels: [Kernel; 5], flush_subnormals: bool) -> Option<Self> {
        Product::ALL
            .iter()
            .zip(kernels)
            .all(|(p, k)| k.computes(*p))
            .then_some(Plan {
                kernels,
                flush_subnormals,
            })
    }

    pub fn kernel(&self, product: Product) -> Kernel {
        self.kernels[product.index()]
    }
}

impl fmt::Display for Plan {
    /// `x.W1=skip-zeros h.W2=gemm hT.dz2=gemm dz2.W2T=gemm xT.dz1=skip-zeros subnormals=keep`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Product::ALL
            .iter()
            .map(|p| format!("{}={}", p.name(), self.kernel(*p).name()))
            .collect();
        let subnormals = if self.flush_subnormals {
            "flush"
        } else {
            "keep"
        };
        write!(f, "{} subnormals={subnormals}", parts.join(" "))
    }
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut kernels: [Option<Kernel>; 5] = [None; 5];
        let mut flush_subnormals = false;
        for part in text.split_whitespace() {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not PRODUCT=KERNEL"))?;
            if name == "subnormals" {
                flush_subnormals = match value {
                    "flush" => true,
                    "keep" => false,
                    _ => return Err(format!("'{part}': subnormals are \"flush\" or \"keep\"")),
                };
                continue;
            }
            let product = Product::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| format!("'{name}' is not a product: {}", product_names()))?;
            let kernel = Kernel::ALL
                .into_iter()
                .find(|k| k.name() == value)
                .ok_or_else(|| format!("'{value}' is not a kernel: {}", kernel_names()))?;
            if !kernel.computes(product) {
                return Err(format!(
                    "{} cannot compute {name}: it skips the zeros of the images",
                    kernel.name()
                ));
            }
            kernels[product.index()] = Some(kernel);
        }
        match kernels {
            [Some(a), Some(b), Some(c), Some(d), Some(e)] => Ok(Plan {
                kernels: [a, b, c, d, e],
                flush_subnormals,
            }),
            _ => Err(format!(
                "a plan names a kernel for each of {}",
                product_names()
            )),
        }
    }
}

fn product_names() -> String {
    Product::ALL.map(Product::name).join(", ")
}

fn kernel_names() -> String {
    Kernel::ALL.map(Kernel::name).join(", ")
}

/// `backend.kernels`: how the step's kernels are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KernelChoice {
    /// Timed on this machine the first time a shape of step runs here, then the same plan for
    /// that shape (kept in the user's cache folder), so that a seed repeats its run.
    Auto,
    /// [`Plan::REFERENCE`].
    Reference,
    /// This plan.
    Forced(Plan),
}

impl KernelChoice {
    /// The plan this choice gives without timing anything: `auto` gives the reference plan.
    pub fn plan(self) -> Plan {
        match self {
            KernelChoice::Forced(plan) => plan,
            KernelChoice::Auto | KernelChoice::Reference => Plan::REFERENCE,
        }
    }
}

impl FromStr for KernelChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "auto" => Ok(KernelChoice::Auto),
            "reference" => Ok(KernelChoice::Reference),
            plan => plan.parse().map(KernelChoice::Forced).map_err(|e| {
                format!(
                    "must be \"auto\", \"reference\" or a plan such as \"{}\": {e}",
                    Plan::REFERENCE
                )
            }),
        }
    }
}

impl TryFrom<String> for KernelChoice {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl From<KernelChoice> for String {
    fn from(choice: KernelChoice) -> String {
        match choice {
            KernelChoice::Auto => "auto".to_owned(),
            KernelChoice::Reference => "reference".to_owned(),
            KernelChoice::Forced(plan) => plan.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_reads_back_what_it_prints() {
        let text = Plan::REFERENCE.to_string();
        assert_eq!(
            text,
            "x.W1=skip-zeros h.W2=gemm hT.dz2=gemm dz2.W2T=gemm xT.dz1=skip-zeros subnormals=keep"
        );
        assert_eq!(text.parse(), Ok(Plan::REFERENCE));
        let kernels = [
            Kernel::Gemm,
            Kernel::MatrixmultiplyOneThread,
            Kernel::Matrixmultiply,
            Kernel::GemmAvx512OneThread,
            Kernel::SkipZeros,
        ];
        let other = Plan::new(kernels, true).unwrap();
        assert!(other.to_string().ends_with(" subnormals=flush"));
        assert_eq!(other.to_string().parse(), Ok(other));
        let kept: Plan = other
            .to_string()
            .replace(" subnormals=flush", "")
            .parse()
            .unwrap();
        assert!(
            !kept.flush_subnormals,
            "IEEE's subnormals unless the plan says"
        );
    }

    #[test]
    fn a_wrong_plan_says_what_is_wrong() {
        let err = "x.W1=gemm".parse::<Plan>().unwrap_err();
        assert!(err.contains("a kernel for each of x.W1, h.W2"), "{err}");
        let text = Plan::REFERENCE
            .to_string()
            .replace("h.W2=gemm", "h.W2=skip-zeros");
        let err = text.parse::<Plan>().unwrap_err();
        assert!(err.contains("skip-zeros cannot compute h.W2"), "{err}");
        let err = text
            .replace("=skip-zeros", "=skip-zeros-avx2")
            .parse::<Plan>()
            .unwrap_err();
        assert!(err.contains("skip-zeros-avx2 cannot compute h.W2"), "{err}");
        let err = "x.W1=fast".parse::<Plan>().unwrap_err();
        assert!(
            err.contains("'fast' is not a kernel: skip-zeros, skip-zeros-avx2, gemm"),
            "{err}"
        );
        assert!("auto".parse::<KernelChoice>() == Ok(KernelChoice::Auto));
        let err = "fastest".parse::<KernelChoice>().unwrap_err();
        assert!(err.contains("\"auto\", \"reference\" or a plan"), "{err}");
    }
}
