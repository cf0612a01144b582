//! The blocking wrappers of each runtime adapter for the suite.
#![allow(dead_code)]

pub mod tokio_rt;
