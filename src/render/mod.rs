//! Pictures: grids of digits (reconstructions, interpolations, the worst digits) and charts
//! (the training curve, the latent map). They know nothing of runs or training.

pub mod chart;
pub mod grid;
