//! Slow set-up (an AWS SDK client: loading and parsing the system's CA bundle takes
//! milliseconds) that a function does not pay before reaching the Runtime API. It runs
//! once, when first awaited, and handlers await it alongside their first database round
//! trip so the two overlap.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

#[derive(Clone)]
pub struct Warm<T: Clone>(Shared<BoxFuture<'static, Result<T, Arc<anyhow::Error>>>>);

impl<T: Clone + Send + Sync + 'static> Warm<T> {
    /// Builds the value the first time it is awaited; every later caller shares it.
    pub fn lazy<F>(build: F) -> Self
    where
        F: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        Self(
            async move { build.await.map_err(Arc::new) }
                .boxed()
                .shared(),
        )
    }

    /// A value that is already there (tests, the local runner).
    pub fn ready(value: T) -> Self {
        Self(futures::future::ready(Ok(value)).boxed().shared())
    }

    /// The value, once built (a cheap clone: SDK clients are `Arc`s inside).
    pub async fn get(&self) -> anyhow::Result<T> {
        self.0
            .clone()
            .await
            .map_err(|e| anyhow::anyhow!("set-up failed: {e:#}"))
    }
}

impl<T: Clone> std::fmt::Debug for Warm<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warm(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_value_is_shared_by_every_caller() {
        let warm = Warm::lazy(async { Ok(42) });
        assert_eq!(warm.get().await.expect("built"), 42);
        assert_eq!(warm.clone().get().await.expect("built"), 42);
    }

    #[tokio::test]
    async fn lazy_value_is_built_once_on_first_use() {
        let builds = Arc::new(std::sync::atomic::AtomicU8::new(0));
        let counter = builds.clone();
        let warm = Warm::lazy(async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(7)
        });
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(warm.get().await.expect("built"), 7);
        assert_eq!(warm.get().await.expect("built"), 7);
        assert_eq!(builds.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_set_up_is_reported_to_every_caller() {
        let warm: Warm<u8> = Warm::lazy(async { anyhow::bail!("no region") });
        assert!(warm.get().await.is_err());
        assert!(warm.get().await.is_err());
    }
}
