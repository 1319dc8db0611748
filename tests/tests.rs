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
// These train for seconds per test: on ndarray only (on lavapipe they would take minutes;
// bit-identical resume is an ndarray promise).
#[cfg(not(feature = "wgpu"))]
mod pen;
#[cfg(not(feature = "wgpu"))]
mod pictures;
#[cfg(not(feature = "wgpu"))]
mod resume;
