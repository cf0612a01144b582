//! The blocking wrappers of each runtime adapter for the suite.
#![allow(dead_code)]

pub mod mio_rt;
pub mod smol_rt;
pub mod tokio_rt;
