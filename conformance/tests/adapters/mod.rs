//! The blocking wrappers of each runtime adapter for the suite: mio's own,
//! and one for `stan-async` over any runtime (tokio, smol).
#![allow(dead_code)]

pub mod async_rt;
pub mod mio_rt;
