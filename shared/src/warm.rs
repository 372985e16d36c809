//! Start slow set-up (AWS SDK clients: loading and parsing the system's CA bundle takes
//! milliseconds) in the background at cold start, so the function reaches the Runtime
//! API at once and the set-up overlaps the wait for the first event. The first use
//! awaits whatever is left.

use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

#[derive(Clone)]
pub struct Warm<T: Clone>(Shared<BoxFuture<'static, Result<T, Arc<anyhow::Error>>>>);

impl<T: Clone + Send + Sync + 'static> Warm<T> {
    /// Starts building the value now, on the runtime.
    pub fn spawn<F>(build: F) -> Self
    where
        F: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let task = tokio::spawn(build);
        Self(
            async move {
                match task.await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(e)) => Err(Arc::new(e)),
                    Err(join) => Err(Arc::new(anyhow::Error::new(join))),
                }
            }
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
        let warm = Warm::spawn(async { Ok(42) });
        assert_eq!(warm.get().await.expect("built"), 42);
        assert_eq!(warm.clone().get().await.expect("built"), 42);
    }

    #[tokio::test]
    async fn a_failed_set_up_is_reported_to_every_caller() {
        let warm: Warm<u8> = Warm::spawn(async { anyhow::bail!("no region") });
        assert!(warm.get().await.is_err());
        assert!(warm.get().await.is_err());
    }
}
