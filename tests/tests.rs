//! The integration tests: one binary, so Burn is linked once.

mod cli;
mod common;
mod config;
mod data;
mod download;
mod end_to_end;
mod model;
mod optim;
