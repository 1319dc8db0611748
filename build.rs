//! Gives the program a fingerprint of its kernels' code: a hash of `src/fused/`, `src/simd.rs`
//! (which instruction sets they use), `Cargo.toml` (the libraries' features, the optimisation
//! settings) and `Cargo.lock` (which pins the `gemm` and `matrixmultiply` versions), as
//! `KERNELS_REVISION`.
//!
//! The kernel plans measured on a machine are kept in the user's cache folder (see
//! `plan_cache` in `src/backend.rs`); a plan timed against other kernels' code says nothing
//! about these, so the fingerprint is part of each plan's key and a build whose kernels changed
//! times them again.

use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    const FILES: [&str; 3] = ["Cargo.toml", "Cargo.lock", "src/simd.rs"];
    let mut files: Vec<PathBuf> = FILES.iter().map(PathBuf::from).collect();
    collect(Path::new("src/fused"), &mut files);
    files.sort();
    // FNV-1a over each file's path and bytes: stable across Rust versions, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in &files {
        let bytes = fs::read(file).unwrap_or_default();
        let name = file.to_string_lossy();
        for byte in name.as_bytes().iter().chain(&[0]).chain(&bytes) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=KERNELS_REVISION={hash:016x}");
    for file in FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-changed=src/fused");
}

/// Every file under `dir`, recursively.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, files);
        } else {
            files.push(path);
        }
    }
}
