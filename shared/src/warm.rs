//! Slow set-up (an AWS SDK client: loading and parsing the system's CA bundle takes
//! milliseconds; a key read from the Secrets Manager extension) that a function does not
//! pay before reaching the Runtime API. It runs when first awaited, and handlers await it
//! alongside their first database round trip so the two overlap.
//!
//! A set-up that fails is tried again by the next caller: a secrets extension that is not
//! ready during the first milliseconds of a cold start must not leave the instance
//! broken for its whole life.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::OnceCell;

type Build<T> = Box<dyn Fn() -> BoxFuture<'static, anyhow::Result<T>> + Send + Sync>;

pub struct Warm<T>(Arc<Inner<T>>);

struct Inner<T> {
    value: OnceCell<T>,
    build: Option<Build<T>>,
}

impl<T> Clone for Warm<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Clone + Send + Sync + 'static> Warm<T> {
    /// Builds the value the first time it is awaited (concurrent callers wait for the
    /// same build); every later caller shares it. If the build fails, the next caller
    /// builds again.
    pub fn lazy<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let build: Build<T> = Box::new(move || Box::pin(build()));
        Self(Arc::new(Inner {
            value: OnceCell::new(),
            build: Some(build),
        }))
    }

    /// A value that is already there (tests, the local runner).
    pub fn ready(value: T) -> Self {
        Self(Arc::new(Inner {
            value: OnceCell::new_with(Some(value)),
            build: None,
        }))
    }

    /// The value, once built (a cheap clone: SDK clients are `Arc`s inside).
    pub async fn get(&self) -> anyhow::Result<T> {
        let inner = &self.0;
        inner
            .value
            .get_or_try_init(|| async {
                match &inner.build {
                    Some(build) => build().await,
                    None => anyhow::bail!("nothing to build"),
                }
            })
            .await
            .cloned()
            .map_err(|e| anyhow::anyhow!("set-up failed: {e:#}"))
    }
}

impl<T> std::fmt::Debug for Warm<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warm(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    #[tokio::test]
    async fn a_value_is_shared_by_every_caller() {
        let warm = Warm::lazy(|| async { Ok(42) });
        assert_eq!(warm.get().await.expect("built"), 42);
        assert_eq!(warm.clone().get().await.expect("built"), 42);
        assert_eq!(Warm::ready(7).get().await.expect("ready"), 7);
    }

    #[tokio::test]
    async fn a_lazy_value_is_built_once_on_first_use() {
        let builds = Arc::new(AtomicU8::new(0));
        let counter = builds.clone();
        let warm = Warm::lazy(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(7)
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 0);
        let (a, b) = tokio::join!(warm.get(), warm.get());
        assert_eq!((a.expect("built"), b.expect("built")), (7, 7));
        assert_eq!(warm.get().await.expect("built"), 7);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_set_up_is_tried_again_by_the_next_caller() {
        let tries = Arc::new(AtomicU8::new(0));
        let counter = tries.clone();
        let warm: Warm<u8> = Warm::lazy(move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    anyhow::bail!("the extension is not ready yet")
                }
                Ok(3)
            }
        });
        assert!(warm.get().await.is_err());
        assert_eq!(warm.get().await.expect("second try"), 3);
        assert_eq!(warm.get().await.expect("kept"), 3);
        assert_eq!(tries.load(Ordering::SeqCst), 2);
    }
}
