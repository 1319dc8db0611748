//! The integration tests: one binary, so Burn is linked once.

#[cfg(all(feature = "ndarray", feature = "wgpu"))]
mod backends;
mod cli;
mod common;
mod config;
mod data;
mod download;
mod end_to_end;
mod model;
mod optim;
// Trains for seconds per test: on ndarray only (bit-identical resume is an ndarray promise).
#[cfg(not(feature = "wgpu"))]
mod resume;
