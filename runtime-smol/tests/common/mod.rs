//! Helpers shared by the integration tests: a bounded wait and a test macro
//! running the body on `smol::block_on`.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use smol::{future, Timer};

/// The bound on any single wait.
pub const T: Duration = Duration::from_secs(10);

/// A wait ran out of time.
#[derive(Debug)]
pub struct Elapsed;

/// `f`'s output, or `Elapsed` after `d`.
pub async fn timeout<F: Future>(d: Duration, f: F) -> Result<F::Output, Elapsed> {
    future::or(async { Ok(f.await) }, async {
        Timer::after(d).await;
        Err(Elapsed)
    })
    .await
}

/// `#[test]` running an async body on `smol::block_on`.
macro_rules! smol_test {
    ($(#[$m:meta])* async fn $name:ident() $body:block) => {
        $(#[$m])*
        #[test]
        fn $name() {
            smol::block_on(async $body)
        }
    };
}
